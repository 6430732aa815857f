import Foundation
import Logging
import OsloConfig
import Synchronization

/// Sets up swift-log once per process: human lines or JSON objects on
/// standard error, at the configured level.
enum LoggingSetup {
    private static let done = Mutex(false)

    static func bootstrap(format: Configuration.LogFormat, level: Configuration.LogLevel) {
        let first = done.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        let swiftLevel = Logger.Level(rawValue: level.rawValue) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = LineLogHandler(label: label, format: format)
            handler.logLevel = swiftLevel
            return handler
        }
    }

    static func logger(_ configuration: Configuration, label: String = "mistral-actions") -> Logger {
        bootstrap(format: configuration.mistralActions.logFormat, level: configuration.mistralActions.logLevel)
        return Logger(label: label)
    }
}

/// Writes whole lines to standard error, one write per line so that lines of
/// concurrent tasks never interleave.
enum StandardErrorLines {
    static func write(_ line: String) {
        var text = line
        text.append("\n")
        text.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Foundation.write(STDERR_FILENO, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 { return }
                offset += written
            }
        }
    }
}

/// One line per event on standard error, in one of two formats:
///
/// - human: `2026-11-25T02:10:00.123Z info    action succeeded action.name=int32bit.debug.echo ...`
/// - json: `{"action.name": ..., "level": ..., "logger": ..., "message": ..., "time": ...}`
struct LineLogHandler: LogHandler {
    let label: String
    let format: Configuration.LogFormat
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
        switch format {
        case .human:
            var text = "\(Timestamp.now()) \(event.level.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0))\(event.message)"
            for (key, value) in all.sorted(by: { $0.key < $1.key }) {
                let shown = "\(value)"
                text += " \(key)=" + (shown.contains(" ") || shown.isEmpty ? "\"\(shown)\"" : shown)
            }
            StandardErrorLines.write(text)
        case .json:
            var object: [String: String] = ["time": Timestamp.now(), "level": event.level.rawValue, "message": "\(event.message)", "logger": label]
            for (key, value) in all { object[key] = "\(value)" }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
            StandardErrorLines.write(String(decoding: data, as: UTF8.self))
        }
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
