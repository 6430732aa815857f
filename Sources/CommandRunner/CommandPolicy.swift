/// Which local commands may run, and within which limits.
///
/// The policy is the worker's configuration (`[mistral_actions] exec_*`); by
/// default it allows nothing.
public struct CommandPolicy: Sendable, Hashable {
    /// The search path used when none is configured.
    public static let defaultSearchPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    /// The most pipeline stages allowed when not configured.
    public static let defaultMaxPipelineStages = 4

    /// Whether commands may run at all (`exec_enabled`).
    public var enabled: Bool
    /// The commands that may run (`exec_allowed_commands`): bare names, looked
    /// up in ``searchPath``, or absolute paths.
    ///
    /// A command runs only when the file it names is the file of an entry
    /// (compared after resolving every symbolic link) *and* its name is the
    /// entry's name, because multi-call programs (busybox) choose what to do
    /// by the name they are called by: with `ls` allowed, `ls`, `/usr/bin/ls`
    /// and `/bin/ls` may run, but not a link named `rm` to the same binary,
    /// nor a link named `ls` to another program.
    public var allowedCommands: [String]
    /// How long a pipeline may run before its process group is killed (`exec_timeout`).
    public var timeout: Duration
    /// The most bytes kept of standard output, and of standard error (`exec_output_limit`).
    public var outputLimit: Int
    /// Where bare command names are looked up (the worker's own `PATH` is not used).
    public var searchPath: String
    /// How long the processes get between `SIGTERM` and `SIGKILL`.
    public var killGracePeriod: Duration
    /// How long to keep reading after every stage has exited, while processes
    /// they left behind still hold the output open; then they are killed.
    public var pipeGracePeriod: Duration
    /// The most commands in one pipeline.
    public var maxPipelineStages: Int
    /// Variables added to the commands' environment (which otherwise holds
    /// only `PATH`, the search path, and `LANG=C.UTF-8`).
    public var environment: [String: String]

    public init(
        enabled: Bool = false,
        allowedCommands: [String] = [],
        timeout: Duration = .seconds(60),
        outputLimit: Int = 1_048_576,
        searchPath: String = CommandPolicy.defaultSearchPath,
        killGracePeriod: Duration = .seconds(2),
        pipeGracePeriod: Duration = .milliseconds(500),
        maxPipelineStages: Int = CommandPolicy.defaultMaxPipelineStages,
        environment: [String: String] = [:]
    ) {
        self.enabled = enabled
        self.allowedCommands = allowedCommands
        self.timeout = timeout
        self.outputLimit = outputLimit
        self.searchPath = searchPath
        self.killGracePeriod = killGracePeriod
        self.pipeGracePeriod = pipeGracePeriod
        self.maxPipelineStages = maxPipelineStages
        self.environment = environment
    }

    /// The environment the commands get.
    public var commandEnvironment: [String: String] {
        ["PATH": searchPath, "LANG": "C.UTF-8"].merging(environment) { _, added in added }
    }

    /// The options to run a pipeline with: the policy's limits, and a timeout
    /// that may be shorter than the policy's but never longer.
    public func runOptions(timeout requested: Duration? = nil) -> CommandRunner.Options {
        CommandRunner.Options(
            timeout: requested.map { min($0, timeout) } ?? timeout,
            outputLimit: outputLimit,
            killGracePeriod: killGracePeriod,
            pipeGracePeriod: pipeGracePeriod,
            environment: commandEnvironment
        )
    }

    /// Checks that the policy allows every stage and resolves the files to run.
    ///
    /// - Throws: ``CommandError`` when commands are disabled, the allowlist is
    ///   empty, the pipeline is too long, a command is not allowed, or an
    ///   allowed command cannot be found.
    public func authorize(_ pipeline: CommandPipeline) throws(CommandError) -> [Command] {
        guard enabled else {
            throw CommandError(
                code: .disabled,
                message: "running local commands is disabled: set [mistral_actions] exec_enabled = true and list the commands in exec_allowed_commands"
            )
        }
        guard !allowedCommands.isEmpty else {
            throw CommandError(
                code: .notAllowed,
                message: "no command is allowed: [mistral_actions] exec_allowed_commands is empty"
            )
        }
        guard !pipeline.stages.isEmpty else {
            throw CommandError(code: .invalidCommandLine, message: "the command line is empty")
        }
        guard pipeline.stages.count <= maxPipelineStages else {
            throw CommandError(
                code: .tooManyStages,
                message: "the pipeline has \(pipeline.stages.count) commands; at most \(maxPipelineStages) are allowed"
            )
        }
        let entries = allowedFiles()
        var commands: [Command] = []
        for (stage, arguments) in pipeline.stages.enumerated() {
            guard let requested = arguments.first else {
                throw CommandError(code: .invalidCommandLine, message: "pipeline stage \(stage + 1) is empty", stage: stage)
            }
            let name = ExecutableLookup.baseName(requested)
            let location: String
            do {
                location = try ExecutableLookup.locate(requested, searchPath: searchPath)
            } catch {
                // Say "not found" only for an allowed name: the worker's files
                // are none of the business of other requests.
                guard allowedCommands.contains(requested) || entries.contains(where: { $0.name == name }) else {
                    throw notAllowed(requested, stage: stage)
                }
                var error = error
                error.stage = stage
                throw error
            }
            guard let file = ExecutableLookup.realPath(location),
                  entries.contains(where: { $0.name == name && $0.file == file })
            else {
                throw notAllowed(requested, stage: stage)
            }
            commands.append(Command(executable: file, arguments: arguments))
        }
        return commands
    }

    /// Parses, checks and runs a command line.
    ///
    /// - Parameter timeout: a shorter timeout than the policy's, if wanted.
    /// - Throws: ``CommandError`` when the command cannot run;
    ///   `CancellationError` when the task was cancelled (the process group
    ///   has been killed and reaped by then).
    public func run(_ commandLine: String, timeout: Duration? = nil) async throws -> CommandResult {
        let commands = try authorize(CommandPipeline(parsing: commandLine))
        return try await CommandRunner.run(commands, options: runOptions(timeout: timeout))
    }

    /// The allowed files: each entry's name and its canonical path. Entries
    /// that do not exist (or are relative paths, which are never allowed)
    /// allow nothing.
    private func allowedFiles() -> [(name: String, file: String)] {
        allowedCommands.compactMap { entry in
            let location: String
            if entry.hasPrefix("/") {
                location = entry
            } else if entry.contains("/") || entry.isEmpty {
                return nil
            } else {
                guard let found = try? ExecutableLookup.locate(entry, searchPath: searchPath) else { return nil }
                location = found
            }
            return ExecutableLookup.realPath(location).map { (ExecutableLookup.baseName(entry), $0) }
        }
    }

    private func notAllowed(_ command: String, stage: Int) -> CommandError {
        CommandError(
            code: .notAllowed,
            message: "command '\(command)' is not allowed: add it to [mistral_actions] exec_allowed_commands (allowed: \(allowedCommands.joined(separator: ", ")))",
            stage: stage
        )
    }
}
