import AMQPClient
import OsloConfig
import Worker

/// A configuration file taken the way the commands take one: UTF-8 text (a
/// byte-order mark dropped), the INI reader, the typed load with the
/// standard schema, then what the worker derives from the result (its
/// settings, the AMQP connection from `transport_url`, the effective-values
/// listing with secrets masked).
public enum ConfigTarget {
    public enum Outcome: Sendable, Equatable, CustomStringConvertible {
        /// Not UTF-8 (the reader refuses such a file).
        case notText
        /// Refused by the INI reader or the typed load, with the message.
        case refused(String)
        /// Loaded; the number of warnings, and the AMQP error if `transport_url` was refused.
        case loaded(warnings: Int, transportError: String?)

        public var description: String {
            switch self {
            case .notText: return "not UTF-8"
            case .refused(let message): return "refused: \(message)"
            case .loaded(let warnings, let transportError):
                return "loaded, \(warnings) warnings\(transportError.map { ", transport_url: \($0)" } ?? "")"
            }
        }
    }

    public static func run(_ data: [UInt8]) -> Outcome {
        guard var text = String(validating: data, as: UTF8.self) else { return .notText }
        if text.unicodeScalars.first == "\u{FEFF}" { text.unicodeScalars.removeFirst() }
        let loaded: LoadedConfiguration
        do {
            let file = try IniFile.parse(text, path: "fuzz.conf")
            loaded = try Configuration.load(from: ConfigFiles([file]))
        } catch {
            return .refused(error.description)
        }
        let configuration = loaded.configuration
        _ = WorkerSettings(configuration: configuration)
        _ = loaded.renderEffectiveValues()
        _ = loaded.warnings.map { "\($0)" }
        var transportError: String?
        do {
            var amqp = try AMQPConfiguration(transportURL: configuration.messaging.effectiveTransportURL)
            // As the worker command does.
            amqp.heartbeatSeconds = UInt16(clamping: max(0, configuration.rabbit.heartbeatTimeoutThreshold.components.seconds))
        } catch {
            transportError = "\(error)"
        }
        return .loaded(warnings: loaded.warnings.count, transportError: transportError)
    }
}
