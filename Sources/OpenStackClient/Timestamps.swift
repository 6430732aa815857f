#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The timestamp formats OpenStack and HTTP use, as seconds since 1970 (UTC).
public enum Timestamps {
    /// The wall clock, in seconds since 1970.
    static func now() -> Double { Date().timeIntervalSince1970 }

    /// Reads ISO 8601 leniently: `2015-11-07T02:58:43.578887Z` (Keystone),
    /// `2013-09-03T04:01:32Z` (Nova), `2023-06-23T11:56:02.509831` (Cinder,
    /// naive UTC), `2014-10-30T12:30:00` (Trove), `+hh:mm` offsets and a
    /// space instead of the `T`. Nil for anything else.
    public static func parseISO8601(_ text: String) -> Double? {
        var scanner = Scanner(text.trimmingWhitespace())
        guard let year = scanner.digits(4), scanner.skip("-"),
            let month = scanner.digits(2), scanner.skip("-"),
            let day = scanner.digits(2), scanner.skip("T") || scanner.skip("t") || scanner.skip(" "),
            let hour = scanner.digits(2), scanner.skip(":"),
            let minute = scanner.digits(2), scanner.skip(":"),
            let second = scanner.digits(2)
        else { return nil }
        var fraction = 0.0
        if scanner.skip(".") || scanner.skip(",") {
            var scale = 0.1
            var any = false
            while let digit = scanner.digit() {
                fraction += Double(digit) * scale
                scale /= 10
                any = true
            }
            guard any else { return nil }
        }
        var offsetSeconds = 0
        if scanner.skip("Z") || scanner.skip("z") {
            // UTC
        } else if let sign = scanner.sign() {
            guard let offsetHours = scanner.digits(2), offsetHours <= 23 else { return nil }
            _ = scanner.skip(":")
            let offsetMinutes = scanner.digits(2) ?? 0
            guard offsetMinutes <= 59 else { return nil }
            offsetSeconds = sign * (offsetHours * 3600 + offsetMinutes * 60)
        }
        guard scanner.isAtEnd else { return nil }
        guard let base = epochSeconds(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        else { return nil }
        return Double(base - offsetSeconds) + fraction
    }

    /// Reads an HTTP-date (RFC 9110): `Sun, 06 Nov 1994 08:49:37 GMT`, the
    /// obsolete `Sunday, 06-Nov-94 08:49:37 GMT` and `Sun Nov  6 08:49:37 1994`.
    package static func parseHTTPDate(_ text: String) -> Double? {
        let tokens = text.split { $0 == " " || $0 == "," || $0 == "-" }.map(String.init)
        var day: Int?
        var month: Int?
        var year: Int?
        var time: (Int, Int, Int)?
        for token in tokens {
            if let index = monthNames.firstIndex(of: token.lowercased()) {
                month = index + 1
            } else if token.contains(":") {
                let parts = token.split(separator: ":").compactMap { Int($0) }
                guard parts.count == 3 else { return nil }
                time = (parts[0], parts[1], parts[2])
            } else if token.allSatisfy(\.isNumber), let value = Int(token) {
                if token.count == 4 {
                    year = value
                } else if day == nil {
                    day = value
                } else if token.count == 2 {
                    // RFC 850's two-digit year.
                    year = value < 70 ? 2000 + value : 1900 + value
                }
            }
        }
        guard let day, let month, let year, let time,
            let seconds = epochSeconds(
                year: year, month: month, day: day, hour: time.0, minute: time.1, second: time.2)
        else { return nil }
        return Double(seconds)
    }

    private static let monthNames = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ]

    /// Seconds since 1970 of a UTC civil time (Howard Hinnant's days_from_civil).
    static func epochSeconds(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) -> Int? {
        guard (1...12).contains(month), (1...31).contains(day), (0...23).contains(hour),
            (0...59).contains(minute), (0...60).contains(second)
        else { return nil }
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        return days * 86_400 + hour * 3600 + minute * 60 + second
    }
}

/// A cursor over the characters of a timestamp.
private struct Scanner {
    private let characters: [Character]
    private var position = 0

    init(_ text: String) { characters = Array(text) }

    var isAtEnd: Bool { position == characters.count }

    mutating func skip(_ character: Character) -> Bool {
        guard position < characters.count, characters[position] == character else { return false }
        position += 1
        return true
    }

    mutating func digit() -> Int? {
        guard position < characters.count, let value = characters[position].wholeNumberValue,
            characters[position].isASCII
        else { return nil }
        position += 1
        return value
    }

    mutating func digits(_ count: Int) -> Int? {
        let start = position
        var value = 0
        for _ in 0..<count {
            guard let next = digit() else {
                position = start
                return nil
            }
            value = value * 10 + next
        }
        return value
    }

    mutating func sign() -> Int? {
        if skip("+") { return 1 }
        if skip("-") { return -1 }
        return nil
    }
}

extension String {
    func trimmingWhitespace() -> String {
        let characters = Substring(self).drop { $0.isWhitespace }
        var end = characters.endIndex
        while end > characters.startIndex, characters[characters.index(before: end)].isWhitespace {
            end = characters.index(before: end)
        }
        return String(characters[..<end])
    }
}
