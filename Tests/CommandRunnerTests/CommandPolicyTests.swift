import CommandRunner
import Foundation
import Testing

@Suite("Command policy")
struct CommandPolicyTests {
    static func policy(_ allowed: [String], searchPath: String = CommandPolicy.defaultSearchPath) -> CommandPolicy {
        CommandPolicy(enabled: true, allowedCommands: allowed, searchPath: searchPath)
    }

    static func authorize(_ policy: CommandPolicy, _ line: String) throws -> [Command] {
        try policy.authorize(CommandPipeline(parsing: line))
    }

    static func realPath(_ path: String) -> String {
        URL(fileURLWithPath: path).resolvingSymlinksInPath().path
    }

    @Test("the default policy is disabled and says how to enable it")
    func disabled() {
        let error = #expect(throws: CommandError.self) {
            try Self.authorize(CommandPolicy(allowedCommands: ["ls"]), "ls")
        }
        #expect(error?.code == .disabled)
        #expect(error?.message == """
            running local commands is disabled: set [mistral_actions] exec_enabled = true \
            and list the commands in exec_allowed_commands
            """)
    }

    @Test("an empty allowlist names the option")
    func emptyAllowlist() {
        let error = #expect(throws: CommandError.self) {
            try Self.authorize(CommandPolicy(enabled: true), "ls")
        }
        #expect(error?.code == .notAllowed)
        #expect(error?.message == "no command is allowed: [mistral_actions] exec_allowed_commands is empty")
    }

    @Test("an allowed name allows the name, the file found for it and any path to that file")
    func allowedName() throws {
        let policy = Self.policy(["ls", "wc"])
        let lsFile = Self.realPath("/usr/bin/ls")
        let commands = try Self.authorize(policy, "ls -l / | wc -l")
        #expect(commands == [
            Command(executable: lsFile, arguments: ["ls", "-l", "/"]),
            Command(executable: Self.realPath("/usr/bin/wc"), arguments: ["wc", "-l"]),
        ])
        #expect(try Self.authorize(policy, "/usr/bin/ls") == [Command(executable: lsFile, arguments: ["/usr/bin/ls"])])
        #expect(try Self.authorize(policy, "/bin/ls").first?.executable == lsFile)
    }

    @Test("a command that is not allowed is named, with the option")
    func notAllowed() {
        let error = #expect(throws: CommandError.self) {
            try Self.authorize(Self.policy(["ls", "df"]), "ls | rm -rf /")
        }
        #expect(error?.code == .notAllowed)
        #expect(error?.stage == 1)
        #expect(error?.message == """
            command 'rm' is not allowed: add it to [mistral_actions] exec_allowed_commands (allowed: ls, df)
            """)
    }

    @Test("a missing command is 'not found' only when it is allowed")
    func missingCommands() {
        let policy = Self.policy(["no-such-tool-here"])
        let allowed = #expect(throws: CommandError.self) { try Self.authorize(policy, "no-such-tool-here") }
        #expect(allowed?.code == .notFound)
        let other = #expect(throws: CommandError.self) { try Self.authorize(policy, "no-such-other-tool") }
        #expect(other?.code == .notAllowed)
    }

    @Test("an allowed absolute path allows that file, by path or by name")
    func allowedPath() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let tool = try directory.file("bin/tool", contents: "#!/bin/sh\necho tool\n", executable: true)
        let policy = Self.policy([tool], searchPath: "\(directory.path)/bin")
        #expect(try Self.authorize(policy, tool) == [Command(executable: tool, arguments: [tool])])
        #expect(try Self.authorize(policy, "tool") == [Command(executable: tool, arguments: ["tool"])])

        // The same path written relative to the worker's directory.
        let depth = FileManager.default.currentDirectoryPath.split(separator: "/").count
        let relative = String(repeating: "../", count: depth) + tool.dropFirst()
        #expect(try Self.authorize(policy, relative) == [Command(executable: tool, arguments: [relative])])

        // A copy of the file elsewhere is another file.
        let copy = try directory.file("copy/tool", contents: "#!/bin/sh\necho tool\n", executable: true)
        let error = #expect(throws: CommandError.self) { try Self.authorize(policy, copy) }
        #expect(error?.code == .notAllowed)
    }

    @Test("symbolic links cannot smuggle in another program")
    func symbolicLinks() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let policy = Self.policy(["ls"])
        // A link named like an allowed command that points to another program.
        let fakeLS = try directory.link("fake/ls", to: "/usr/bin/rm")
        let fake = #expect(throws: CommandError.self) { try Self.authorize(policy, fakeLS) }
        #expect(fake?.code == .notAllowed)
        // A link to the allowed file under another name: multi-call programs
        // (busybox) act by name, so the name must match too.
        let renamed = try directory.link("rm", to: "/usr/bin/ls")
        let rename = #expect(throws: CommandError.self) { try Self.authorize(policy, renamed) }
        #expect(rename?.code == .notAllowed)
        // The allowed file under its own name, through a link: the same program.
        let honest = try directory.link("other/ls", to: "/usr/bin/ls")
        #expect(try Self.authorize(policy, honest).first?.executable == Self.realPath("/usr/bin/ls"))
        // A directory link does not help either.
        let linkedDirectory = try directory.link("bin", to: "/usr/bin")
        let viaDirectory = #expect(throws: CommandError.self) { try Self.authorize(policy, "\(linkedDirectory)/rm") }
        #expect(viaDirectory?.code == .notAllowed)
    }

    @Test("relative allowlist entries allow nothing")
    func relativeEntries() throws {
        let error = #expect(throws: CommandError.self) { try Self.authorize(Self.policy(["bin/ls", "./ls"]), "ls") }
        #expect(error?.code == .notAllowed)
    }

    @Test("a pipeline may have at most maxPipelineStages stages")
    func tooManyStages() throws {
        var policy = Self.policy(["cat"])
        #expect(try Self.authorize(policy, "cat | cat | cat | cat").count == 4)
        let error = #expect(throws: CommandError.self) { try Self.authorize(policy, "cat | cat | cat | cat | cat") }
        #expect(error?.code == .tooManyStages)
        #expect(error?.message == "the pipeline has 5 commands; at most 4 are allowed")
        policy.maxPipelineStages = 1
        #expect(throws: CommandError.self) { try Self.authorize(policy, "cat | cat") }
    }

    @Test("a requested timeout may lower the policy's, never raise it")
    func timeouts() {
        let policy = CommandPolicy(timeout: .seconds(30), outputLimit: 99, killGracePeriod: .seconds(1))
        #expect(policy.runOptions().timeout == .seconds(30))
        #expect(policy.runOptions(timeout: .seconds(5)).timeout == .seconds(5))
        #expect(policy.runOptions(timeout: .seconds(500)).timeout == .seconds(30))
        #expect(policy.runOptions().outputLimit == 99)
        #expect(policy.runOptions().killGracePeriod == .seconds(1))
    }

    @Test("run parses, checks and runs a command line")
    func runLine() async throws {
        let policy = Self.policy(["printf", "tr"])
        let result = try await policy.run("printf 'a b' | tr a-z A-Z")
        #expect(result.standardOutput == "A B")
        await #expect(throws: CommandError.self) { try await policy.run("printf x; rm y") }
        await #expect(throws: CommandError.self) { try await policy.run("sh -c 'echo hi'") }
    }
}
