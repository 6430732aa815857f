import Foundation

/// A point in time with microsecond precision, in the formats each OpenStack service writes.
///
/// Kept as integer microseconds since the Unix epoch so that ordering (Cinder's
/// `data_timestamp`, Trove's `updated`) is exact and formatting needs no calendar API.
struct Timestamp: Comparable, Hashable, Sendable {
    var microseconds: Int64

    init(microseconds: Int64) {
        self.microseconds = microseconds
    }

    /// The wall clock now.
    static func wallClock() -> Timestamp {
        Timestamp(microseconds: Int64((Date().timeIntervalSince1970 * 1_000_000).rounded()))
    }

    static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.microseconds < rhs.microseconds
    }

    /// This time moved by `seconds` (may be negative).
    func adding(seconds: Double) -> Timestamp {
        let (sum, overflow) = microseconds.addingReportingOverflow(Self.microseconds(seconds))
        return Timestamp(microseconds: overflow ? (seconds > 0 ? Self.latest : -Self.latest) : max(-Self.latest, min(Self.latest, sum)))
    }

    /// About 146,000 years: far enough for any test, far from overflowing.
    static let latest = Int64.max / 2

    /// Seconds (from a request or a setting: possibly 1e300, NaN or
    /// infinite) as microseconds, saturating instead of trapping; NaN is 0.
    static func microseconds(_ seconds: Double) -> Int64 {
        let value = (seconds * 1_000_000).rounded()
        guard !value.isNaN else { return 0 }
        if value >= Double(latest) { return latest }
        if value <= -Double(latest) { return -latest }
        return Int64(value)
    }

    /// Seconds from `other` to this time.
    func seconds(since other: Timestamp) -> Double {
        Double(microseconds - other.microseconds) / 1_000_000
    }

    // MARK: Formats (api-facts §0)

    /// Keystone: `2015-11-07T02:58:43.578887Z`.
    var keystoneFormat: String { format(fraction: true, zulu: true) }
    /// Nova and Glance: `2013-09-03T04:01:32Z`.
    var novaFormat: String { format(fraction: false, zulu: true) }
    /// Cinder: `2023-06-23T11:56:02.509831` (naive UTC).
    var cinderFormat: String { format(fraction: true, zulu: false) }
    /// Trove: `2014-10-30T12:30:00` (naive UTC).
    var troveFormat: String { format(fraction: false, zulu: false) }

    private func format(fraction: Bool, zulu: Bool) -> String {
        let (seconds, micros) = floorDivide(microseconds, 1_000_000)
        let (days, secondOfDay) = floorDivide(seconds, 86_400)
        let (year, month, day) = Self.civilDate(fromDays: days)
        var text = pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2)
        text += "T" + pad(secondOfDay / 3600, 2) + ":" + pad(secondOfDay / 60 % 60, 2) + ":" + pad(secondOfDay % 60, 2)
        if fraction { text += "." + pad(micros, 6) }
        if zulu { text += "Z" }
        return text
    }

    // MARK: Parsing

    /// Parses ISO 8601 as the services write it, leniently: `T` or a space, optional
    /// fraction, optional `Z` or `±HH:MM` (a missing zone means UTC, as in Cinder and Trove).
    init?(parsing text: String) {
        let bytes = Array(text.utf8)
        var position = 0
        func number(_ digits: Int) -> Int64? {
            guard position + digits <= bytes.count else { return nil }
            var value: Int64 = 0
            for byte in bytes[position..<position + digits] {
                guard byte >= 48, byte <= 57 else { return nil }
                value = value * 10 + Int64(byte - 48)
            }
            position += digits
            return value
        }
        func expect(_ characters: String) -> Bool {
            guard position < bytes.count, characters.utf8.contains(bytes[position]) else { return false }
            position += 1
            return true
        }
        guard let year = number(4), expect("-"), let month = number(2), expect("-"), let day = number(2),
            (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        var secondOfDay: Int64 = 0
        var micros: Int64 = 0
        var offsetSeconds: Int64 = 0
        if position < bytes.count {
            guard expect("T "), let hour = number(2), expect(":"), let minute = number(2), hour < 24, minute < 60
            else { return nil }
            var second: Int64 = 0
            if position < bytes.count, bytes[position] == UInt8(ascii: ":") {
                position += 1
                guard let value = number(2), value < 61 else { return nil }
                second = value
            }
            secondOfDay = hour * 3600 + minute * 60 + second
            if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
                position += 1
                var digits = 0
                while position < bytes.count, bytes[position] >= 48, bytes[position] <= 57 {
                    if digits < 6 { micros = micros * 10 + Int64(bytes[position] - 48) }
                    digits += 1
                    position += 1
                }
                guard digits > 0 else { return nil }
                for _ in digits..<max(digits, 6) { micros *= 10 }
            }
            if position < bytes.count {
                if expect("Zz") {
                    // UTC
                } else if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                    let sign: Int64 = bytes[position] == UInt8(ascii: "-") ? -1 : 1
                    position += 1
                    guard let hours = number(2) else { return nil }
                    _ = expect(":")
                    guard let minutes = number(2) else { return nil }
                    offsetSeconds = sign * (hours * 3600 + minutes * 60)
                } else {
                    return nil
                }
            }
        }
        guard position == bytes.count else { return nil }
        let days = Self.days(fromCivilYear: year, month: month, day: day)
        microseconds = ((days * 86_400) + secondOfDay - offsetSeconds) * 1_000_000 + micros
    }

    // MARK: Calendar arithmetic (proleptic Gregorian, UTC)

    private static func civilDate(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func days(fromCivilYear year: Int64, month: Int64, day: Int64) -> Int64 {
        let adjustedYear = month <= 2 ? year - 1 : year
        let era = (adjustedYear >= 0 ? adjustedYear : adjustedYear - 399) / 400
        let yearOfEra = adjustedYear - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}

private func floorDivide(_ value: Int64, _ divisor: Int64) -> (Int64, Int64) {
    var quotient = value / divisor
    var remainder = value % divisor
    if remainder < 0 {
        quotient -= 1
        remainder += divisor
    }
    return (quotient, remainder)
}

private func pad(_ value: Int64, _ width: Int) -> String {
    let digits = String(value)
    return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
}

/// The simulator's clock: the wall clock plus an offset tests can move forward (instead of
/// sleeping through transition delays), never returning the same instant twice so that
/// resources created in quick succession still have a strict order (Cinder picks parents by timestamp).
struct MonotonicClock: Sendable {
    private var last = Timestamp(microseconds: 0)
    /// How far the clock has been moved ahead of the wall clock.
    private(set) var offsetMicroseconds: Int64 = 0

    /// The current time, without advancing the uniqueness counter.
    var current: Timestamp {
        let shifted = Timestamp(microseconds: Timestamp.wallClock().microseconds + offsetMicroseconds)
        return shifted > last ? shifted : last
    }

    mutating func now() -> Timestamp {
        let shifted = Timestamp(microseconds: Timestamp.wallClock().microseconds + offsetMicroseconds)
        last = shifted > last ? shifted : Timestamp(microseconds: last.microseconds + 1)
        return last
    }

    /// Moves the clock `seconds` ahead.
    mutating func skip(seconds: Double) {
        let (sum, overflow) = offsetMicroseconds.addingReportingOverflow(Timestamp.microseconds(max(0, seconds)))
        offsetMicroseconds = overflow ? Timestamp.latest : min(sum, Timestamp.latest)
    }
}
