/// Which local commands may run, for whom, and within which limits.
///
/// The policy is the worker's configuration (`[mistral_actions] exec_*`); by
/// default it allows nothing.
public struct CommandPolicy: Sendable, Hashable {
    /// The role that lets a request run commands whatever its project.
    public static let adminRole = "admin"
    /// The project Mistral files everything under when it runs without
    /// authentication (its `DEFAULT_PROJECT_ID`): every request that Keystone
    /// did not authenticate counts as this project, whatever roles and
    /// project it claims.
    public static let unauthenticatedProject = "<default-project>"

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
    /// The projects whose requests may run commands besides admin requests
    /// (`exec_allowed_projects`), compared byte for byte with the request's
    /// project id. List ``unauthenticatedProject`` to let a Mistral without
    /// authentication run them.
    public var allowedProjects: [String]
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
        allowedProjects: [String] = [],
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
        self.allowedProjects = allowedProjects
        self.timeout = timeout
        self.outputLimit = outputLimit
        self.searchPath = searchPath
        self.killGracePeriod = killGracePeriod
        self.pipeGracePeriod = pipeGracePeriod
        self.maxPipelineStages = maxPipelineStages
        self.environment = environment
    }

    /// Who asks to run a command, as the request's security context says.
    public struct Requester: Sendable, Hashable {
        /// The role names of the request's token.
        public var roles: [String]
        /// The project the request is scoped to, if any.
        public var projectID: String?
        /// Whether Keystone vouched for ``roles`` and ``projectID``. Without
        /// authentication Mistral builds the context from whatever identity
        /// headers the API client sent, so they prove nothing.
        public var isAuthenticated: Bool

        public init(roles: [String], projectID: String?, isAuthenticated: Bool) {
            self.roles = roles
            self.projectID = projectID
            self.isAuthenticated = isAuthenticated
        }

        /// The project the allowlist is checked against: the request's when
        /// authenticated (nil if it has none), else
        /// ``CommandPolicy/unauthenticatedProject``.
        public var effectiveProject: String? {
            guard isAuthenticated else { return CommandPolicy.unauthenticatedProject }
            guard let projectID, !projectID.isEmpty else { return nil }
            return projectID
        }

        /// Whether the request is authenticated and one of its roles is
        /// ``CommandPolicy/adminRole`` (in any case, as oslo.policy compares
        /// roles).
        public var isAdmin: Bool {
            isAuthenticated && roles.contains { $0.lowercased() == CommandPolicy.adminRole }
        }
    }

    /// Why a requester may run commands.
    public enum Admission: Sendable, Hashable, CustomStringConvertible {
        /// The request has the admin role.
        case adminRole
        /// The request's project (or ``CommandPolicy/unauthenticatedProject``) is listed.
        case listedProject(String)

        public var description: String {
            switch self {
            case .adminRole: "the \(CommandPolicy.adminRole) role"
            case .listedProject(let project): "project \(project.debugDescription) in exec_allowed_projects"
            }
        }
    }

    /// Checks that the requester may run commands at all: commands are
    /// enabled, and the request has the admin role or its project is listed
    /// in ``allowedProjects``.
    ///
    /// The allowlist limits which programs run, not what they read or
    /// write: an allowed `cat` reads any file the worker can. So a tenant's
    /// request must not reach them unless the operator said so.
    ///
    /// - Parameter subject: what is refused, for the message
    ///   (`system.exec`).
    /// - Returns: why the requester is admitted (for the audit log).
    /// - Throws: ``CommandError`` with code ``CommandError/Code-swift.struct/disabled``
    ///   or ``CommandError/Code-swift.struct/forbidden``.
    @discardableResult
    public func admit(_ requester: Requester, subject: String = "running local commands") throws(CommandError) -> Admission {
        guard enabled else {
            throw CommandError(
                code: .disabled,
                message: "\(subject) is disabled: set [mistral_actions] exec_enabled = true and list the commands in exec_allowed_commands"
            )
        }
        if requester.isAdmin { return .adminRole }
        let project = requester.effectiveProject
        if let project, allowedProjects.contains(where: { ControlCharacters.sameBytes($0, project) }) {
            return .listedProject(project)
        }
        let rule = "\(subject) is allowed only for requests with the \(Self.adminRole) role or from the projects in [mistral_actions] exec_allowed_projects"
        let who: String
        switch (project, requester.isAuthenticated) {
        case (_, false):
            who = "this request was not authenticated by Keystone (its roles and project are whatever the API client sent), "
                + "so it counts as project \(Self.unauthenticatedProject); list that project to let everyone who can reach "
                + "Mistral's API run commands"
        case (let project?, true):
            who = "project \(project.debugDescription) is not listed"
        case (nil, true):
            who = "this request has no project"
        }
        throw CommandError(code: .forbidden, message: "\(rule); \(who)")
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
    /// Each command is checked on the file it resolves to (every symbolic
    /// link followed), and that canonical absolute path is what runs: no
    /// second lookup, through `PATH` or the worker's directory, can pick
    /// another file. Words are checked for control characters before any
    /// lookup. (Who asks is checked by ``admit(_:subject:)``.)
    ///
    /// - Throws: ``CommandError`` when commands are disabled, the policy holds
    ///   a NUL or control character, the allowlist is empty, the pipeline is
    ///   too long, a word holds a control character, a command is not
    ///   allowed, or an allowed command cannot be found.
    public func authorize(_ pipeline: CommandPipeline) throws(CommandError) -> [Command] {
        guard enabled else {
            throw CommandError(
                code: .disabled,
                message: "running local commands is disabled: set [mistral_actions] exec_enabled = true and list the commands in exec_allowed_commands"
            )
        }
        try checkConfiguration()
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
        // Before any lookup: what the C calls would see must be what is checked.
        for (stage, arguments) in pipeline.stages.enumerated() {
            for (position, word) in arguments.enumerated() {
                if let (scalar, _) = ControlCharacters.firstRefused(in: word) {
                    throw CommandError(
                        code: .invalidCommandLine,
                        message: "pipeline stage \(stage + 1), word \(position + 1) holds control character \(ControlCharacters.name(of: scalar)), which is not allowed",
                        stage: stage
                    )
                }
            }
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
                guard allowedCommands.contains(where: { ControlCharacters.sameBytes($0, requested) })
                    || entries.contains(where: { ControlCharacters.sameBytes($0.name, name) })
                else {
                    throw notAllowed(requested, stage: stage)
                }
                var error = error
                error.stage = stage
                throw error
            }
            // Names and paths compare as bytes: Swift's == would take a
            // canonically equivalent spelling (another file) for the same.
            guard let file = ExecutableLookup.realPath(location),
                  entries.contains(where: { ControlCharacters.sameBytes($0.name, name) && ControlCharacters.sameBytes($0.file, file) })
            else {
                throw notAllowed(requested, stage: stage)
            }
            // The canonical path runs, exactly the file just checked.
            commands.append(Command(executable: file, arguments: arguments))
        }
        return commands
    }

    /// Parses, checks and runs a command line, for a caller already admitted
    /// (see ``admit(_:subject:)``).
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

    /// Refuses configured values the C calls would read differently: a NUL
    /// anywhere, a control character in an allowlist entry or project, an
    /// invalid environment variable name.
    private func checkConfiguration() throws(CommandError) {
        func invalid(_ what: String, _ problem: String) -> CommandError {
            CommandError(code: .invalidConfiguration, message: "\(what) \(problem); fix the worker's configuration")
        }
        for (option, values) in [("exec_allowed_commands", allowedCommands), ("exec_allowed_projects", allowedProjects)] {
            for (index, value) in values.enumerated() {
                if let (scalar, _) = ControlCharacters.firstRefused(in: value) {
                    throw invalid("[mistral_actions] \(option) entry \(index + 1)", "holds control character \(ControlCharacters.name(of: scalar))")
                }
            }
        }
        if ControlCharacters.containsNUL(searchPath) {
            throw invalid("the command search path", "holds a NUL byte")
        }
        for (name, value) in environment {
            if name.isEmpty || name.utf8.contains(UInt8(ascii: "=")) || ControlCharacters.containsNUL(name) {
                throw invalid("an environment variable name", "is empty or holds '=' or a NUL byte")
            }
            if ControlCharacters.containsNUL(value) {
                throw invalid("the environment variable \(name)", "holds a NUL byte")
            }
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
