#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SystemSupport

/// Runs local commands without a shell.
///
/// A pipeline's stages run in one new process group with default signal
/// handling, standard input from `/dev/null` and a given environment. Their
/// output is read, up to a limit, on a dedicated thread (never on Swift's
/// cooperative pool). On timeout or task cancellation the whole group gets
/// `SIGTERM`, then `SIGKILL` after a grace period. When the stages have
/// exited, processes they left behind in the group are killed, and every
/// stage is reaped: nothing the command started outlives the call, unless it
/// left the process group on purpose.
public enum CommandRunner {
    /// The limits of one run.
    public struct Options: Sendable, Hashable {
        /// How long the pipeline may run before its process group is killed.
        public var timeout: Duration
        /// The most bytes kept of standard output, and of standard error.
        public var outputLimit: Int
        /// How long the processes get between `SIGTERM` and `SIGKILL`.
        public var killGracePeriod: Duration
        /// How long to keep reading after every stage has exited while
        /// processes left behind still hold the output open.
        public var pipeGracePeriod: Duration
        /// The whole environment of the commands.
        public var environment: [String: String]

        public init(
            timeout: Duration = .seconds(60),
            outputLimit: Int = 1_048_576,
            killGracePeriod: Duration = .seconds(2),
            pipeGracePeriod: Duration = .milliseconds(500),
            environment: [String: String] = ["PATH": CommandPolicy.defaultSearchPath, "LANG": "C.UTF-8"]
        ) {
            self.timeout = timeout
            self.outputLimit = outputLimit
            self.killGracePeriod = killGracePeriod
            self.pipeGracePeriod = pipeGracePeriod
            self.environment = environment
        }
    }

    /// Resolves every stage's command in `searchPath`, without any allowlist
    /// (for trusted callers; requests go through ``CommandPolicy/authorize(_:)``).
    /// Each executable is the canonical absolute path of the file found.
    public static func resolve(
        _ pipeline: CommandPipeline,
        searchPath: String = CommandPolicy.defaultSearchPath
    ) throws(CommandError) -> [Command] {
        var commands: [Command] = []
        for (stage, arguments) in pipeline.stages.enumerated() {
            do throws(CommandError) {
                let location = try ExecutableLookup.locate(arguments.first ?? "", searchPath: searchPath)
                guard let file = ExecutableLookup.realPath(location) else {
                    throw CommandError(code: .notFound, message: "'\(location)' cannot be resolved to a file")
                }
                commands.append(Command(executable: file, arguments: arguments))
            } catch {
                var error = error
                error.stage = stage
                throw error
            }
        }
        return commands
    }

    /// Runs commands connected by pipes: each stage's standard output is the
    /// next one's standard input; the last one's is returned, and so is the
    /// standard error of all.
    ///
    /// - Throws: ``CommandError`` when a stage cannot be started (the stages
    ///   already started are killed and reaped), when an executable is not an
    ///   absolute path, or when an argument or the environment holds a NUL
    ///   byte (C strings would end there); `CancellationError` when the
    ///   task was cancelled before the pipeline finished (its process group
    ///   has been killed and reaped by then).
    public static func run(_ commands: [Command], options: Options) async throws -> CommandResult {
        guard !commands.isEmpty else {
            throw CommandError(code: .invalidCommandLine, message: "there is no command to run")
        }
        if let empty = commands.firstIndex(where: { $0.arguments.isEmpty }) {
            throw CommandError(code: .invalidCommandLine, message: "pipeline stage \(empty + 1) has no arguments", stage: empty)
        }
        try check(commands, options.environment)
        let control = try RunControl(stageCount: commands.count)
        let outcome = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<PipelineExecution.Outcome, Never>) in
                startDetachedThread(name: "command-runner") {
                    continuation.resume(returning: PipelineExecution(commands: commands, options: options, control: control).run())
                }
            }
        } onCancel: {
            control.cancel()
        }
        switch outcome {
        case .finished(let result):
            return result
        case .failed(let error):
            throw error
        case .cancelled:
            throw CancellationError()
        }
    }

    /// What the C calls get must be what the caller meant: the file to run is
    /// not looked up again (an absolute path), and no string is cut short by
    /// a NUL.
    private static func check(_ commands: [Command], _ environment: [String: String]) throws(CommandError) {
        for (stage, command) in commands.enumerated() {
            guard command.executable.hasPrefix("/") else {
                throw CommandError(
                    code: .invalidCommandLine,
                    message: "pipeline stage \(stage + 1): the file to run must be an absolute path, not '\(command.executable)'",
                    stage: stage
                )
            }
            if ControlCharacters.containsNUL(command.executable) {
                throw CommandError(code: .invalidCommandLine, message: "pipeline stage \(stage + 1): the file to run holds a NUL byte", stage: stage)
            }
            if let word = command.arguments.firstIndex(where: ControlCharacters.containsNUL) {
                throw CommandError(
                    code: .invalidCommandLine,
                    message: "pipeline stage \(stage + 1), word \(word + 1): a NUL byte cannot be passed to a command",
                    stage: stage
                )
            }
        }
        for (name, value) in environment {
            if name.isEmpty || name.utf8.contains(UInt8(ascii: "=")) || ControlCharacters.containsNUL(name) {
                throw CommandError(code: .invalidConfiguration, message: "the environment variable name '\(name.debugDescription.dropFirst().dropLast())' is not valid")
            }
            if ControlCharacters.containsNUL(value) {
                throw CommandError(code: .invalidConfiguration, message: "the environment variable \(name) holds a NUL byte")
            }
        }
    }
}
