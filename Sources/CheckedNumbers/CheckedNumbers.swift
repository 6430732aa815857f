/// Conversions of numbers that come from outside (a message, an action's
/// input, an HTTP header, a database row, a configuration file) into the
/// integers and durations the code works with.
///
/// Swift traps when a `Double` that is NaN, infinite or out of range becomes
/// an integer (`Int64(1e300)`), and `Duration` arithmetic traps on overflow.
/// A worker serves every project of a cloud, so one absurd number must never
/// stop it: every such conversion goes through these helpers, which either
/// return a value in range or a ``NumberOutOfRange`` error that names the
/// value and the range.

/// A number from outside that cannot be used: not finite, negative where
/// only non-negative values mean something, or past a documented maximum.
public struct NumberOutOfRange: Error, Sendable, Hashable, CustomStringConvertible {
    /// What the number is, as the user named it (`seconds`, `wait_timeout`,
    /// `Retry-After`).
    public var name: String
    /// The value as it was given.
    public var value: Double
    /// The accepted range, for the message.
    public var range: String

    public init(name: String, value: Double, range: String) {
        self.name = name
        self.value = value
        self.range = range
    }

    public var description: String {
        "\(name) must be \(range), got \(Self.format(value))"
    }

    /// A number the way Python prints it (`1e+300`, `inf`, `nan`, `5`, `0.5`),
    /// so messages read like Mistral's own.
    public static func format(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value < 0 ? "-inf" : "inf" }
        if let whole = Int64(wholeNumber: value), abs(value) < 1e16 { return String(whole) }
        return String(value)
    }
}

extension Int64 {
    /// The integer `value` holds exactly, or `nil` when it has a fraction, is
    /// not finite or lies outside `Int64` (`-0.0` gives 0).
    @inlinable
    public init?(wholeNumber value: Double) {
        // Int64(exactly:) is nil for fractions, NaN, infinities and values
        // outside the range; it never traps.
        guard let exact = Int64(exactly: value) else { return nil }
        self = exact
    }

    /// `value` rounded toward zero when it lies in `range`, else `nil`
    /// (NaN and infinities are never in range).
    @inlinable
    public init?(truncating value: Double, within range: ClosedRange<Int64>) {
        guard value.isFinite else { return nil }
        // Int64(exactly:) is nil past the range instead of trapping.
        guard let whole = Int64(exactly: value.rounded(.towardZero)), range.contains(whole) else { return nil }
        self = whole
    }
}

/// Seconds from outside turned into `Duration`s.
public enum Seconds {
    /// The longest duration a number from outside may ask for: 366 days
    /// (31,622,400 s). It is past any timeout, wait or delay that makes
    /// sense for an action, and far from where `Duration` arithmetic or a
    /// sleep's deadline could overflow.
    public static let maximum: Double = 31_622_400

    /// `seconds` as a `Duration`, exact to the millisecond.
    ///
    /// Accepts finite numbers in `0...maximum` (`-0` is 0); anything else
    /// (NaN, ±infinity, negative, past `maximum`) throws ``NumberOutOfRange``
    /// naming `name`.
    public static func duration(
        _ seconds: Double, name: String, maximum: Double = Seconds.maximum
    ) throws(NumberOutOfRange) -> Duration {
        let limit = Swift.min(maximum, Seconds.maximum)
        guard seconds.isFinite, seconds >= 0, seconds <= limit else {
            throw NumberOutOfRange(
                name: name, value: seconds,
                range: "a number of seconds between 0 and \(NumberOutOfRange.format(limit))"
            )
        }
        // In range, so the product is at most ~3.2e10: exact in Int64.
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    /// `seconds` as a `Duration` no longer than `cap`, for values that only
    /// shorten or lengthen a wait the worker chooses itself (a `Retry-After`
    /// header): NaN and negative values give `nil` (ignore the value),
    /// anything past `cap` (infinity included) gives `cap`.
    public static func clamped(_ seconds: Double, to cap: Duration) -> Duration? {
        guard !seconds.isNaN, seconds >= 0 else { return nil }
        let capSeconds = Self.seconds(of: cap)
        guard seconds < capSeconds, seconds <= Self.maximum else { return cap }
        return .milliseconds(Int64((seconds * 1000).rounded(.up)))
    }

    /// A `Duration` in seconds, as a `Double` (for messages and comparisons).
    public static func seconds(of duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
