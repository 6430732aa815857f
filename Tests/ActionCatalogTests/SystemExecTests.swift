import ActionCatalog
import ActionKit
import CommandRunner
import Logging
import OrderedJSON
import OsloMessaging
import Testing

/// `system.exec` through the framework: descriptor, input, services.
@Suite("system.exec")
struct SystemExecTests {
    static func descriptor() throws -> ActionDescriptor {
        try #require(try ActionCatalog.registry().descriptor(named: "system.exec"))
    }

    static func policy(
        _ allowed: [String], timeout: Duration = .seconds(20), outputLimit: Int = 1_048_576
    ) -> CommandPolicy {
        CommandPolicy(
            enabled: true, allowedCommands: allowed, timeout: timeout, outputLimit: outputLimit,
            killGracePeriod: .milliseconds(500)
        )
    }

    /// A Keystone-authenticated request with the admin role, which may run system.exec.
    static let adminRequest = RequestContext(fields: [
        "roles": ["reader", "admin"], "project_id": "admin-project", "expires_at": "2030-01-01T00:00:00.000000Z",
    ])

    /// Runs the action with `input` and a context carrying `policy`.
    static func run(
        _ input: JSONObject, policy: CommandPolicy?, security: RequestContext = adminRequest
    ) async throws -> JSON {
        var services = ActionServices()
        services[CommandPolicyKey.self] = policy
        let context = ActionContext(
            actionName: "int32bit.system.exec",
            security: security,
            execution: ExecutionContext(),
            logger: Logger(label: "system-exec-tests"),
            services: services
        )
        let action = try descriptor().instantiate(input: input)
        return try await action.run(context: context)
    }

    /// The message the action failed with.
    static func failure(
        _ input: JSONObject, policy: CommandPolicy?, security: RequestContext = adminRequest
    ) async throws -> String? {
        let error = await #expect(throws: ActionFailure.self) {
            try await run(input, policy: policy, security: security)
        }
        return error?.description
    }

    static let disabledMessage = """
        system.exec is disabled: set [mistral_actions] exec_enabled = true and list the commands in exec_allowed_commands
        """

    @Test("the input is compatible with the original tool: cmd, and an optional timeout")
    func declaration() throws {
        let descriptor = try Self.descriptor()
        #expect(descriptor.inputString == "cmd, timeout=null")
        #expect(descriptor.summary == "Runs an allowlisted local command without a shell and returns its standard output.")
        #expect(descriptor.description.contains("at most 4 commands"))
        #expect(throws: ActionInputError.self) { try descriptor.instantiate(input: [:]) }
        #expect(throws: ActionInputError.self) { try descriptor.instantiate(input: ["cmd": "ls", "shell": true]) }
    }

    @Test("without a policy, or with a disabled one, the action says how to enable it")
    func disabled() async throws {
        #expect(try await Self.failure(["cmd": "echo hi"], policy: nil) == Self.disabledMessage)
        #expect(try await Self.failure(["cmd": "echo hi"], policy: CommandPolicy(allowedCommands: ["echo"])) == Self.disabledMessage)
    }

    @Test("an allowed command's standard output is the result")
    func allowedCommand() async throws {
        let result = try await Self.run(["cmd": "echo 'hello world' | tr a-z A-Z"], policy: Self.policy(["echo", "tr"]))
        #expect(result == .string("HELLO WORLD\n"))
    }

    @Test("a command that is not allowed is named, with the option")
    func disallowedCommand() async throws {
        let message = try await Self.failure(["cmd": "rm -rf /tmp/x"], policy: Self.policy(["echo"]))
        #expect(message == "command 'rm' is not allowed: add it to [mistral_actions] exec_allowed_commands (allowed: echo)")
    }

    @Test("an empty allowlist names the option")
    func emptyAllowlist() async throws {
        let message = try await Self.failure(["cmd": "echo hi"], policy: Self.policy([]))
        #expect(message == "no command is allowed: [mistral_actions] exec_allowed_commands is empty")
    }

    @Test("shell syntax is rejected with the reason")
    func shellSyntax() async throws {
        let message = try await Self.failure(["cmd": "echo hi; echo there"], policy: Self.policy(["echo"]))
        #expect(message?.hasPrefix("';' at character 8 would separate commands in a shell") == true)
    }

    @Test("a non-zero exit status fails with the status and standard error")
    func failedCommand() async throws {
        let message = try await Self.failure(["cmd": "sh -c 'echo partial; echo oops >&2; exit 3'"], policy: Self.policy(["sh"]))
        #expect(message == "command 'sh' failed with exit status 3; stderr: oops")
    }

    @Test("a failing stage of a pipeline is named")
    func failedStage() async throws {
        let message = try await Self.failure(
            ["cmd": "sh -c 'echo no such file >&2; exit 2' | wc -l"], policy: Self.policy(["sh", "wc"]))
        #expect(message == "command 'sh' (stage 1 of 2) failed with exit status 2; stderr: no such file")
    }

    @Test("only the end of a long standard error is quoted")
    func longStandardError() async throws {
        let message = try #require(try await Self.failure(
            ["cmd": #"sh -c 'head -c 10000 /dev/zero | tr "\000" x >&2; echo END >&2; exit 1'"#],
            policy: Self.policy(["sh"])))
        #expect(message.hasPrefix("command 'sh' failed with exit status 1; stderr: ...xxx"))
        #expect(message.hasSuffix("xxxEND"))
        #expect(message.utf8.count < 2200)
    }

    @Test("the timeout input shortens the policy's timeout")
    func shorterTimeout() async throws {
        // The message names the timeout that ended the command: the input's
        // 0.3 s, not the policy's 20 s (no wall-clock bound needed).
        let message = try await Self.failure(["cmd": "sleep 30", "timeout": 0.3], policy: Self.policy(["sleep"]))
        #expect(message == "timed out after 0.3 s; process group killed")
    }

    @Test("the timeout input cannot lengthen the policy's timeout")
    func longerTimeout() async throws {
        let message = try await Self.failure(
            ["cmd": "sleep 30", "timeout": 100], policy: Self.policy(["sleep"], timeout: .milliseconds(250)))
        #expect(message == "timed out after 0.25 s; process group killed")
    }

    @Test("a timeout must be a positive number")
    func invalidTimeout() async throws {
        let message = try await Self.failure(["cmd": "echo hi", "timeout": -1], policy: Self.policy(["echo"]))
        #expect(message == "timeout must be a positive number of seconds, got -1.0")
    }

    @Test("output beyond the limit is cut off")
    func outputLimit() async throws {
        let result = try await Self.run(["cmd": "head -c 100000 /dev/zero"], policy: Self.policy(["head"], outputLimit: 100))
        guard case .string(let output) = result else {
            Issue.record("expected a string, got \(result)")
            return
        }
        #expect(output.utf8.count == 100)
    }
}
