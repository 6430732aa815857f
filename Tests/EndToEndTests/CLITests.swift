import Foundation
import OrderedJSON
import Testing

/// Runs `mistral-actions` with arguments; returns (exit status, stdout, stderr).
/// Waits without blocking a thread of Swift's cooperative pool: a blocked pool
/// can starve a test that holds the registration lock the command waits for.
/// Whether a text table has a row whose first cells are these (padding ignored).
func hasRow(_ table: String, _ cells: String...) -> Bool {
    table.split(separator: "\n").contains { line in
        let found = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst()
            .map { $0.trimmingCharacters(in: .whitespaces) }
        return found.count >= cells.count && Array(found.prefix(cells.count)) == cells
    }
}

func runCLI(_ arguments: [String]) async throws -> (Int32, String, String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: TestEnvironment.binary)
    process.arguments = arguments
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ma-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let out = directory.appendingPathComponent("out"), err = directory.appendingPathComponent("err")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    _ = FileManager.default.createFile(atPath: err.path, contents: nil)
    process.standardOutput = try FileHandle(forWritingTo: out)
    process.standardError = try FileHandle(forWritingTo: err)
    let exit = ProcessExit(of: process)
    try process.run()
    let status = try await exit.wait(limit: .seconds(300), "mistral-actions \(arguments.first ?? "")")
    return (status, try String(contentsOf: out, encoding: .utf8), try String(contentsOf: err, encoding: .utf8))
}

@Suite("The mistral-actions command")
struct CLITests {
    /// A configuration of its own (prefix and code source) so that these
    /// registrations never touch the workers' rows.
    func configuration(tag: String, database: String = TestEnvironment.mistralDatabaseURL) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ma-cli-\(tag).conf").path
        try """
            [database]
            connection = \(database)

            [mistral_actions]
            action_prefix = cli\(tag)
            code_source_name = cli_test_\(tag)
            log_level = warning
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("--version, --help and discover need no configuration")
    func offline() async throws {
        let (versionStatus, version, _) = try await runCLI(["--version"])
        #expect(versionStatus == 0)
        // A semantic version, the newest release of CHANGELOG.md.
        let printed = version.trimmingCharacters(in: .whitespacesAndNewlines)
        let parts = printed.split(separator: ".", omittingEmptySubsequences: false)
        #expect(parts.count == 3 && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }, "\(printed)")
        let changelog = try String(
            contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("CHANGELOG.md"),
            encoding: .utf8)
        let newest = changelog.split(separator: "\n").first { $0.hasPrefix("## [") }
        #expect(newest == "## [\(printed)]", "CHANGELOG.md's newest release is \(newest ?? "missing")")
        let (helpStatus, help, _) = try await runCLI(["--help"])
        #expect(helpStatus == 0)
        for command in ["worker", "discover", "register", "unregister", "clear", "action-list", "markdown-dump", "bash-completion"] {
            #expect(help.contains("  \(command) "), "help lacks \(command)")
        }
        let (status, table, _) = try await runCLI(["discover"])
        #expect(status == 0)
        #expect(table.contains("| Name "))
        #expect(hasRow(table, "int32bit.debug.echo", "Returns `output` unchanged as the action's result.", "output"), "\(table)")
        #expect(hasRow(table, "int32bit.cinder.backups.create_backup"))
        let (_, renamed, _) = try await runCLI(["discover", "--set", "mistral_actions.action_prefix=acme"])
        #expect(hasRow(renamed, "acme.debug.sleep"))
    }

    @Test("bad configuration: one clear line and a non-zero exit")
    func badConfiguration() async throws {
        let (missingStatus, _, missing) = try await runCLI(["discover", "--config-file", "/nonexistent/mistral.conf"])
        #expect(missingStatus != 0)
        #expect(missing.contains("/nonexistent/mistral.conf"))
        #expect(missing.split(separator: "\n").count <= 2)

        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ma-cli-bad-\(UUID().uuidString).conf").path
        try "[DEFAULT]\ntransport_url = rabbit://x\nthis line is wrong\n".write(toFile: path, atomically: true, encoding: .utf8)
        let (status, _, error) = try await runCLI(["discover", "--config-file", path])
        #expect(status != 0)
        #expect(error.contains("\(path):3"), "\(error)")

        let (choiceStatus, _, choice) = try await runCLI(["discover", "--set", "mistral_actions.mode=sometimes"])
        #expect(choiceStatus != 0)
        #expect(choice.contains("router") && choice.contains("swift-only"), "\(choice)")
    }

    @Test("an unreachable database: one clear line and a non-zero exit")
    func unreachableDatabase() async throws {
        let tag = String(UUID().uuidString.prefix(8)).lowercased()
        let path = try configuration(tag: tag, database: "postgresql://nobody:secret-password@127.0.0.1:1/mistral")
        let (status, _, error) = try await runCLI(["action-list", "--config-file", path])
        #expect(status != 0)
        #expect(error.contains("Mistral's database"))
        #expect(error.contains("127.0.0.1:1") || error.contains("port 1"))
        #expect(!error.contains("secret-password"))
    }

    @Test("register --dry-run, register, action-list, unregister and clear, checked through Mistral's API")
    func registrationLifecycle() async throws {
        let tag = String(UUID().uuidString.prefix(8)).lowercased()
        let path = try configuration(tag: tag)
        let prefix = "cli\(tag)"

        let (dryStatus, dry, _) = try await runCLI(["register", "--dry-run", "--config-file", path])
        #expect(dryStatus == 0)
        #expect(hasRow(dry, "\(prefix).debug.echo", "would create"), "\(dry)")
        let catalogSize = dry.split(separator: "\n").filter { $0.contains("| would create ") }.count
        #expect(catalogSize >= 20)
        #expect(dry.contains("Dry run: nothing was changed."))
        let (_, emptyList, _) = try await runCLI(["action-list", "--config-file", path])
        #expect(emptyList.contains("No action registered by mistral-actions"))

        let (status, registered, _) = try await runCLI(["register", "--config-file", path])
        #expect(status == 0)
        #expect(hasRow(registered, "\(prefix).debug.echo", "created"))
        #expect(registered.contains("Code source: created (version 1)"))
        let (againStatus, again, _) = try await runCLI(["register", "--config-file", path])
        #expect(againStatus == 0)
        #expect(hasRow(again, "\(prefix).debug.echo", "unchanged"))
        #expect(again.contains("Code source: unchanged (version 1)"))

        let (listStatus, listed, _) = try await runCLI(["action-list", "--format", "json", "--config-file", path])
        #expect(listStatus == 0)
        let rows = try #require(try JSON(parsing: listed).arrayValue)
        #expect(rows.count == catalogSize)
        #expect(rows.allSatisfy { $0["status"] == "ok" })

        // Mistral itself now knows the actions, with our input and description.
        let mistral = MistralAPI()
        var echo: JSON?
        try? await eventually("Mistral lists \(prefix).debug.echo", limit: .seconds(30), every: .milliseconds(500)) {
            let (_, actions) = try await mistral.request("GET", "/actions?limit=1000")
            echo = actions["actions"]?.arrayValue?.first { $0["name"]?.stringValue == "\(prefix).debug.echo" }
            return echo != nil
        }
        let registeredEcho = try #require(echo, "Mistral's /v2/actions does not list \(prefix).debug.echo")
        #expect(registeredEcho["input"] == "output")
        #expect(registeredEcho["description"] == "Returns `output` unchanged as the action's result.")
        let (_, dynamic) = try await mistral.request("GET", "/dynamic_actions?limit=1000")
        #expect(dynamic["dynamic_actions"]?.arrayValue?.contains { $0["name"]?.stringValue == "\(prefix).debug.sleep" } == true)

        let (unregisterStatus, unregistered, _) = try await runCLI(["unregister", "\(prefix).debug.echo", "no.such.action", "--config-file", path])
        #expect(unregisterStatus == 3)
        #expect(hasRow(unregistered, "\(prefix).debug.echo", "unregistered"), "\(unregistered)")
        #expect(unregistered.split(separator: "\n").contains { $0.contains("| no.such.action ") && $0.contains("| not registered by mistral-actions: left alone |") })

        let (clearStatus, cleared, _) = try await runCLI(["clear", "--config-file", path])  // also the clean-up
        #expect(clearStatus == 0)
        #expect(cleared.contains("\(prefix).debug.sleep"))
        // Other suites register and clear their own actions meanwhile, and
        // Mistral's listing can fail while a code source it reads goes away:
        // ask again until it answers with a list.
        var lastAnswer = JSON.null
        try? await eventually("Mistral's /v2/actions answers without \(prefix).* actions", limit: .seconds(60), every: .milliseconds(500)) {
            let (_, after) = try await mistral.request("GET", "/actions?limit=1000")
            lastAnswer = after
            guard let actions = after["actions"]?.arrayValue else { return false }
            return !actions.contains { ($0["name"]?.stringValue ?? "").hasPrefix(prefix + ".") }
        }
        #expect(lastAnswer["actions"]?.arrayValue?.contains { ($0["name"]?.stringValue ?? "").hasPrefix(prefix + ".") } == false,
                "last answer: \(String(describing: lastAnswer).prefix(500))")
    }

    @Test("register of an unknown name fails clearly")
    func registerUnknown() async throws {
        let tag = String(UUID().uuidString.prefix(8)).lowercased()
        let path = try configuration(tag: tag)
        let (status, _, error) = try await runCLI(["register", "nope.nothing", "--config-file", path])
        #expect(status != 0)
        #expect(error.contains("no action named nope.nothing"), "\(error)")
    }
}
