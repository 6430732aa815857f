/// Why a command could not be run: its command line, the policy, the file
/// to run or the system refused it.
///
/// A command that runs and fails is not an error: see ``CommandResult``.
public struct CommandError: Error, Sendable, CustomStringConvertible {
    /// The kind of error; new codes may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalidCommandLine
            case disabled
            case forbidden
            case invalidConfiguration
            case notAllowed
            case tooManyStages
            case notFound
            case notExecutable
            case spawnFailed
            case systemError
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The command line uses shell syntax that cannot work without a shell,
        /// is malformed (unterminated quote, empty pipeline stage), or holds a
        /// control character (a NUL byte would cut the C string short).
        public static let invalidCommandLine = Code(.invalidCommandLine)
        /// The policy does not allow running commands at all.
        public static let disabled = Code(.disabled)
        /// The policy does not let this requester run commands (neither an
        /// admin nor an allowed project).
        public static let forbidden = Code(.forbidden)
        /// The policy or the run options hold a value the system cannot take
        /// (a NUL byte in a path or the environment, an `=` in a variable's name).
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// The policy does not allow this command (or allows no command).
        public static let notAllowed = Code(.notAllowed)
        /// The pipeline has more stages than the policy allows.
        public static let tooManyStages = Code(.tooManyStages)
        /// The command is not in the search path, or the path does not exist.
        public static let notFound = Code(.notFound)
        /// The file exists but cannot be executed.
        public static let notExecutable = Code(.notExecutable)
        /// `posix_spawn` failed.
        public static let spawnFailed = Code(.spawnFailed)
        /// A system call needed to run the command failed (pipes, /dev/null).
        public static let systemError = Code(.systemError)

        public var description: String { base.rawValue }
    }

    public var code: Code
    /// What went wrong, for people.
    public var message: String
    /// The pipeline stage (0-based) the error is about, when it is about one.
    public var stage: Int?

    public init(code: Code, message: String, stage: Int? = nil) {
        self.code = code
        self.message = message
        self.stage = stage
    }

    public var description: String { message }
}
