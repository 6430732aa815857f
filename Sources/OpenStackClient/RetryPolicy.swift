import CheckedNumbers

/// When a failed attempt is repeated, and after how long.
package struct RetryPolicy: Sendable {
    /// What one attempt came to, as far as retrying is concerned.
    package enum Outcome: Equatable {
        /// The service answered.
        case response(status: Int, retryAfterSeconds: Double?)
        /// No connection could be established: nothing was sent.
        case connectFailed
        /// The connection failed after the request may have been sent
        /// (reset, closed early) or no answer came in time.
        case failedAfterSending
        /// A failure that repeats itself (TLS verification, a shut-down
        /// session): retrying cannot help.
        case permanentFailure
    }

    var maxRetries: Int
    var baseDelay: Duration
    var maxDelay: Duration
    /// A number in 0...1 for the jitter (replaceable in tests).
    var random: @Sendable () -> Double = { Double.random(in: 0...1) }

    init(settings: OpenStackSettings) {
        maxRetries = settings.maxRetries
        baseDelay = settings.retryBaseDelay
        maxDelay = settings.maxRetryDelay
    }

    package init(maxRetries: Int, baseDelay: Duration, maxDelay: Duration, random: @escaping @Sendable () -> Double) {
        self.maxRetries = maxRetries
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.random = random
    }

    /// Statuses after which the same request may well succeed.
    static let transientStatuses: Set<Int> = [429, 500, 502, 503, 504]

    /// Whether `status` is worth repeating: 5xx gateway/overload answers, 429,
    /// and 413 when the service said when to come back (Nova and Cinder use
    /// 413 with `Retry-After` for rate limits; without it, 413 is a quota).
    static func isTransient(status: Int, retryAfterSeconds: Double?) -> Bool {
        transientStatuses.contains(status) || (status == 413 && retryAfterSeconds != nil)
    }

    /// Whether an answer says the request was turned away before the
    /// service acted on it, by a rate limit: 429, and 413 with a positive
    /// `Retry-After` (Cinder's rate-limit middleware, Nova's `overLimit`).
    /// Cinder's quota errors are 413 with `Retry-After: 0`: final.
    static func isRateLimited(status: Int, retryAfterSeconds: Double?) -> Bool {
        status == 429 || (status == 413 && (retryAfterSeconds ?? 0) > 0)
    }

    /// The delay before the next attempt, or nil when `outcome` is final.
    /// `retriesDone` counts the retries already made.
    ///
    /// A request that is not idempotent is repeated only when nothing was
    /// done with it: no connection could be made, or a rate limit turned
    /// it away. Any other answer, or a failure mid-request, might mean it
    /// took effect.
    package func delay(after outcome: Outcome, retriesDone: Int, isIdempotent: Bool) -> Duration? {
        guard retriesDone < maxRetries else { return nil }
        switch outcome {
        case .response(let status, let retryAfterSeconds):
            let retryable =
                isIdempotent
                ? Self.isTransient(status: status, retryAfterSeconds: retryAfterSeconds)
                : Self.isRateLimited(status: status, retryAfterSeconds: retryAfterSeconds)
            guard retryable else { return nil }
            // The header is the service's: `Retry-After: 1e300` waits maxDelay.
            if let retryAfterSeconds, let wait = Seconds.clamped(retryAfterSeconds, to: maxDelay) {
                return wait
            }
            return backoff(retriesDone: retriesDone)
        case .connectFailed:
            return backoff(retriesDone: retriesDone)
        case .failedAfterSending:
            return isIdempotent ? backoff(retriesDone: retriesDone) : nil
        case .permanentFailure:
            return nil
        }
    }

    /// Exponential backoff with full jitter: a random delay between 0 and
    /// `baseDelay * 2^retriesDone`, capped at `maxDelay`.
    package func backoff(retriesDone: Int) -> Duration {
        let exponent = min(retriesDone, 30)
        let ceiling = min(baseDelay * (1 << exponent), maxDelay)
        return ceiling * min(max(random(), 0), 1)
    }
}
