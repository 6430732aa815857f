import Logging

/// The waits between attempts of a retry loop: `initialDelay` after the
/// first failure, doubling after each further one, never above `maximumDelay`.
public struct RetryBackoff: Sendable, Hashable {
    public var initialDelay: Duration
    public var maximumDelay: Duration

    /// 1 s doubling to 30 s.
    public init(initialDelay: Duration = .seconds(1), maximumDelay: Duration = .seconds(30)) {
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
    }

    /// The wait after `failures` failures in a row (1 for the first).
    public func delay(afterFailures failures: Int) -> Duration {
        var delay = min(initialDelay, maximumDelay)
        var doublings = max(0, failures - 1)
        // Stops doubling at the cap, so neither the count nor the Duration can overflow.
        while doublings > 0 && delay < maximumDelay {
            delay = delay > maximumDelay / 2 ? maximumDelay : delay * 2
            doublings -= 1
        }
        return max(delay, .zero)
    }
}

/// Runs `attempt` until it returns, for as long as it takes: after each
/// failure it logs `message` as a warning (with `error`, `attempt` and
/// `retry_in`) and waits as `backoff` says. For work that must eventually
/// happen and that waiting can fix: a database that is down, not migrated
/// yet, or locked by another process.
///
/// Cancelling the task ends it promptly with `CancellationError`, also
/// during a wait.
///
/// - Parameters:
///   - sleep: how to wait (tests replace it); it must throw
///     `CancellationError` when the task is cancelled, as `Task.sleep` does.
///   - attempt: receives the attempt number, from 1.
public func retryUntilSuccess<Value>(
    isolation: isolated (any Actor)? = #isolation,
    backoff: RetryBackoff = RetryBackoff(),
    logger: Logger,
    message: Logger.Message,
    sleep: (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
    _ attempt: (_ attemptNumber: Int) async throws -> Value
) async throws -> Value {
    var failures = 0
    while true {
        try Task.checkCancellation()
        do {
            return try await attempt(failures + 1)
        } catch {
            // A cancelled attempt (or one that failed because the task was
            // cancelled) is not a failure to report.
            if error is CancellationError || Task.isCancelled { throw CancellationError() }
            failures = failures < Int.max - 1 ? failures + 1 : failures
            let delay = backoff.delay(afterFailures: failures)
            logger.warning(message, metadata: [
                "error": "\(error)",
                "attempt": "\(failures)",
                "retry_in": "\(delay)",
            ])
            try await sleep(delay)
        }
    }
}
