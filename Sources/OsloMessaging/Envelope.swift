import OrderedJSON

/// The oslo.messaging RPC envelope (version 2.0): the AMQP body is
/// `{"oslo.version": "2.0", "oslo.message": "<the message as a JSON string>"}`.
public enum OsloEnvelope {
    /// Key of the envelope version.
    public static let versionKey = "oslo.version"
    /// Key of the message text.
    public static let messageKey = "oslo.message"
    /// The envelope version written and understood.
    public static let version = "2.0"

    /// Whether a message with envelope `version` can be read, by oslo's
    /// `version_is_compatible("2.0", version)`: same major version, minor not
    /// above 0, revision not above 0 (`"2.0"`, `"2.0.0"`; not `"1.0"`,
    /// `"2.1"`, `"3.0"`). Versions oslo could not parse (`"2"`, `"x.y"`) are
    /// not compatible.
    public static func isCompatible(version: String) -> Bool {
        // What every oslo.messaging sender writes; no split for it.
        if version == Self.version { return true }
        let parts = version.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count >= 2,
              let major = Int(parts[0]), let minor = Int(parts[1])
        else { return false }
        let revision: Int
        if parts.count >= 3 {
            guard let value = Int(parts[2]) else { return false }
            revision = value
        } else {
            revision = 0
        }
        return major == 2 && minor <= 0 && (minor < 0 || revision <= 0)
    }

    /// Decodes an AMQP body into the inner message object.
    ///
    /// Like oslo's `deserialize_msg`, an object that has neither envelope key
    /// is taken as the message itself (senders from before the envelope).
    /// Unlike oslo, an object with only one of the two keys is an error (oslo
    /// would treat it as an un-enveloped message without a method).
    public static func decode(body: some Collection<UInt8>) throws(OsloCodecError) -> JSONObject {
        let outer: JSON
        do {
            outer = try JSON(parsing: body, options: .python)
        } catch {
            throw OsloCodecError(code: .invalidJSON, field: "body", detail: error.description, jsonError: error)
        }
        guard case .object(let object) = outer else {
            throw OsloCodecError(code: .notAnObject, field: "body", detail: "expected an object, found \(outer.typeName)")
        }
        return try unwrap(object)
    }

    /// The inner message of an already parsed body. See ``decode(body:)``.
    public static func unwrap(_ body: JSONObject) throws(OsloCodecError) -> JSONObject {
        let versionValue = body[versionKey]
        let messageValue = body[messageKey]
        if versionValue == nil && messageValue == nil {
            return body
        }
        guard let versionValue else {
            throw OsloCodecError(code: .unsupportedEnvelopeVersion, field: versionKey, detail: "'\(messageKey)' without '\(versionKey)'")
        }
        guard case .string(let version) = versionValue else {
            throw .wrongType(versionKey, expected: "a string", found: versionValue)
        }
        guard isCompatible(version: version) else {
            throw OsloCodecError(code: .unsupportedEnvelopeVersion, field: versionKey, detail: "version '\(version)' is not compatible with \(Self.version)")
        }
        guard let messageValue else {
            throw OsloCodecError(code: .missingField, field: messageKey, detail: "envelope without '\(messageKey)'")
        }
        guard case .string(let text) = messageValue else {
            throw .wrongType(messageKey, expected: "a string", found: messageValue)
        }
        let message: JSON
        do {
            message = try JSON(parsing: text, options: .python)
        } catch {
            throw OsloCodecError(code: .invalidJSON, field: messageKey, detail: error.description, jsonError: error)
        }
        guard case .object(let object) = message else {
            throw OsloCodecError(code: .notAnObject, field: messageKey, detail: "expected an object, found \(message.typeName)")
        }
        return object
    }

    /// The AMQP body for an inner message already written as JSON text
    /// (UTF-8), as oslo writes it: `json.dumps` layout, version first.
    public static func encode(messageText: [UInt8]) -> [UInt8] {
        var writer = JSONWriter(style: .python, reservingCapacity: messageText.count + messageText.count / 4 + 48)
        writer.writeRaw("{\"oslo.version\": \"2.0\", \"oslo.message\": ")
        writer.writeString(utf8: messageText)
        writer.writeRaw("}")
        return writer.bytes
    }

    /// The AMQP body for `message` (written with the `.python` style at both levels).
    public static func encode(_ message: JSONObject) throws(OsloCodecError) -> [UInt8] {
        do {
            return encode(messageText: try JSON.object(message).encoded(style: .python))
        } catch {
            throw .unencodable(error, field: messageKey)
        }
    }
}
