import ActionKit
import CommandRunner
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import OrderedJSON
import OsloMessaging

/// Runs an allowlisted local command, as the original tool's
/// `int32bit.system.exec cmd=...` did, but without a shell.
struct Exec: MistralAction {
    static let name = "system.exec"
    static let description = """
        Runs an allowlisted local command without a shell and returns its standard output.

        `cmd` is split into words as a shell would (quotes, backslashes) and may be a
        pipeline of at most \(CommandPolicy.defaultMaxPipelineStages) commands joined by `|`; any other shell syntax
        (`;`, `&&`, redirections, `$VAR`, globs) and control characters are rejected. Every
        command must be listed in exec_allowed_commands (checked on the file it resolves
        to, which is the file that runs), and the action is disabled unless
        exec_enabled = true. Only requests with the admin role, or from a project listed
        in exec_allowed_projects, may run it.
        The commands run in their own process group with empty standard input and a
        minimal environment; after exec_timeout (or `timeout`, if shorter) the group is
        killed. The output is cut off at exec_output_limit bytes. A command that exits
        with a non-zero status, or is killed, fails the action with its standard error.
        """

    /// How much of the standard error a failure message quotes (its end).
    static let quotedErrorLimit = 2048

    @Parameter(help: "The command line, e.g. `df -h /` or `ls /var/log | wc -l`.") var cmd: String
    @Parameter(help: "Seconds before the command is killed; can only shorten exec_timeout (larger values mean exec_timeout).") var timeout: Double?

    init() {}

    func run(context: ActionContext) async throws -> JSON {
        let policy = context.services[CommandPolicyKey.self] ?? CommandPolicy()
        let requester = Self.requester(context.security)
        do throws(CommandError) {
            let admission = try policy.admit(requester, subject: Self.name)
            context.logger.info("system.exec admitted", metadata: ["exec.admitted_by": "\(admission)"])
        } catch {
            if error.code == .forbidden {
                context.logger.warning("system.exec refused for this request", metadata: ["error": "\(error)"])
            }
            throw ActionFailure(error.message)
        }
        let options = policy.runOptions(timeout: try Self.requestedTimeout(timeout, within: policy.timeout))
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

    /// Who asks, from the request's security context: its roles, its project
    /// (`project_id`, else oslo's `project`) and whether Keystone vouched for
    /// them.
    ///
    /// Without authentication, Mistral's API builds the context from the
    /// client's `X-Roles`, `X-Project-Id` and `X-Auth-Token` headers, checked
    /// by nobody. What no client can set: `expires_at`, which Mistral copies
    /// from the token keystonemiddleware validated, and a trust-scoped
    /// context, which Mistral makes itself from a Keystone trust (cron
    /// triggers). Either one marks an authenticated request. `is_admin` is
    /// not used: Mistral sets it on contexts it makes for its own jobs.
    static func requester(_ security: RequestContext) -> CommandPolicy.Requester {
        func present(_ value: String?) -> String? {
            guard let value, !value.isEmpty else { return nil }
            return value
        }
        let validatedToken = present(security.expiresAt) != nil
        let trust = security.isTrustScoped && present(security.trustID) != nil && present(security.authToken) != nil
        return CommandPolicy.Requester(
            roles: security.roles,
            projectID: present(security.projectID) ?? present(security.project),
            isAuthenticated: validatedToken || trust
        )
    }

    /// The `timeout` input as a duration, or nil when it does not shorten
    /// the policy's.
    ///
    /// NaN, infinities, zero (either sign) and negative values are refused;
    /// any finite value at or above the policy's timeout means the policy's
    /// (so 1e300 is a long timeout, not a trap); a positive value below a
    /// millisecond is one millisecond.
    static func requestedTimeout(_ timeout: Double?, within limit: Duration) throws -> Duration? {
        guard let timeout else { return nil }
        guard timeout.isFinite, timeout > 0 else {
            throw ActionFailure("timeout must be a positive number of seconds, got \(timeout)")
        }
        // Compared as Doubles first: only a value below the limit (at most
        // Int64.max seconds) is turned into an integer.
        let (limitSeconds, limitAttoseconds) = limit.components
        guard timeout < Double(limitSeconds) + Double(limitAttoseconds) / 1e18 else { return nil }
        let milliseconds = (timeout * 1000).rounded()
        // Below the limit but still too large for Int64 milliseconds: the
        // limit applies (it is then within a rounding error of it).
        guard let whole = Int64(exactly: milliseconds) else { return nil }
        let requested = Duration.milliseconds(max(1, whole))
        return requested < limit ? requested : nil
    }

    /// `; stderr: <the end of standard error>`, or nothing when it is empty.
    private func errorQuote(_ result: CommandResult) -> String {
        let text = Self.trimmingWhitespace(result.standardError)
        guard !text.isEmpty else { return "" }
        let bytes = Array(text.utf8)
        guard bytes.count > Self.quotedErrorLimit else { return "; stderr: \(text)" }
        return "; stderr: ...\(String(decoding: bytes.suffix(Self.quotedErrorLimit), as: UTF8.self))"
    }

    /// Whole milliseconds, `Int64.max` beyond (no overflow trap).
    /// `text` without leading and trailing white space (newlines included).
    static func trimmingWhitespace(_ text: String) -> String {
        let start = text.firstIndex { !$0.isWhitespace } ?? text.endIndex
        let end = text[start...].lastIndex { !$0.isWhitespace }.map { text.index(after: $0) } ?? start
        return String(text[start..<end])
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        guard !overflow else { return seconds < 0 ? .min : .max }
        let (total, sumOverflow) = whole.addingReportingOverflow(attoseconds / 1_000_000_000_000_000)
        return sumOverflow ? (seconds < 0 ? .min : .max) : total
    }

    /// `5`, `0.25`.
    static func seconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        guard attoseconds != 0 else { return "\(seconds)" }
        return "\(Double(seconds) + Double(attoseconds) / 1e18)"
    }
}
