#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
#if canImport(Glibc)
private let systemWrite = Glibc.write
#elseif canImport(Darwin)
private let systemWrite = Darwin.write
#endif
import Logging
import OsloConfig
import Synchronization

/// Sets up swift-log once per process: human lines or JSON objects on
/// standard error, at the configured level. When standard error is
/// journald's stream (a systemd service), every line starts with its
/// syslog priority and human lines leave the time to journald.
enum LoggingSetup {
    private static let done = Mutex(false)

    static func bootstrap(format: Configuration.LogFormat, level: Configuration.LogLevel) {
        let first = done.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        let swiftLevel = Logger.Level(rawValue: level.rawValue) ?? .info
        let journal = JournalStream.isStandardError(variable: ProcessInfo.processInfo.environment["JOURNAL_STREAM"])
        LoggingSystem.bootstrap { label in
            var handler = LineLogHandler(label: label, format: format, journal: journal)
            handler.logLevel = swiftLevel
            return handler
        }
    }

    static func logger(_ configuration: Configuration, label: String = "mistral-actions") -> Logger {
        bootstrap(format: configuration.mistralActions.logFormat, level: configuration.mistralActions.logLevel)
        return Logger(label: label)
    }
}

/// Writes whole lines to standard error, one line at a time, so that lines
/// of concurrent tasks never interleave (a pipe splits writes longer than
/// PIPE_BUF, so one `write` per line is not enough on its own).
enum StandardErrorLines {
    private static let lock = Mutex(())

    static func write(_ line: String) {
        var text = line
        text.append("\n")
        lock.withLock { _ in
            text.withUTF8 { buffer in
                guard let base = buffer.baseAddress else { return }
                var offset = 0
                while offset < buffer.count {
                    let written = systemWrite(STDERR_FILENO, base + offset, buffer.count - offset)
                    if written < 0 && errno == EINTR { continue }
                    if written <= 0 { return }
                    offset += written
                }
            }
        }
    }
}

/// One line per event on standard error, in one of two formats:
///
/// - human: `2026-11-25T02:10:00.123Z info    action succeeded action.name=int32bit.debug.echo ...`
/// - json: `{"@timestamp": ..., "action": ..., "action_execution_id": ..., "level": ..., "logger": ..., "message": ...}`
///
/// Under journald (``JournalStream``) each line starts with its syslog
/// priority, `<3>` for an error..., which journald strips and records as the
/// entry's level; human lines then have no time of their own.
///
/// Logged values come from tenants (action inputs, server error bodies), so
/// every event is exactly one line whatever they hold: see ``LogLine``.
struct LineLogHandler: LogHandler {
    let label: String
    let format: Configuration.LogFormat
    /// Whether standard error is journald's stream.
    var journal = false
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        // Precedence: the provider's metadata, then the handler's, then the
        // event's own, then its error. Pairs in an array rather than merged
        // dictionaries: a line has about ten keys, and this runs for every
        // action.
        var pairs: [(key: String, value: String)] = []
        pairs.reserveCapacity(metadata.count + (event.metadata?.count ?? 0) + 1)
        if let provided = metadataProvider?.get() { for (key, value) in provided { pairs.append((key, Self.text(value))) } }
        for (key, value) in metadata { pairs.append((key, Self.text(value))) }
        if let explicit = event.metadata { for (key, value) in explicit { pairs.append((key, Self.text(value))) } }
        if let error = event.error { pairs.append(("error", "\(error)")) }
        StandardErrorLines.write(LogLine.render(
            format: format, time: Timestamp.now(), level: event.level, label: label,
            message: event.message.description, sortedMetadata: LogLine.sortedLastWins(pairs), journal: journal
        ))
    }

    private static func text(_ value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let string): string
        case .stringConvertible(let convertible): convertible.description
        default: value.description
        }
    }
}

/// Renders one event as one line that cannot be mistaken for several, nor
/// carry terminal escape sequences, nor be made to grow without bound.
///
/// The line is built as UTF-8 bytes in one buffer: values that need no
/// escaping (nearly all: ids, names, numbers) are copied as they are.
enum LogLine {
    /// The longest message or metadata value kept, in UTF-8 bytes; the rest
    /// is cut (a whole server error page helps nobody and slows the writer).
    static let maximumValueBytes = 16_384

    /// The top-level JSON fields that carry a request's correlation ids, by
    /// the metadata keys the worker and the RPC layer log them under; log
    /// pipelines index these names (`action_execution_id`, ...).
    static let correlationFields: [(metadataKey: String, field: String)] = [
        ("action.execution_id", "action_execution_id"),
        ("workflow.execution_id", "workflow_execution_id"),
        ("task.execution_id", "task_execution_id"),
        ("mistral.root_execution_id", "root_execution_id"),
        ("root.execution_id", "root_execution_id"),
        ("oslo.request_id", "request_id"),
        ("action.name", "action"),
    ]

    /// The syslog priority journald reads from a `<N>` line prefix
    /// (sd-daemon.h's SD_CRIT ... SD_DEBUG).
    static func syslogPriority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    static func render(
        format: Configuration.LogFormat, time: String, level: Logger.Level, label: String, message: String,
        metadata: [String: String], journal: Bool = false
    ) -> String {
        render(
            format: format, time: time, level: level, label: label, message: message,
            sortedMetadata: metadata.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, journal: journal)
    }

    /// `pairs` sorted by key, keeping for each key the value that came last.
    static func sortedLastWins(_ pairs: [(key: String, value: String)]) -> [(key: String, value: String)] {
        // Sorting the positions keeps equal keys in their order of arrival.
        let order = pairs.indices.sorted { pairs[$0].key != pairs[$1].key ? pairs[$0].key < pairs[$1].key : $0 < $1 }
        var result: [(key: String, value: String)] = []
        result.reserveCapacity(pairs.count)
        for index in order {
            if let last = result.last, last.key == pairs[index].key {
                result[result.count - 1] = pairs[index]
            } else {
                result.append(pairs[index])
            }
        }
        return result
    }

    /// One line from metadata already sorted by key, without duplicates.
    static func render(
        format: Configuration.LogFormat, time: String, level: Logger.Level, label: String, message: String,
        sortedMetadata metadata: [(key: String, value: String)], journal: Bool = false
    ) -> String {
        var line = LineBytes()
        if journal {
            line.append("<")
            line.append(String(syslogPriority(level)))
            line.append(">")
        }
        switch format {
        case .human:
            // Levels in a column; "critical" still gets its space. journald
            // stamps each line itself.
            if !journal {
                line.append(time)
                line.append(" ")
            }
            let levelName = level.rawValue
            line.append(levelName)
            for _ in 0..<max(1, 8 - levelName.utf8.count) { line.append(" ") }
            line.appendEscaped(truncated(message), extra: .none)
            for (key, value) in metadata {
                line.append(" ")
                if key.isEmpty { line.append("\"\"") } else { line.appendEscaped(key, extra: .keyDelimiters) }
                line.append("=")
                line.appendQuoted(truncated(value))
            }
        case .json:
            var fields: [(key: String, value: String)] = [
                ("@timestamp", time), ("level", level.rawValue), ("logger", label), ("message", truncated(message)),
            ]
            var taken = Array(repeating: false, count: metadata.count)
            for (key, field) in correlationFields where !fields.contains(where: { $0.key == field }) {
                guard let index = Self.index(of: key, in: metadata), !taken[index] else { continue }
                taken[index] = true
                fields.append((field, truncated(metadata[index].value)))
            }
            for (index, (key, value)) in metadata.enumerated() where !taken[index] {
                // A value named like a fixed field ("level": "critical") must not pass for it.
                var name = key
                while fields.contains(where: { $0.key == name }) { name = "metadata." + name }
                fields.append((name, truncated(value)))
            }
            fields.sort { $0.key < $1.key }
            line.append("{")
            for (index, (key, value)) in fields.enumerated() {
                if index > 0 { line.append(", ") }
                line.appendJSONString(key)
                line.append(": ")
                line.appendJSONString(value)
            }
            line.append("}")
        }
        return line.string
    }

    private static func index(of key: String, in sorted: [(key: String, value: String)]) -> Int? {
        var low = 0
        var high = sorted.count
        while low < high {
            let middle = low + (high - low) / 2
            if sorted[middle].key < key { low = middle + 1 } else { high = middle }
        }
        return low < sorted.count && sorted[low].key == key ? low : nil
    }

    /// `value` cut after ``maximumValueBytes`` bytes of UTF-8, on a scalar
    /// boundary, with a note of how much was cut.
    static func truncated(_ value: String) -> String {
        let total = value.utf8.count
        guard total > maximumValueBytes else { return value }
        var kept = String.UnicodeScalarView()
        var bytes = 0
        for scalar in value.unicodeScalars {
            let size = UTF8.width(scalar)
            if bytes + size > maximumValueBytes { break }
            kept.append(scalar)
            bytes += size
        }
        return String(kept) + "… [\(total - bytes) more bytes]"
    }

    /// Whether a scalar would change how a line reads on a terminal or in a
    /// file: C0 controls (line feed, carriage return, ESC...), DEL, C1
    /// controls (NEL, CSI...), the Unicode line and paragraph separators,
    /// and the bidirectional controls that can make text show in another
    /// order than it is written.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0..<0x20, 0x7F...0x9F, 0x2028, 0x2029, 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069:
            return true
        default:
            return false
        }
    }

    /// Human format: controls as visible escapes (`\n`, `\x1b`, `\u2028`),
    /// and `\` doubled so that an escape in the line always means one.
    static func escapedText(_ value: String) -> String {
        var line = LineBytes()
        line.appendEscaped(value, extra: .none)
        return line.string
    }
}

/// Which printable ASCII characters a human-format part escapes besides
/// controls and `\`.
enum ExtraEscapes {
    case none
    /// A key never holds a space, `=` or `"`, so it cannot end early and
    /// start a forged `key=value`.
    case keyDelimiters

    func contains(_ byte: UInt8) -> Bool {
        switch self {
        case .none: false
        case .keyDelimiters: byte == UInt8(ascii: " ") || byte == UInt8(ascii: "=") || byte == UInt8(ascii: "\"")
        }
    }
}

/// A log line's UTF-8 bytes as they are built.
struct LineBytes {
    private(set) var bytes: [UInt8] = []

    init() { bytes.reserveCapacity(256) }

    var string: String { String(decoding: bytes, as: UTF8.self) }

    mutating func append(_ text: String) {
        var text = text
        text.withUTF8 { bytes.append(contentsOf: $0) }
    }

    /// Whether the bytes are printable ASCII other than `\` and the extras:
    /// such text is written as it is.
    private static func isPlain(_ utf8: UnsafeBufferPointer<UInt8>, extra: ExtraEscapes) -> Bool {
        for byte in utf8 where byte < 0x20 || byte >= 0x7F || byte == UInt8(ascii: "\\") || extra.contains(byte) {
            return false
        }
        return true
    }

    /// Human format: controls as visible escapes (`\n`, `\x1b`, `\u2028`),
    /// `\` doubled so that an escape in the line always means one.
    mutating func appendEscaped(_ text: String, extra: ExtraEscapes) {
        var text = text
        let plain = text.withUTF8 { utf8 in
            guard Self.isPlain(utf8, extra: extra) else { return false }
            bytes.append(contentsOf: utf8)
            return true
        }
        guard !plain else { return }
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": append("\\n")
            case "\r": append("\\r")
            case "\t": append("\\t")
            case "\\": append("\\\\")
            case _ where LogLine.isControl(scalar) || (scalar.isASCII && extra.contains(UInt8(truncatingIfNeeded: scalar.value))):
                append(scalar.value > 0xFF ? "\\u" : "\\x")
                appendHex(scalar.value, digits: scalar.value > 0xFF ? 4 : 2)
            default: appendScalar(scalar)
            }
        }
    }

    /// Human format: a value in quotes when it is empty or holds a space,
    /// `=` or `"` (inner quotes escaped), so it cannot pass for more pairs.
    mutating func appendQuoted(_ value: String) {
        let start = bytes.count
        appendEscaped(value, extra: .none)
        let needsQuotes = bytes.count == start
            || bytes[start...].contains { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: "\"") }
        guard needsQuotes else { return }
        var quoted: [UInt8] = [UInt8(ascii: "\"")]
        quoted.reserveCapacity(bytes.count - start + 4)
        for byte in bytes[start...] {
            if byte == UInt8(ascii: "\"") { quoted.append(UInt8(ascii: "\\")) }
            quoted.append(byte)
        }
        quoted.append(UInt8(ascii: "\""))
        bytes.replaceSubrange(start..., with: quoted)
    }

    /// A JSON string literal: quotes, backslashes and every control (C0,
    /// DEL, C1, U+2028/9) escaped; other characters as UTF-8. A Swift
    /// string holds only valid Unicode, so the line is valid UTF-8 JSON.
    mutating func appendJSONString(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        var value = value
        let plain = value.withUTF8 { utf8 in
            guard Self.isPlain(utf8, extra: .none), !utf8.contains(UInt8(ascii: "\"")) else { return false }
            bytes.append(contentsOf: utf8)
            return true
        }
        if !plain {
            for scalar in value.unicodeScalars {
                switch scalar {
                case "\"": append("\\\"")
                case "\\": append("\\\\")
                case "\n": append("\\n")
                case "\r": append("\\r")
                case "\t": append("\\t")
                case _ where LogLine.isControl(scalar):
                    append("\\u")
                    appendHex(scalar.value, digits: 4)
                default: appendScalar(scalar)
                }
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func appendScalar(_ scalar: Unicode.Scalar) {
        UTF8.encode(scalar) { bytes.append($0) }
    }

    private mutating func appendHex(_ value: UInt32, digits: Int) {
        let text = String(value, radix: 16)
        for _ in 0..<max(0, digits - text.utf8.count) { bytes.append(UInt8(ascii: "0")) }
        append(text)
    }
}

/// Whether standard error is journald's stream: systemd sets
/// `JOURNAL_STREAM=<device>:<inode>` for a service whose output goes to the
/// journal, and the variable is inherited by children whose output may go
/// elsewhere (a pipe, a file), hence the comparison with what standard error
/// is now.
enum JournalStream {
    static func isStandardError(variable: String?) -> Bool {
        matches(variable: variable, fileDescriptor: STDERR_FILENO)
    }

    /// Whether `variable` names the device and inode of `fileDescriptor`;
    /// false for anything malformed.
    static func matches(variable: String?, fileDescriptor: Int32) -> Bool {
        guard let (device, inode) = parse(variable) else { return false }
        var status = stat()
        guard fstat(fileDescriptor, &status) == 0 else { return false }
        return UInt64(status.st_dev) == device && UInt64(status.st_ino) == inode
    }

    /// `<device>:<inode>`, both decimal numbers that fit 64 bits.
    static func parse(_ variable: String?) -> (device: UInt64, inode: UInt64)? {
        guard let variable else { return nil }
        let parts = variable.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2,
            parts.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy { (0x30...0x39).contains($0) } }),
            let device = UInt64(parts[0]), let inode = UInt64(parts[1])
        else { return nil }
        return (device, inode)
    }
}

enum Timestamp {
    /// The current UTC time as `2026-11-25T02:10:00.123Z`.
    static func now() -> String {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        var parts = tm()
        var seconds = time.tv_sec
        gmtime_r(&seconds, &parts)
        return format(
            year: Int(parts.tm_year) + 1900, month: Int(parts.tm_mon) + 1, day: Int(parts.tm_mday),
            hour: Int(parts.tm_hour), minute: Int(parts.tm_min), second: Int(parts.tm_sec),
            millisecond: Int(time.tv_nsec / 1_000_000))
    }

    /// Digits written one by one (no format string: this runs for every
    /// log line). Each field is reduced to its width, so the text keeps its
    /// shape whatever the clock says.
    static func format(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, millisecond: Int) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        func digits(_ value: Int, _ width: Int) {
            var divisor = 1
            for _ in 1..<width { divisor &*= 10 }
            var rest = abs(value % (divisor &* 10))
            while divisor > 0 {
                bytes.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest / divisor))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(year, 4); bytes.append(UInt8(ascii: "-"))
        digits(month, 2); bytes.append(UInt8(ascii: "-"))
        digits(day, 2); bytes.append(UInt8(ascii: "T"))
        digits(hour, 2); bytes.append(UInt8(ascii: ":"))
        digits(minute, 2); bytes.append(UInt8(ascii: ":"))
        digits(second, 2); bytes.append(UInt8(ascii: "."))
        digits(millisecond, 3); bytes.append(UInt8(ascii: "Z"))
        return String(decoding: bytes, as: UTF8.self)
    }
}
