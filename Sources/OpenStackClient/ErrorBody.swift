import OrderedJSON

/// What an error answer says: the fault name and the message of the
/// service's error envelope.
struct ErrorBody: Equatable {
    var fault: String?
    var message: String

    /// The longest message taken from a body that is not an error envelope.
    static let textLimit = 200

    /// Reads the envelopes of the services:
    /// - Nova, Cinder, Trove: `{"itemNotFound": {"code": 404, "message": "..."}}`
    ///   (the fault is the key; Cinder's `overLimitFault` included);
    /// - Keystone and keystonemiddleware: `{"error": {"code", "title", "message"}}`
    ///   (the fault is the title);
    /// - Glance (webob): `{"message", "code", "title"}` (the fault is the title);
    /// - anything else: the first 200 characters of the text without tags.
    init(body: [UInt8]) {
        if let json = try? JSON(parsing: body), let parsed = Self.envelope(json) {
            self = parsed
            return
        }
        fault = nil
        message = Self.plainText(String(decoding: body, as: UTF8.self))
    }

    init(fault: String?, message: String) {
        self.fault = fault
        self.message = message
    }

    private static func envelope(_ json: JSON) -> ErrorBody? {
        guard case .object(let object) = json else {
            // A JSON string or number: show it as text.
            if let text = json.stringValue { return ErrorBody(fault: nil, message: plainText(text)) }
            return nil
        }
        if let error = object["error"], case .object(let inner) = error {
            return ErrorBody(
                fault: inner["title"]?.stringValue,
                message: inner["message"]?.stringValue ?? inner["title"]?.stringValue ?? "")
        }
        if let message = object["message"]?.stringValue {
            return ErrorBody(fault: object["title"]?.stringValue, message: message)
        }
        for (key, value) in object {
            guard case .object(let inner) = value else { continue }
            if let message = inner["message"]?.stringValue {
                return ErrorBody(fault: key, message: message)
            }
            if inner["code"] != nil {
                return ErrorBody(fault: key, message: "")
            }
        }
        if let error = object["error"]?.stringValue {
            return ErrorBody(fault: nil, message: plainText(error))
        }
        return nil
    }

    /// Text without HTML tags and with runs of white space as one space,
    /// cut to ``textLimit`` characters.
    static func plainText(_ text: String) -> String {
        var result = ""
        var insideTag = false
        var pendingSpace = false
        for character in text {
            if insideTag {
                if character == ">" {
                    insideTag = false
                    pendingSpace = true
                }
                continue
            }
            if character == "<" {
                insideTag = true
                continue
            }
            if character.isWhitespace {
                pendingSpace = true
                continue
            }
            if pendingSpace && !result.isEmpty { result.append(" ") }
            pendingSpace = false
            result.append(character)
            if result.count >= textLimit { break }
        }
        return result
    }
}

/// Secrets that must not appear in messages (Keystone's 404 for a token
/// says `Could not find token: <the token>`).
package struct Redaction: Sendable {
    var secrets: [String]

    package init(secrets: [String]) {
        self.secrets = secrets
    }

    func apply(_ text: String) -> String {
        var result = text
        for secret in secrets where secret.count >= 4 {
            result = result.replacing(secret, with: "***")
        }
        return result
    }
}

/// The `Retry-After` header: delta seconds or an HTTP-date.
package enum RetryAfter {
    /// Seconds to wait (never negative); nil when absent or unreadable.
    package static func seconds(_ value: String?, now: Double = Timestamps.now()) -> Double? {
        guard let value else { return nil }
        let text = value.trimmingWhitespace()
        if let seconds = Double(text), seconds.isFinite {
            return seconds >= 0 ? seconds : nil
        }
        guard let date = Timestamps.parseHTTPDate(text) else { return nil }
        return max(0, date - now)
    }
}
