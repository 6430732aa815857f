import Foundation
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
                    let written = Foundation.write(STDERR_FILENO, base + offset, buffer.count - offset)
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
        var all = metadataProvider?.get() ?? [:]
        all.merge(metadata) { _, new in new }
        if let explicit = event.metadata { all.merge(explicit) { _, new in new } }
        if let error = event.error { all["error"] = "\(error)" }
        StandardErrorLines.write(LogLine.render(
            format: format, time: Timestamp.now(), level: event.level, label: label,
            message: "\(event.message)", metadata: all.mapValues { "\($0)" }, journal: journal
        ))
    }
}

/// Renders one event as one line that cannot be mistaken for several, nor
/// carry terminal escape sequences, nor be made to grow without bound.
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
        let prefix = journal ? "<\(syslogPriority(level))>" : ""
        switch format {
        case .human:
            // Levels in a column; "critical" still gets its space. journald
            // stamps each line itself.
            let levelName = level.rawValue
            var text = prefix + (journal ? "" : time + " ") + levelName + String(repeating: " ", count: max(1, 8 - levelName.count))
            text += escapedText(truncated(message))
            for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
                text += " " + escapedKey(key) + "=" + quotedValue(truncated(value))
            }
            return text
        case .json:
            var fields: [String: String] = ["@timestamp": time, "level": level.rawValue, "logger": label, "message": truncated(message)]
            var rest = metadata
            for (key, field) in correlationFields {
                guard fields[field] == nil, let value = rest.removeValue(forKey: key) else { continue }
                fields[field] = truncated(value)
            }
            for (key, value) in rest {
                // A value named like a fixed field ("level": "critical") must not pass for it.
                var name = key
                while fields[name] != nil { name = "metadata." + name }
                fields[name] = truncated(value)
            }
            var text = prefix + "{"
            for (index, (key, value)) in fields.sorted(by: { $0.key < $1.key }).enumerated() {
                if index > 0 { text += ", " }
                text += jsonString(key) + ": " + jsonString(value)
            }
            return text + "}"
        }
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
    static func escapedText(_ value: String, alsoEscaping extra: Set<Unicode.Scalar> = []) -> String {
        guard value.unicodeScalars.contains(where: { isControl($0) || $0 == "\\" || extra.contains($0) }) else {
            return value
        }
        var result = ""
        result.reserveCapacity(value.utf8.count + 8)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case "\\": result += "\\\\"
            case _ where isControl(scalar) || extra.contains(scalar):
                result += scalar.value > 0xFF ? "\\u" + hex(scalar.value, digits: 4) : "\\x" + hex(scalar.value, digits: 2)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// Human format: a key never holds a space, `=` or `"`, so it cannot
    /// end early and start a forged `key=value`.
    static func escapedKey(_ key: String) -> String {
        key.isEmpty ? "\"\"" : escapedText(key, alsoEscaping: [" ", "=", "\""])
    }

    /// Human format: a value in quotes when it is empty or holds a space,
    /// `=` or `"` (inner quotes escaped), so it cannot pass for more pairs.
    static func quotedValue(_ value: String) -> String {
        let escaped = escapedText(value)
        guard escaped.isEmpty || escaped.contains(where: { $0 == " " || $0 == "=" || $0 == "\"" }) else {
            return escaped
        }
        return "\"" + escaped.replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// A JSON string literal: quotes, backslashes and every control (C0,
    /// DEL, C1, U+2028/9) escaped; other characters as UTF-8. A Swift
    /// string holds only valid Unicode, so the line is valid UTF-8 JSON.
    static func jsonString(_ value: String) -> String {
        var result = "\""
        result.reserveCapacity(value.utf8.count + 2)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where isControl(scalar): result += "\\u" + hex(scalar.value, digits: 4)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }

    private static func hex(_ value: UInt32, digits: Int) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
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
    static func now() -> String {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        var parts = tm()
        var seconds = time.tv_sec
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
            Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
            Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), Int(time.tv_nsec / 1_000_000)
        )
    }
}
