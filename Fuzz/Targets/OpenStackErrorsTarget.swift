import OpenStackClient

/// An OpenStack answer taken the way the client takes it: the status and
/// body through `OpenStackClient.response(from:call:)` (error envelopes,
/// redaction), the `Retry-After` header through `RetryAfter.seconds` and the
/// retry policy's delay, and the header and body text through the
/// timestamp readers.
///
/// Input: a first line `<status> <Retry-After value>` (or, without three
/// leading digits, just the `Retry-After` value with status 503), then the
/// body. Without a newline the whole input is both the header and the body.
public enum OpenStackErrorsTarget {
    public struct Outcome: Sendable, Equatable, CustomStringConvertible {
        public var status: Int
        /// The client's error for the answer, or nil when it was accepted.
        public var error: String?
        /// What `Retry-After` came to, in seconds.
        public var retryAfterSeconds: Double?
        /// The delay before the first retry of an idempotent request, if any.
        public var idempotentDelay: Duration?
        /// The same for a request that is not idempotent.
        public var nonIdempotentDelay: Duration?

        public var description: String {
            "\(status): error \(error ?? "-"), Retry-After \(retryAfterSeconds.map { "\($0)" } ?? "-") s, "
                + "delays \(idempotentDelay.map { "\($0)" } ?? "-") / \(nonIdempotentDelay.map { "\($0)" } ?? "-")"
        }
    }

    /// A fixed "now" for HTTP-date values, so replays are reproducible.
    public static let now: Double = 1_800_000_000

    static let secret = "gAAAAAB-fuzz-secret-token"

    public static func run(_ data: [UInt8]) -> Outcome {
        let newline = data.firstIndex(of: UInt8(ascii: "\n"))
        let firstLine = data[..<(newline ?? data.endIndex)]
        let body = newline.map { Array(data[($0 + 1)...]) } ?? data
        var status = 503
        var header = String(decoding: firstLine, as: UTF8.self)
        let digits = firstLine.prefix(3)
        if digits.count == 3, digits.allSatisfy({ (0x30...0x39).contains($0) }) {
            status = digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }
            header = String(decoding: firstLine.dropFirst(3).drop { $0 == UInt8(ascii: " ") }, as: UTF8.self)
        }

        let result = HTTPResult(status: status, headers: [(name: "Retry-After", value: header)], body: body)
        let call = HTTPCall(
            service: .blockStorage, method: "GET", url: "http://127.0.0.1:1/v3/backups", path: "/backups", headers: [],
            body: nil, isIdempotent: true, tls: .standard, redaction: Redaction(secrets: [secret]))
        var outcome = Outcome(status: status)
        do {
            _ = try OpenStackClient.response(from: result, call: call)
        } catch {
            outcome.error = "\(error)"
        }
        let seconds = RetryAfter.seconds(header, now: now)
        outcome.retryAfterSeconds = seconds
        let policy = RetryPolicy(maxRetries: 4, baseDelay: .milliseconds(500), maxDelay: .seconds(30), random: { 0.5 })
        let answer = RetryPolicy.Outcome.response(status: status, retryAfterSeconds: seconds)
        outcome.idempotentDelay = policy.delay(after: answer, retriesDone: 0, isIdempotent: true)
        outcome.nonIdempotentDelay = policy.delay(after: answer, retriesDone: 0, isIdempotent: false)
        _ = policy.backoff(retriesDone: Int(body.first ?? 0))

        // Timestamps reach the client in bodies (expires_at, created_at) and headers.
        _ = Timestamps.parseISO8601(header)
        _ = Timestamps.parseHTTPDate(header)
        let bodyText = String(decoding: body.prefix(256), as: UTF8.self)
        _ = Timestamps.parseISO8601(bodyText)
        _ = Timestamps.parseHTTPDate(bodyText)
        return outcome
    }
}

extension OpenStackErrorsTarget.Outcome {
    init(status: Int) {
        self.status = status
    }
}
