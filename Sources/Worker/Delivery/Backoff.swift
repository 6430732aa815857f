/// Exponential backoff: the one retry schedule of the worker's loops
/// (results, relays, start claims, consuming again).
public struct Backoff: Sendable, Equatable {
    public let initial: Duration
    public let maximum: Duration
    public private(set) var current: Duration

    public init(initial: Duration, maximum: Duration) {
        self.initial = max(initial, .zero)
        self.maximum = max(maximum, self.initial)
        self.current = self.initial
    }

    /// The delay before the next attempt; each call doubles it, up to `maximum`.
    public mutating func next() -> Duration {
        let delay = current
        current = current > maximum / 2 ? maximum : min(current * 2, maximum)
        return delay
    }

    public mutating func reset() {
        current = initial
    }

    /// Results and relays: 200 ms doubling to 5 s.
    public static let publishing = Backoff(initial: .milliseconds(200), maximum: .seconds(5))
    /// Reaching a server that is down: 1 s doubling to 30 s.
    public static let reconnecting = Backoff(initial: .seconds(1), maximum: .seconds(30))
}
