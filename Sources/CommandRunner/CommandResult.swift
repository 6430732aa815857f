#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One command to run: the file and its argument vector.
public struct Command: Sendable, Hashable {
    /// The file to run, an absolute path (not looked up again).
    public var executable: String
    /// The argument vector; the first element is the command's name as
    /// written (`argv[0]`), which multi-call programs look at.
    public var arguments: [String]

    public init(executable: String, arguments: [String]) {
        self.executable = executable
        self.arguments = arguments
    }
}

/// How a process ended.
public enum Termination: Sendable, Hashable, CustomStringConvertible {
    /// It exited with this status.
    case exited(Int32)
    /// A signal killed it.
    case signaled(Int32)
    /// Its status could not be collected (someone else reaped it).
    case unknown

    /// It exited with status 0.
    public var isSuccess: Bool { self == .exited(0) }

    /// `exit status 2`, `signal 9 (SIGKILL)`.
    public var description: String {
        switch self {
        case .exited(let status):
            return "exit status \(status)"
        case .signaled(let signal):
            return Self.signalNames[signal].map { "signal \(signal) (\($0))" } ?? "signal \(signal)"
        case .unknown:
            return "unknown status"
        }
    }

    private static let signalNames: [Int32: String] = [
        SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGTRAP: "SIGTRAP",
        SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGUSR1: "SIGUSR1",
        SIGSEGV: "SIGSEGV", SIGUSR2: "SIGUSR2", SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM", SIGTERM: "SIGTERM",
        SIGXCPU: "SIGXCPU", SIGXFSZ: "SIGXFSZ", SIGSYS: "SIGSYS",
    ]
}

/// What a pipeline did.
public struct CommandResult: Sendable {
    /// One stage of the pipeline and how it ended.
    public struct Stage: Sendable, Hashable {
        public var command: Command
        public var termination: Termination
    }

    /// Every stage, in order.
    public var stages: [Stage]
    /// The last stage's standard output (lossy UTF-8), at most the output limit.
    public var standardOutput: String
    /// The standard error of all stages (lossy UTF-8), at most the output limit.
    public var standardError: String
    /// Standard output went beyond the limit; the rest was read and discarded.
    public var standardOutputTruncated: Bool
    /// Standard error went beyond the limit; the rest was read and discarded.
    public var standardErrorTruncated: Bool
    /// From the start of the first stage until every stage was reaped.
    public var duration: Duration
    /// The timeout expired and the process group was killed.
    public var timedOut: Bool

    /// The pipeline's status, as a shell reports it: the last stage's.
    public var termination: Termination {
        stages[stages.count - 1].termination
    }

    /// The first stage (0-based) that failed, as with `set -o pipefail`; `nil`
    /// when all succeeded.
    ///
    /// An earlier stage killed by `SIGPIPE` does not count as failed: a later
    /// stage stopped reading on purpose (`yes | head -1`).
    public var failedStage: Int? {
        stages.indices.first { index in
            let termination = stages[index].termination
            if termination.isSuccess { return false }
            return !(termination == .signaled(SIGPIPE) && index < stages.count - 1)
        }
    }

    /// The pipeline ran to the end and every stage succeeded.
    public var succeeded: Bool {
        !timedOut && failedStage == nil
    }
}
