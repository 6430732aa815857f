import Testing

@testable import OpenStackClient

/// A `Retry-After` header is the service's: any number it holds must give a
/// wait the policy allows, never a trap.
@Suite("Absurd Retry-After headers")
struct HostileHeaderTests {
    let policy = RetryPolicy(maxRetries: 3, baseDelay: .milliseconds(100), maxDelay: .seconds(2), random: { 1 })

    @Test("Retry-After of 1e300, 1e19 or 10^22 waits the policy's maximum", arguments: ["1e300", "1e19", "99999999999999999999999"])
    func hugeRetryAfter(header: String) {
        let seconds = RetryAfter.seconds(header)
        #expect(policy.delay(after: .response(status: 429, retryAfterSeconds: seconds), retriesDone: 0, isIdempotent: true) == .seconds(2))
    }

    @Test("a NaN, infinite, negative or unreadable Retry-After falls back to the backoff", arguments: ["nan", "1e400", "inf", "-5", "-inf", "soon", ""])
    func unusableRetryAfter(header: String) {
        let seconds = RetryAfter.seconds(header)
        #expect(policy.delay(after: .response(status: 503, retryAfterSeconds: seconds), retriesDone: 0, isIdempotent: true) == .milliseconds(100))
    }

    @Test("a NaN or negative number reaching the policy directly is ignored, not converted", arguments: [Double.nan, -1, -Double.infinity])
    func directNonFinite(seconds: Double) {
        #expect(policy.delay(after: .response(status: 429, retryAfterSeconds: seconds), retriesDone: 0, isIdempotent: true) == .milliseconds(100))
    }

    @Test("an HTTP date far in the future waits the maximum")
    func farFutureDate() {
        let seconds = RetryAfter.seconds("Fri, 31 Dec 9999 23:59:59 GMT")
        #expect(policy.delay(after: .response(status: 429, retryAfterSeconds: seconds), retriesDone: 0, isIdempotent: true) == .seconds(2))
    }
}
