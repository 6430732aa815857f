/// The delays between connection attempts: exponential backoff with jitter.
struct ReconnectSchedule {
    let settings: AMQPConfiguration.ReconnectBackoff
    /// Failed rounds since the last successful connection.
    private(set) var failures = 0

    init(settings: AMQPConfiguration.ReconnectBackoff) {
        self.settings = settings
    }

    /// The delay before the next attempt after one more failed round.
    mutating func nextDelay(using generator: inout some RandomNumberGenerator) -> Duration {
        let initial = Self.seconds(settings.initial)
        let maximum = max(Self.seconds(settings.maximum), 0)
        var base = initial * pow(max(settings.multiplier, 1), failures)
        if !base.isFinite || base > maximum {
            base = maximum
        } else {
            failures += 1
        }
        let jitter = min(max(settings.jitter, 0), 1)
        let delay = jitter > 0 ? base * (1 - jitter * Double.random(in: 0...1, using: &generator)) : base
        // At most 9e9 s, so that the nanoseconds fit in Int64 whatever the
        // configuration says.
        return .nanoseconds(Int64((min(max(delay, 0), 9e9) * 1e9).rounded()))
    }

    /// Back to the initial delay (after a successful connection).
    mutating func reset() {
        failures = 0
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    private func pow(_ base: Double, _ exponent: Int) -> Double {
        var result = 1.0
        for _ in 0..<exponent {
            result *= base
            if result > 1e12 {
                break
            }
        }
        return result
    }
}
