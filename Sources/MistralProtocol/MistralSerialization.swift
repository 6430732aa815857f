import OrderedJSON
import OsloMessaging

/// Mistral's encoding of RPC arguments and results.
///
/// Mistral gives oslo a serializer (mistral_lib's `PolymorphicSerializer`)
/// that oslo applies to each keyword argument and to a call's return value
/// separately: every non-null value travels as a JSON *string* holding the
/// value's JSON text (`"safe_rerun": "true"`, `"timeout": "30"`,
/// `"action_ex_id": "\"fe12...\""`), while Python `None` travels as a bare
/// `null`. Objects of registered classes become the text of
/// `{"__serial_key": ..., "__serial_data": "<JSON text>"}`
/// (see ``MistralSerializedObject``).
public enum MistralSerialization {
    /// Decodes one value as Mistral's serializer sent it: `null` stays
    /// `null`, a string is parsed as JSON text. A value of another type is
    /// returned unchanged (tolerance for peers that did not pre-encode; the
    /// Python side would reject it).
    public static func decode(_ wireValue: JSON, field: String = "value") throws(OsloCodecError) -> JSON {
        switch wireValue {
        case .null:
            return .null
        case .string(let text):
            do {
                return try JSON(parsing: text, options: .python)
            } catch {
                throw OsloCodecError(code: .invalidArgument, field: field, detail: "not JSON text: \(error)", jsonError: error)
            }
        default:
            return wireValue
        }
    }

    /// Encodes one value the way Mistral's serializer does: `null` stays
    /// `null`, anything else becomes a string of its Python-style JSON text.
    public static func encode(_ value: JSON, field: String = "value") throws(OsloCodecError) -> JSON {
        if value.isNull {
            return .null
        }
        do {
            return .string(try value.encodedString(style: .python))
        } catch {
            throw .unencodable(error, field: field)
        }
    }

    /// Every argument decoded with ``decode(_:field:)``, in order.
    public static func decode(arguments: JSONObject) throws(OsloCodecError) -> JSONObject {
        var decoded = JSONObject(minimumCapacity: arguments.count)
        for (name, value) in arguments {
            decoded.updateValue(try decode(value, field: "args." + name), forKey: name)
        }
        return decoded
    }

    /// Every argument encoded with ``encode(_:field:)``, in order.
    public static func encode(arguments: JSONObject) throws(OsloCodecError) -> JSONObject {
        var encoded = JSONObject(minimumCapacity: arguments.count)
        for (name, value) in arguments {
            encoded.updateValue(try encode(value, field: "args." + name), forKey: name)
        }
        return encoded
    }
}

/// An object serialized by mistral_lib's `PolymorphicSerializer`:
/// `{"__serial_key": "<class key>", "__serial_data": "<the class serializer's JSON text>"}`.
///
/// Keys seen on the executor path: `mistral_lib.actions.base.Action`,
/// `mistral.actions.adhoc.AdHocAction`,
/// `mistral.actions.dynamic_action.DynamicAction`,
/// `mistral_lib.actions.types.Result`.
public struct MistralSerializedObject: Sendable, Hashable {
    /// The serialization key (`__serial_key`).
    public var key: String
    /// The decoded `__serial_data`.
    public var data: JSON

    public init(key: String, data: JSON) {
        self.key = key
        self.data = data
    }

    /// Reads `value` (an already decoded argument) as a serialized object;
    /// `nil` if it is not an object with a string `__serial_key`. Throws when
    /// `__serial_data` is not a string of JSON text.
    public init?(decoding value: JSON) throws(OsloCodecError) {
        guard case .object(let object) = value, case .string(let key)? = object["__serial_key"] else {
            return nil
        }
        guard case .string(let text)? = object["__serial_data"] else {
            throw OsloCodecError(code: .invalidArgument, field: "__serial_data", detail: "expected a string of JSON text")
        }
        do {
            self.init(key: key, data: try JSON(parsing: text, options: .python))
        } catch {
            throw OsloCodecError(code: .invalidArgument, field: "__serial_data", detail: "not JSON text: \(error)", jsonError: error)
        }
    }

    /// The wrapper object, `__serial_data` written as Python-style JSON text.
    public func encoded() throws(OsloCodecError) -> JSON {
        do {
            return [
                "__serial_key": .string(key),
                "__serial_data": .string(try data.encodedString(style: .python)),
            ]
        } catch {
            throw .unencodable(error, field: "__serial_data")
        }
    }
}

extension RPCRequest {
    /// A request whose arguments are encoded the Mistral way (see ``MistralSerialization``).
    public init(
        method: String,
        mistralArguments: JSONObject,
        context: RequestContext,
        messageID: String? = nil,
        replyQueue: String? = nil,
        uniqueID: String? = MessageID.generate()
    ) throws(OsloCodecError) {
        self.init(
            method: method,
            arguments: try MistralSerialization.encode(arguments: mistralArguments),
            context: context,
            messageID: messageID,
            replyQueue: replyQueue,
            uniqueID: uniqueID
        )
    }

    /// The argument `name` decoded the Mistral way; `nil` when absent.
    public func mistralArgument(_ name: String) throws(OsloCodecError) -> JSON? {
        guard let value = arguments[name] else { return nil }
        return try MistralSerialization.decode(value, field: "args." + name)
    }

    /// All arguments decoded the Mistral way, in order.
    public func mistralArguments() throws(OsloCodecError) -> JSONObject {
        try MistralSerialization.decode(arguments: arguments)
    }

    /// Sets the argument `name`, encoded the Mistral way.
    public mutating func setMistralArgument(_ name: String, to value: JSON) throws(OsloCodecError) {
        arguments[name] = try MistralSerialization.encode(value, field: "args." + name)
    }
}

extension RPCReply {
    /// A reply whose result is encoded the Mistral way.
    public init(mistralResult: JSON, messageID: String, uniqueID: String? = MessageID.generate()) throws(OsloCodecError) {
        self.init(result: try MistralSerialization.encode(mistralResult, field: "result"), messageID: messageID, uniqueID: uniqueID)
    }

    /// The result decoded the Mistral way.
    public func mistralResult() throws(OsloCodecError) -> JSON {
        try MistralSerialization.decode(result, field: "result")
    }
}
