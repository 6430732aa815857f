/// When a failed attempt is repeated, and after how long.
struct RetryPolicy: Sendable {
    /// What one attempt came to, as far as retrying is concerned.
    enum Outcome: Equatable {
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

    init(maxRetries: Int, baseDelay: Duration, maxDelay: Duration, random: @escaping @Sendable () -> Double) {
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

    /// The delay before the next attempt, or nil when `outcome` is final.
    /// `retriesDone` counts the retries already made.
    ///
    /// A request that is not idempotent is repeated only when nothing was
    /// sent: any answer or a failure mid-request might mean it took effect.
    func delay(after outcome: Outcome, retriesDone: Int, isIdempotent: Bool) -> Duration? {
        guard retriesDone < maxRetries else { return nil }
        switch outcome {
        case .response(let status, let retryAfterSeconds):
            guard isIdempotent, Self.isTransient(status: status, retryAfterSeconds: retryAfterSeconds) else {
                return nil
            }
            if let retryAfterSeconds {
                return min(.milliseconds(Int64((retryAfterSeconds * 1000).rounded(.up))), maxDelay)
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
    func backoff(retriesDone: Int) -> Duration {
        let exponent = min(retriesDone, 30)
        let ceiling = min(baseDelay * (1 << exponent), maxDelay)
        return ceiling * min(max(random(), 0), 1)
    }
}
