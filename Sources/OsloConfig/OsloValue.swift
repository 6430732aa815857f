import CheckedNumbers
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SystemSupport

/// A value that does not parse as the expected type; the loader adds the file,
/// line, section and key (``ConfigError``).
public struct InvalidValue: Error, Sendable, Hashable, CustomStringConvertible {
    /// What was expected, e.g. `expected an integer`.
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// An address to listen on: `host:port`, or `[v6 address]:port`.
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    /// An IP address or host name, without brackets.
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host:port`, with brackets around an IPv6 address.
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

/// Parsers for option values, with oslo.config's semantics where oslo has the
/// type (`oslo_config/types.py`) and this project's own for durations and
/// listen addresses. Input is the value as the INI reader returns it.
public enum OsloValue {
    /// oslo's Boolean: `true/1/on/yes` and `false/0/off/no`, case-insensitive.
    public static func boolean(_ text: String) throws(InvalidValue) -> Bool {
        switch text.lowercased() {
        case "true", "1", "on", "yes": return true
        case "false", "0", "off", "no": return false
        default: throw InvalidValue("expected a boolean: true/false, yes/no, on/off or 1/0")
        }
    }

    /// oslo's Integer: optional sign, decimal digits, `_` between digits (as
    /// Python's `int()`), surrounding white space ignored, bounds inclusive.
    ///
    /// oslo turns an empty value into None; a typed worker has no use for
    /// that, so it is an error here.
    public static func integer(_ text: String, min: Int? = nil, max: Int? = nil) throws(InvalidValue) -> Int {
        let trimmed = text.pythonStripped()
        guard !trimmed.isEmpty else {
            throw InvalidValue("expected an integer, found an empty value (remove the line to get the default)")
        }
        guard let value = parsePythonInteger(trimmed) else {
            throw InvalidValue("expected an integer")
        }
        try check(value, min: min, max: max)
        return value
    }

    /// oslo's Float: a decimal number (`1`, `1.5`, `2e3`); bounds inclusive.
    /// Infinities and NaN are refused.
    public static func float(_ text: String, min: Double? = nil, max: Double? = nil) throws(InvalidValue) -> Double {
        let trimmed = text.pythonStripped()
        guard !trimmed.isEmpty else {
            throw InvalidValue("expected a number, found an empty value (remove the line to get the default)")
        }
        guard let value = parseDecimalNumber(trimmed) else {
            throw InvalidValue("expected a number")
        }
        try check(value, min: min, max: max)
        return value
    }

    /// An oslo integer option that counts seconds, returned as a `Duration`.
    public static func seconds(_ text: String, min: Int? = nil, max: Int? = nil) throws(InvalidValue) -> Duration {
        try checkedDuration(Double(try integer(text, min: min, max: max)))
    }

    /// An oslo float option that counts seconds, returned as a `Duration`.
    public static func fractionalSeconds(_ text: String, min: Double? = nil, max: Double? = nil) throws(InvalidValue)
        -> Duration
    {
        try checkedDuration(try float(text, min: min, max: max))
    }

    /// Seconds from a file as a `Duration`, within ``Seconds/maximum``
    /// (366 days): longer waits mean nothing to a worker, and sleeping or
    /// adding deadlines with absurd durations could overflow.
    static func checkedDuration(_ seconds: Double) throws(InvalidValue) -> Duration {
        guard seconds.isFinite, abs(seconds) <= Seconds.maximum else {
            throw InvalidValue("must be at most \(formatNumber(Seconds.maximum)) seconds (366 days)")
        }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    /// This project's duration: a number with an optional unit, `ms`, `s`,
    /// `m` or `h`; no unit means seconds. `30`, `30s`, `250ms`, `1.5s`, `5m`, `1h`.
    public static func duration(_ text: String, min: Duration? = nil) throws(InvalidValue) -> Duration {
        let expected = "expected a duration such as 30 (seconds), 30s, 250ms, 5m or 1h"
        let trimmed = Substring(text.pythonStripped())
        let numberEnd = trimmed.firstIndex { !($0.isASCII && ($0.isNumber || $0 == ".")) } ?? trimmed.endIndex
        let number = trimmed[..<numberEnd]
        let unit = trimmed[numberEnd...].pythonStripped().lowercased()
        let unitSeconds: Int
        switch unit {
        case "ms": unitSeconds = 0
        case "", "s": unitSeconds = 1
        case "m": unitSeconds = 60
        case "h": unitSeconds = 3600
        default: throw InvalidValue(expected)
        }
        guard !number.isEmpty, number.first != ".", number.last != ".",
            number.filter({ $0 == "." }).count <= 1
        else {
            throw InvalidValue(expected)
        }
        let result: Duration
        if let whole = Int(number) {
            let (scaled, overflow) = whole.multipliedReportingOverflow(by: Swift.max(unitSeconds, 1))
            guard !overflow else { throw InvalidValue("\(expected); this one is too long") }
            result = unitSeconds == 0 ? .milliseconds(scaled) : .seconds(scaled)
        } else if let fraction = Double(number), fraction.isFinite, fraction < 1e15 {
            result = unitSeconds == 0 ? .milliseconds(fraction) : .seconds(fraction * Double(unitSeconds))
        } else {
            throw InvalidValue(expected)
        }
        if let min, result < min {
            throw InvalidValue("must be at least \(formatDuration(min))")
        }
        guard result <= .seconds(Seconds.maximum) else {
            throw InvalidValue("must be at most 366 days")
        }
        return result
    }

    /// oslo's ListOpt of strings: split at commas, items stripped, trailing
    /// commas ignored, empty text is the empty list. No quoting (oslo has none).
    public static func list(_ text: String) -> [String] {
        var trimmed = Substring(text.pythonStripped())
        while trimmed.last == "," { trimmed = trimmed.dropLast() }
        guard !trimmed.isEmpty else { return [] }
        return trimmed.split(separator: ",", omittingEmptySubsequences: false).map { $0.pythonStripped() }
    }

    /// oslo's String with `choices`: the value must be one of them (exactly,
    /// unless `ignoreCase`). Returns the choice as declared.
    public static func choice(_ text: String, in choices: [String], ignoreCase: Bool = false) throws(InvalidValue)
        -> String
    {
        let match = choices.first { ignoreCase ? $0.lowercased() == text.lowercased() : $0 == text }
        guard let match else {
            throw InvalidValue("expected one of: \(choices.joined(separator: ", "))")
        }
        return match
    }

    /// A URL with a scheme (`rabbit://…`, `postgresql+psycopg2://…`). Only the
    /// form is checked: multi-host transport URLs are not valid RFC 3986 URLs.
    public static func url(_ text: String) throws(InvalidValue) -> String {
        guard let separator = text.firstRange(of: "://") else {
            throw InvalidValue("expected a URL of the form scheme://...")
        }
        let scheme = text[..<separator.lowerBound]
        guard let first = scheme.first, first.isASCII, first.isLetter,
            scheme.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) })
        else {
            throw InvalidValue("expected a URL of the form scheme://... (the scheme is letters, digits, '+', '-', '.')")
        }
        return text
    }

    /// oslo's HostAddress: an IPv4 or IPv6 address or an RFC 1123 host name.
    /// A trailing dot is dropped, as oslo drops it.
    public static func hostAddress(_ text: String) throws(InvalidValue) -> String {
        if isIPv4Address(text) || isIPv6Address(text) { return text }
        let name = text.hasSuffix(".") ? String(text.dropLast()) : text
        guard isHostName(name) else {
            throw InvalidValue("expected an IP address or a host name")
        }
        return name
    }

    /// `host:port`, `[IPv6]:port`, or `off` or an empty value for "off" (nil).
    public static func listenAddress(_ text: String) throws(InvalidValue) -> ListenAddress? {
        let trimmed = text.pythonStripped()
        if trimmed.isEmpty || trimmed.lowercased() == "off" { return nil }
        let expected = "expected host:port such as 127.0.0.1:9469 or [::1]:9469, or off (or an empty value) to turn it off"
        let host: String
        let portText: Substring
        if trimmed.hasPrefix("[") {
            guard let close = trimmed.firstIndex(of: "]"),
                trimmed[trimmed.index(after: close)...].hasPrefix(":")
            else {
                throw InvalidValue(expected)
            }
            host = String(trimmed[trimmed.index(after: trimmed.startIndex)..<close])
            guard isIPv6Address(host) else { throw InvalidValue("\(expected); \(quoted(host)) is not an IPv6 address") }
            portText = trimmed[trimmed.index(close, offsetBy: 2)...]
        } else {
            guard let colon = trimmed.lastIndex(of: ":") else { throw InvalidValue(expected) }
            host = String(trimmed[..<colon])
            if host.contains(":") {
                throw InvalidValue("\(expected); write an IPv6 address in brackets")
            }
            guard !host.isEmpty else {
                throw InvalidValue("\(expected); write 0.0.0.0:port to listen on every IPv4 interface")
            }
            guard (try? hostAddress(host)) != nil else {
                throw InvalidValue("\(expected); \(quoted(host)) is not an IP address or host name")
            }
            portText = trimmed[trimmed.index(after: colon)...]
        }
        guard portText.allSatisfy({ $0.isASCII && $0.isNumber }), let port = Int(portText), (1...65535).contains(port)
        else {
            throw InvalidValue("\(expected); the port must be 1 to 65535")
        }
        return ListenAddress(host: host, port: port)
    }

    private static func check(_ value: Int, min: Int?, max: Int?) throws(InvalidValue) {
        if let min, value < min { throw InvalidValue("must be at least \(min)") }
        if let max, value > max { throw InvalidValue("must be at most \(max)") }
    }

    private static func check(_ value: Double, min: Double?, max: Double?) throws(InvalidValue) {
        if let min, value < min { throw InvalidValue("must be at least \(formatNumber(min))") }
        if let max, value > max { throw InvalidValue("must be at most \(formatNumber(max))") }
    }
}

/// `4.5`, and `0` rather than `0.0`, as Python's `%g` prints bounds.
func formatNumber(_ value: Double) -> String {
    if value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
    return String(value)
}

/// `30s`, `250ms`, `1.5s`, `5m`, `1h`: the shortest exact spelling.
func formatDuration(_ duration: Duration) -> String {
    let (seconds, attoseconds) = duration.components
    if attoseconds == 0 {
        if seconds != 0, seconds % 3600 == 0 { return "\(seconds / 3600)h" }
        if seconds != 0, seconds % 60 == 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }
    let attosecondsPerMillisecond: Int64 = 1_000_000_000_000_000
    if attoseconds % attosecondsPerMillisecond == 0 {
        return "\(seconds * 1000 + attoseconds / attosecondsPerMillisecond)ms"
    }
    return "\(Double(seconds) + Double(attoseconds) / 1e18)s"
}

/// Python's `int(text)` for base 10 (already stripped): sign, digits, single
/// underscores between digits.
private func parsePythonInteger(_ text: String) -> Int? {
    var body = Substring(text)
    var negative = false
    if let sign = body.first, sign == "+" || sign == "-" {
        negative = sign == "-"
        body = body.dropFirst()
    }
    guard let digits = removingDigitSeparators(body) else { return nil }
    guard let magnitude = Int(digits) else { return nil }
    return negative ? -magnitude : magnitude
}

/// A decimal number as Python's `float()` reads one, minus `inf` and `nan`.
private func parseDecimalNumber(_ text: String) -> Double? {
    guard text.allSatisfy({ $0.isASCII && ($0.isNumber || "+-.eE_".contains($0)) }) else { return nil }
    var cleaned = ""
    var previous: Character?
    for (offset, character) in text.enumerated() {
        if character == "_" {
            let next = text.dropFirst(offset + 1).first
            guard let previous, previous.isNumber, let next, next.isNumber else { return nil }
        } else {
            cleaned.append(character)
        }
        previous = character
    }
    guard let value = Double(cleaned), value.isFinite else { return nil }
    return value
}

/// ASCII digits with optional single underscores between them, without the underscores.
private func removingDigitSeparators(_ text: Substring) -> String? {
    guard let first = text.first, first.isASCII, first.isNumber, let last = text.last, last.isNumber else {
        return nil
    }
    var result = ""
    var previousWasUnderscore = false
    for character in text {
        if character == "_" {
            if previousWasUnderscore { return nil }
            previousWasUnderscore = true
            continue
        }
        guard character.isASCII, character.isNumber else { return nil }
        previousWasUnderscore = false
        result.append(character)
    }
    return result
}

func isIPv4Address(_ text: String) -> Bool {
    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
    return parts.count == 4
        && parts.allSatisfy { part in
            !part.isEmpty && part.count <= 3 && part.allSatisfy { $0.isASCII && $0.isNumber }
                && Int(part).map { $0 <= 255 } == true
        }
}

func isIPv6Address(_ text: String) -> Bool {
    guard text.contains(":") else { return false }
    var groups = text.unicodeScalars.split(separator: ":", omittingEmptySubsequences: false).map { String($0) }
    var maximumGroups = 8
    if let last = groups.last, last.contains(".") {
        // An embedded IPv4 address (`::ffff:10.0.0.1`) counts as two groups.
        guard isIPv4Address(last) else { return false }
        groups.removeLast()
        groups.append("0")
        maximumGroups = 7
    }
    let compressions = countingLiterally(text, "::")
    guard compressions <= 1, !text.contains(":::") else { return false }
    // "::" yields empty groups at the compression point; ":" alone at an end does not count.
    if compressions == 0 {
        guard groups.count == maximumGroups, groups.allSatisfy({ !$0.isEmpty }) else { return false }
    } else {
        if text.hasPrefix(":"), !text.hasPrefix("::") { return false }
        if text.hasSuffix(":"), !text.hasSuffix("::") { return false }
        guard groups.filter({ !$0.isEmpty }).count < maximumGroups else { return false }
    }
    return groups.allSatisfy { group in
        group.count <= 4 && group.allSatisfy { $0.isHexDigit && $0.isASCII }
    }
}

/// RFC 1123 labels of letters, digits and hyphens; the last label is not all
/// digits (so `1.2.3` is neither an address nor a name, as in oslo).
func isHostName(_ text: String) -> Bool {
    guard !text.isEmpty, text.utf8.count <= 253 else { return false }
    let labels = text.split(separator: ".", omittingEmptySubsequences: false)
    guard
        labels.allSatisfy({ label in
            (1...63).contains(label.count) && label.first != "-" && label.last != "-"
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        })
    else { return false }
    return labels.last.map { !$0.allSatisfy(\.isNumber) } ?? false
}
