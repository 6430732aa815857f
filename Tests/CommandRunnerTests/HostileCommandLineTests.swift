import CommandRunner
import Foundation
import Testing

/// Command lines, words and configurations written to slip past the
/// allowlist: what is checked must be what runs.
@Suite("Hostile command lines")
struct HostileCommandLineTests {
    static func policy(_ allowed: [String], searchPath: String = CommandPolicy.defaultSearchPath) -> CommandPolicy {
        CommandPolicy(enabled: true, allowedCommands: allowed, searchPath: searchPath)
    }

    static func realPath(_ path: String) -> String {
        URL(fileURLWithPath: path).resolvingSymlinksInPath().path
    }

    struct Control: Sendable, CustomTestStringConvertible {
        var line: String
        var message: String
        var testDescription: String { message }
    }

    static let controls: [Control] = [
        Control(line: "cat /etc/passwd\u{0}.txt", message: "control character U+0000 (NUL) at character 16"),
        Control(line: "ls\u{0}/usr/bin/rm", message: "control character U+0000 (NUL) at character 3"),
        Control(line: "cat '/etc/x\u{0}'", message: "control character U+0000 (NUL) at character 12"),
        Control(line: "echo \"a\u{0}\"", message: "control character U+0000 (NUL) at character 8"),
        Control(line: "ls\r\nrm x", message: "control character U+000D (carriage return) at character 3"),
        Control(line: "echo '\u{1B}[2J'", message: "control character U+001B (escape) at character 7"),
        Control(line: "echo a\u{8}b", message: "control character U+0008 (backspace) at character 7"),
        Control(line: "echo \u{7F}", message: "control character U+007F (DEL) at character 6"),
        Control(line: "echo \u{85}", message: "control character U+0085 at character 6"),
        Control(line: "echo '\u{9B}31m'", message: "control character U+009B at character 7"),
        Control(line: "echo \u{1}", message: "control character U+0001 at character 6"),
        Control(line: "echo \u{1F}", message: "control character U+001F at character 6"),
    ]

    @Test("a NUL byte or another control character is refused by the parser, quoted or not", arguments: controls)
    func controlCharacters(_ example: Control) {
        let error = #expect(throws: CommandError.self) { try CommandPipeline(parsing: example.line) }
        #expect(error?.code == .invalidCommandLine)
        #expect(error?.message == example.message + " is not allowed in a command line")
    }

    @Test("tab still separates words and a quoted line feed is still part of a word")
    func allowedWhitespace() throws {
        #expect(try CommandPipeline(parsing: "echo\ta\t'b\nc'").stages == [["echo", "a", "b\nc"]])
    }

    @Test("a combining mark does not hide a quote or a pipe from the parser")
    func combiningMarks() throws {
        // Read as Characters, `'\u{301}` and `|\u{301}` are single graphemes
        // that are neither a quote nor a pipe.
        #expect(try CommandPipeline(parsing: "echo '\u{301}a b'").stages == [["echo", "\u{301}a b"]])
        #expect(try CommandPipeline(parsing: "echo a|\u{301}b").stages == [["echo", "a"], ["\u{301}b"]])
        let error = #expect(throws: CommandError.self) { try CommandPipeline(parsing: "ls ;\u{301} rm x") }
        #expect(error?.message.hasPrefix("';' at character 4") == true)
    }

    @Test("a NUL in a word of a pipeline built without parsing is refused before any lookup")
    func nulInBuiltPipeline() {
        // `ls\0anything`: the name check would see a name that is not
        // allowed, but stat would see `ls`; `/usr/bin/rm\0/usr/bin/ls` ends
        // in an allowed name and would run rm.
        let policy = Self.policy(["ls"])
        for stages in [[["/usr/bin/rm\u{0}/usr/bin/ls"]], [["ls\u{0}x"]], [["ls", "/\u{0}etc"]], [["ls"], ["ls", "-l\u{1B}"]]] {
            let error = #expect(throws: CommandError.self) { try policy.authorize(CommandPipeline(stages)) }
            #expect(error?.code == .invalidCommandLine, "\(stages)")
            #expect(error?.message.contains("holds control character") == true, "\(error?.message ?? "")")
        }
        let error = #expect(throws: CommandError.self) { try policy.authorize(CommandPipeline([["ls"], ["ls", "a\u{0}b"]])) }
        #expect(error?.message == "pipeline stage 2, word 2 holds control character U+0000 (NUL), which is not allowed")
        #expect(error?.stage == 1)
    }

    @Test("the runner refuses a NUL in the file, an argument or the environment, and a relative file")
    func runnerRefusesWhatCWouldCut() async throws {
        let echo = Self.realPath("/bin/echo")
        let cases: [([Command], [String: String], CommandError.Code, String)] = [
            ([Command(executable: echo, arguments: ["echo", "a\u{0}b"])], [:], .invalidCommandLine,
             "pipeline stage 1, word 2: a NUL byte cannot be passed to a command"),
            ([Command(executable: echo + "\u{0}x", arguments: ["echo"])], [:], .invalidCommandLine,
             "pipeline stage 1: the file to run holds a NUL byte"),
            ([Command(executable: "bin/echo", arguments: ["echo"])], [:], .invalidCommandLine,
             "pipeline stage 1: the file to run must be an absolute path, not 'bin/echo'"),
            ([Command(executable: echo, arguments: ["echo"])], ["A": "x\u{0}y"], .invalidConfiguration,
             "the environment variable A holds a NUL byte"),
            ([Command(executable: echo, arguments: ["echo"])], ["A=B": "x"], .invalidConfiguration,
             "the environment variable name 'A=B' is not valid"),
        ]
        for (commands, environment, code, message) in cases {
            let error = await #expect(throws: CommandError.self) {
                try await CommandRunner.run(commands, options: CommandRunner.Options(environment: environment))
            }
            #expect(error?.code == code)
            #expect(error?.message == message)
        }
    }

    @Test("a configuration with a NUL or a control character is refused, not half-used")
    func hostileConfiguration() {
        let pipeline = CommandPipeline([["ls"]])
        var policy = Self.policy(["ls", "/usr/bin/rm\u{0}ls"])
        var error = #expect(throws: CommandError.self) { try policy.authorize(pipeline) }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message == """
            [mistral_actions] exec_allowed_commands entry 2 holds control character U+0000 (NUL); fix the worker's configuration
            """)

        policy = Self.policy(["ls"])
        policy.allowedProjects = ["p\u{7}"]
        error = #expect(throws: CommandError.self) { try policy.authorize(pipeline) }
        #expect(error?.message.hasPrefix("[mistral_actions] exec_allowed_projects entry 1 holds control character U+0007") == true)

        policy = Self.policy(["ls"], searchPath: "/usr/bin\u{0}:/tmp")
        error = #expect(throws: CommandError.self) { try policy.authorize(pipeline) }
        #expect(error?.message == "the command search path holds a NUL byte; fix the worker's configuration")

        policy = Self.policy(["ls"])
        policy.environment = ["TZ": "UTC\u{0}"]
        error = #expect(throws: CommandError.self) { try policy.authorize(pipeline) }
        #expect(error?.message == "the environment variable TZ holds a NUL byte; fix the worker's configuration")
    }

    @Test("a symbolic link named like an allowed command, in a directory of the search path, runs nothing")
    func linkInSearchPath() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        // A directory early in the search path holds `cat` → rm; the
        // allowlist entry `cat` is the real cat of a later directory.
        try directory.link("early/cat", to: "/usr/bin/rm")
        let policy = Self.policy(["/usr/bin/cat"], searchPath: "\(directory.path)/early:/usr/bin")
        let error = #expect(throws: CommandError.self) { try policy.authorize(CommandPipeline(parsing: "cat /etc/hostname")) }
        #expect(error?.code == .notAllowed)
        // The real cat, named by path, is fine.
        #expect(try policy.authorize(CommandPipeline(parsing: "/usr/bin/cat x")).first?.executable == Self.realPath("/usr/bin/cat"))
    }

    @Test("the file that runs is the canonical path that was checked, not the link or relative path named")
    func checkedFileRuns() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let echoFile = Self.realPath("/bin/echo")
        let link = try directory.link("tools/echo", to: echoFile)
        let policy = Self.policy(["echo"])
        let commands = try policy.authorize(CommandPipeline([[link, "hello"]]))
        #expect(commands == [Command(executable: echoFile, arguments: [link, "hello"])])

        // Swap the link for one to printf after the check: echo still runs
        // (printf would print no newline).
        try FileManager.default.removeItem(atPath: link)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: Self.realPath("/usr/bin/printf"))
        let result = try await CommandRunner.run(commands, options: policy.runOptions())
        #expect(result.standardOutput == "hello\n")
    }

    @Test("a name spelled with other bytes but canonically equivalent is another file")
    func canonicallyEquivalentNames() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let composed = "caf\u{E9}"
        let decomposed = "cafe\u{301}"
        let allowed = try directory.file("bin/\(composed)", contents: "#!/bin/sh\necho allowed\n", executable: true)
        let other = try directory.file("bin/\(decomposed)", contents: "#!/bin/sh\necho other\n", executable: true)
        // Both exist as distinct files (Linux file systems do not normalize names).
        let entries = try FileManager.default.contentsOfDirectory(atPath: "\(directory.path)/bin")
        try #require(entries.count == 2, "the file system merged \(allowed) and \(other)")

        let policy = Self.policy([allowed], searchPath: "\(directory.path)/bin")
        #expect(try policy.authorize(CommandPipeline([[composed]])).first?.executable == allowed)
        for name in [decomposed, other] {
            let error = #expect(throws: CommandError.self) { try policy.authorize(CommandPipeline([[name]])) }
            #expect(error?.code == .notAllowed, "\(name.unicodeScalars.map(\.value))")
        }
    }

    @Test("resolve gives absolute canonical files, so the runner never looks a name up again")
    func resolveIsAbsolute() throws {
        let commands = try CommandRunner.resolve(CommandPipeline(parsing: "ls | wc -l"))
        #expect(commands.map(\.executable) == [Self.realPath("/usr/bin/ls"), Self.realPath("/usr/bin/wc")])
    }

    @Test("long words, many arguments and a long pipeline line are handled without a trap")
    func largeCommandLines() async throws {
        // Linux takes words up to 128 KiB each.
        let word = String(repeating: "x", count: 100_000)
        let many = Array(repeating: "a", count: 20_000).joined(separator: " ")
        let policy = Self.policy(["printf", "wc"])
        let result = try await policy.run("printf '%s' \(word) | wc -c")
        #expect(result.standardOutput.trimmingCharacters(in: .whitespaces) == "100000\n")
        let manyResult = try await policy.run("printf '%s' \(many) | wc -c")
        #expect(manyResult.standardOutput.trimmingCharacters(in: .whitespaces) == "20000\n")
        // Beyond what the system takes (E2BIG; 8 MB is past every Linux
        // limit): a clear error, not a crash.
        let huge = Array(repeating: word, count: 80).joined(separator: " ")
        let error = await #expect(throws: CommandError.self) { try await policy.run("printf '%s' \(huge)") }
        #expect(error?.code == .spawnFailed)
        #expect(error?.message.contains("Argument list too long") == true, "\(error?.message ?? "")")
    }
}

@Suite("Extreme run options")
struct ExtremeRunOptionsTests {
    @Test("a timeout as long as a Duration of whole seconds gets runs the command without overflow")
    func longestTimeout() async throws {
        // Just below Int64.max milliseconds, with a fraction that rounds up
        // past it when the poll timeout is computed.
        let timeouts = [
            Duration(secondsComponent: 9_223_372_036_854_775, attosecondsComponent: 900_000_000_000_000_000),
            Duration.seconds(Int64.max),
        ]
        for timeout in timeouts {
            let result = try await run("printf ok", timeout: timeout)
            #expect(result.standardOutput == "ok")
            #expect(!result.timedOut)
        }
    }
}
