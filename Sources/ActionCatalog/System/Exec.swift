import ActionKit
import CommandRunner
import Foundation
import Logging
import OrderedJSON

/// Runs an allowlisted local command, as the original tool's
/// `int32bit.system.exec cmd=...` did, but without a shell.
struct Exec: MistralAction {
    static let name = "system.exec"
    static let description = """
        Runs an allowlisted local command without a shell and returns its standard output.

        `cmd` is split into words as a shell would (quotes, backslashes) and may be a
        pipeline of at most \(CommandPolicy.defaultMaxPipelineStages) commands joined by `|`; any other shell syntax
        (`;`, `&&`, redirections, `$VAR`, globs) is rejected. Every command must be listed
        in exec_allowed_commands, and the action is disabled unless exec_enabled = true.
        The commands run in their own process group with empty standard input and a
        minimal environment; after exec_timeout (or `timeout`, if shorter) the group is
        killed. The output is cut off at exec_output_limit bytes. A command that exits
        with a non-zero status, or is killed, fails the action with its standard error.
        """

    /// How much of the standard error a failure message quotes (its end).
    static let quotedErrorLimit = 2048

    @Parameter(help: "The command line, e.g. `df -h /` or `ls /var/log | wc -l`.") var cmd: String
    @Parameter(help: "Seconds before the command is killed; can only shorten exec_timeout.") var timeout: Double?

    init() {}

    func run(context: ActionContext) async throws -> JSON {
        guard let policy = context.services[CommandPolicyKey.self], policy.enabled else {
            throw ActionFailure(
                "system.exec is disabled: set [mistral_actions] exec_enabled = true and list the commands in exec_allowed_commands"
            )
        }
        let options = policy.runOptions(timeout: try requestedTimeout(within: policy.timeout))
        let commands: [Command]
        do throws(CommandError) {
            commands = try policy.authorize(CommandPipeline(parsing: cmd))
        } catch {
            throw ActionFailure(error.message)
        }

        let logger = context.logger
        let names = commands.map { $0.arguments[0] }.joined(separator: " | ")
        logger.info("running command", metadata: ["exec.commands": "\(names)"])
        logger.debug("command line", metadata: [
            "exec.command_line": "\(CommandPipeline(commands.map(\.arguments)))",
            "exec.executables": "\(commands.map(\.executable).joined(separator: " | "))",
            "exec.timeout": "\(options.timeout)",
        ])
        let result: CommandResult
        do {
            result = try await CommandRunner.run(commands, options: options)
        } catch let error as CommandError {
            logger.warning("command could not start", metadata: ["exec.commands": "\(names)", "error": "\(error)"])
            throw ActionFailure(error.message)
        } catch {
            logger.info("command cancelled; its process group was killed", metadata: ["exec.commands": "\(names)"])
            throw error
        }

        logger.info("command finished", metadata: [
            "exec.commands": "\(names)",
            "exec.status": "\(result.stages.map(\.termination.description).joined(separator: " | "))",
            "exec.duration_ms": "\(Self.milliseconds(result.duration))",
            "exec.timed_out": "\(result.timedOut)",
            "exec.output_bytes": "\(result.standardOutput.utf8.count)",
        ])
        if result.standardOutputTruncated {
            logger.warning("command output cut off", metadata: ["exec.output_limit": "\(options.outputLimit)"])
        }

        if result.timedOut {
            throw ActionFailure("timed out after \(Self.seconds(options.timeout)) s; process group killed" + errorQuote(result))
        }
        if let stage = result.failedStage {
            let command = result.stages[stage].command.arguments[0]
            let position = result.stages.count > 1 ? " (stage \(stage + 1) of \(result.stages.count))" : ""
            throw ActionFailure(
                "command '\(command)'\(position) failed with \(result.stages[stage].termination)" + errorQuote(result)
            )
        }
        return .string(result.standardOutput)
    }

    /// The `timeout` input as a duration, or nil when it does not shorten
    /// the policy's.
    private func requestedTimeout(within limit: Duration) throws -> Duration? {
        guard let timeout else { return nil }
        guard timeout.isFinite, timeout > 0 else {
            throw ActionFailure("timeout must be a positive number of seconds, got \(timeout)")
        }
        let requested = Duration.milliseconds(max(1, Int64((min(timeout, 1e9) * 1000).rounded())))
        return requested < limit ? requested : nil
    }

    /// `; stderr: <the end of standard error>`, or nothing when it is empty.
    private func errorQuote(_ result: CommandResult) -> String {
        let text = result.standardError.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { return "" }
        let bytes = Array(text.utf8)
        guard bytes.count > Self.quotedErrorLimit else { return "; stderr: \(text)" }
        return "; stderr: ...\(String(decoding: bytes.suffix(Self.quotedErrorLimit), as: UTF8.self))"
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// `5`, `0.25`.
    static func seconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        guard attoseconds != 0 else { return "\(seconds)" }
        return "\(Double(seconds) + Double(attoseconds) / 1e18)"
    }
}
