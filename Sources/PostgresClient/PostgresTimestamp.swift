#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Conversions between `Date` and PostgreSQL's ISO text form of `timestamp`,
/// `timestamptz` and `date`, done with integer calendar arithmetic (proleptic
/// Gregorian, as PostgreSQL counts) rather than `Calendar`, so they are exact
/// to the microsecond and independent of the process's time zone.
enum PostgresTimestamp {
    private static let secondsPerDay: Int64 = 86_400
    private static let microsecondsPerSecond: Int64 = 1_000_000
    /// Seconds from 1970-01-01 to 2001-01-01, `Date`'s reference date.
    private static let referenceDateOffset: Int64 = 978_307_200

    /// `2024-05-06 07:08:09.123456+00` (UTC, microseconds; `BC` before year 1).
    /// nil for dates PostgreSQL cannot store.
    static func format(_ date: Date) -> String? {
        let interval = date.timeIntervalSinceReferenceDate
        // PostgreSQL's range is 4713 BC to 294276 AD; stay well inside Int64.
        guard interval.isFinite, abs(interval) < 9.0e12 else { return nil }
        let wholeSeconds = interval.rounded(.down)
        var microseconds = Int64(((interval - wholeSeconds) * 1e6).rounded())
        var seconds = Int64(wholeSeconds) + referenceDateOffset
        if microseconds == microsecondsPerSecond {
            seconds += 1
            microseconds = 0
        }
        let days = floorDivide(seconds, secondsPerDay)
        let secondOfDay = seconds - days * secondsPerDay
        let (year, month, day) = civilDate(fromDaysSince1970: days)
        let bc = year <= 0
        let displayYear = bc ? 1 - year : year
        var text = pad(displayYear, 4) + "-" + pad(month, 2) + "-" + pad(day, 2)
        text += " " + pad(secondOfDay / 3600, 2) + ":" + pad(secondOfDay / 60 % 60, 2) + ":" + pad(secondOfDay % 60, 2)
        text += "." + pad(microseconds, 6) + "+00"
        if bc { text += " BC" }
        return text
    }

    /// Reads `YYYY-MM-DD[ HH:MM:SS[.ffffff]][±HH[:MM[:SS]]][ BC]`. Without an
    /// offset the time is taken as UTC (Mistral stores naive UTC). nil for text
    /// that is not in this form (including `infinity`).
    static func parse(_ text: String) -> Date? {
        var scanner = Scanner(Array(text.utf8))
        guard let year = scanner.integer(minimumDigits: 4), scanner.skip("-"),
              let month = scanner.integer(exactDigits: 2), scanner.skip("-"),
              let day = scanner.integer(exactDigits: 2),
              (1...12).contains(month), (1...31).contains(day)
        else { return nil }

        var secondOfDay: Int64 = 0
        var microseconds: Int64 = 0
        var offsetSeconds: Int64 = 0
        if scanner.skip(" ") || scanner.skip("T") {
            if scanner.peek(isDigit: true) {
                guard let hour = scanner.integer(exactDigits: 2), scanner.skip(":"),
                      let minute = scanner.integer(exactDigits: 2), scanner.skip(":"),
                      let second = scanner.integer(exactDigits: 2),
                      hour <= 24, minute < 60, second <= 60
                else { return nil }
                secondOfDay = hour * 3600 + minute * 60 + second
                if scanner.skip(".") {
                    var digits = 0
                    while scanner.peek(isDigit: true), let digit = scanner.digit() {
                        if digits < 6 { microseconds = microseconds * 10 + digit }
                        digits += 1
                    }
                    guard digits > 0 else { return nil }
                    for _ in min(digits, 6)..<6 { microseconds *= 10 }
                }
                if scanner.peek("+") || scanner.peek("-") {
                    let negative = scanner.skip("-")
                    if !negative { _ = scanner.skip("+") }
                    guard let hours = scanner.integer(exactDigits: 2) else { return nil }
                    var offset = hours * 3600
                    if scanner.skip(":") {
                        guard let minutes = scanner.integer(exactDigits: 2) else { return nil }
                        offset += minutes * 60
                        if scanner.skip(":") {
                            guard let seconds = scanner.integer(exactDigits: 2) else { return nil }
                            offset += seconds
                        }
                    }
                    offsetSeconds = negative ? -offset : offset
                } else if scanner.skip("Z") {
                    offsetSeconds = 0
                }
            } else {
                scanner.unskip()  // the space before "BC"
            }
        }
        var astronomicalYear = year
        if scanner.skip(" BC") {
            astronomicalYear = 1 - year
        }
        guard scanner.isAtEnd else { return nil }

        let days = daysSince1970(year: astronomicalYear, month: month, day: day)
        let seconds = days * secondsPerDay + secondOfDay - offsetSeconds - referenceDateOffset
        return Date(timeIntervalSinceReferenceDate: Double(seconds) + Double(microseconds) / 1e6)
    }

    // MARK: Calendar arithmetic

    /// Days from 1970-01-01 to the given proleptic-Gregorian date (year 0 is 1 BC).
    static func daysSince1970(year: Int64, month: Int64, day: Int64) -> Int64 {
        // Count from a March-based year so the leap day is the year's last day.
        let marchYear = month <= 2 ? year - 1 : year
        let era = floorDivide(marchYear, 400)
        let yearOfEra = marchYear - era * 400
        let dayOfMarchYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfMarchYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The inverse of `daysSince1970`.
    static func civilDate(fromDaysSince1970 days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let shifted = days + 719_468
        let era = floorDivide(shifted, 146_097)
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfMarchYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let marchMonth = (5 * dayOfMarchYear + 2) / 153
        let day = dayOfMarchYear - (153 * marchMonth + 2) / 5 + 1
        let month = marchMonth < 10 ? marchMonth + 3 : marchMonth - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }

    private static func floorDivide(_ dividend: Int64, _ divisor: Int64) -> Int64 {
        let quotient = dividend / divisor
        return (dividend % divisor != 0 && (dividend < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    /// A cursor over ASCII bytes.
    private struct Scanner {
        let bytes: [UInt8]
        var position = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var isAtEnd: Bool { position == bytes.count }

        func peek(isDigit: Bool) -> Bool {
            position < bytes.count && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) == isDigit
        }

        func peek(_ literal: String) -> Bool {
            let literalBytes = Array(literal.utf8)
            return bytes.count - position >= literalBytes.count
                && Array(bytes[position..<position + literalBytes.count]) == literalBytes
        }

        mutating func skip(_ literal: String) -> Bool {
            guard peek(literal) else { return false }
            position += literal.utf8.count
            return true
        }

        mutating func unskip() { position -= 1 }

        mutating func digit() -> Int64? {
            guard peek(isDigit: true) else { return nil }
            defer { position += 1 }
            return Int64(bytes[position] - UInt8(ascii: "0"))
        }

        mutating func integer(exactDigits count: Int) -> Int64? {
            var value: Int64 = 0
            for _ in 0..<count {
                guard let digit = digit() else { return nil }
                value = value * 10 + digit
            }
            return value
        }

        mutating func integer(minimumDigits count: Int) -> Int64? {
            var value: Int64 = 0
            var digits = 0
            while digits < 9, let digit = digit() {
                value = value * 10 + digit
                digits += 1
            }
            return digits >= count ? value : nil
        }
    }
}
