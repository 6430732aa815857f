import OrderedJSON

/// An RPC request (call or cast) as oslo.messaging sends it inside the envelope.
///
/// Decoding validates the keys oslo's server reads and keeps everything:
/// the `_context_*` keys go to ``context`` (order kept), unknown keys to
/// ``additionalFields``. Encoding writes the keys in oslo's order — `method`,
/// `args`, `namespace`, `version`, `_msg_id`, `_reply_q`, `_timeout`,
/// `_unique_id`, the context, then additional fields — with Python's
/// `json.dumps` layout, so a message decoded from Python re-encodes byte for
/// byte.
public struct RPCRequest: Sendable, Hashable {
    /// The RPC method (`method`).
    public var method: String
    /// The keyword arguments as sent (`args`). With Mistral every value is
    /// itself JSON text in a string (see ``mistralArgument(_:)``).
    public var arguments: JSONObject
    /// The target namespace (`namespace`); absent in Mistral.
    public var namespace: String?
    /// The target version (`version`); absent in Mistral (the server then assumes `1.0`).
    public var version: String?
    /// `_msg_id`: present for calls, the id the reply must carry.
    public var messageID: String?
    /// `_reply_q`: the caller's reply queue (calls only).
    public var replyQueue: String?
    /// `_unique_id`: a fresh uuid4 hex per message; oslo drops a message whose
    /// id is among the last 16 seen by a listener.
    public var uniqueID: String?
    /// The request context (`_context_*` keys).
    public var context: RequestContext
    /// Other keys, kept in order. Keys that the fields above own are ignored when encoding.
    public var additionalFields: JSONObject

    /// `_timeout` as sent (`null` or a number), so that `30` re-encodes as `30`.
    private var callMonitorTimeoutValue: JSON

    /// `_timeout`: the caller's call-monitor timeout in seconds (always `null`
    /// in Mistral). When set, the server must send `ending: false` keep-alive
    /// replies every timeout/2 seconds while the call runs.
    public var callMonitorTimeout: Double? {
        get { callMonitorTimeoutValue.doubleValue }
        set {
            if let newValue {
                if let whole = Int64(exactly: newValue) {
                    callMonitorTimeoutValue = .integer(whole)
                } else {
                    callMonitorTimeoutValue = .double(newValue)
                }
            } else {
                callMonitorTimeoutValue = .null
            }
        }
    }

    /// `true` for a call (a reply is expected): `_msg_id` is present.
    public var isCall: Bool { messageID != nil }

    /// A request to send. For a call set `messageID` (``MessageID/generate()``) and `replyQueue`.
    public init(
        method: String,
        arguments: JSONObject,
        context: RequestContext,
        namespace: String? = nil,
        version: String? = nil,
        messageID: String? = nil,
        replyQueue: String? = nil,
        callMonitorTimeout: Double? = nil,
        uniqueID: String? = MessageID.generate(),
        additionalFields: JSONObject = [:]
    ) {
        self.method = method
        self.arguments = arguments
        self.context = context
        self.namespace = namespace
        self.version = version
        self.messageID = messageID
        self.replyQueue = replyQueue
        self.uniqueID = uniqueID
        self.additionalFields = additionalFields
        self.callMonitorTimeoutValue = .null
        self.callMonitorTimeout = callMonitorTimeout
    }

    /// Decodes an AMQP body (envelope included).
    public init(decodingBody body: some Collection<UInt8>) throws(OsloCodecError) {
        try self.init(message: OsloEnvelope.decode(body: body))
    }

    /// Decodes the inner message.
    ///
    /// Errors: `method` missing or not a string; `args` not an object (a
    /// missing `args` is an empty object, as in oslo); `namespace`,
    /// `version`, `_msg_id`, `_reply_q`, `_unique_id` neither a string nor
    /// null; `_timeout` neither a number nor null.
    public init(message: JSONObject) throws(OsloCodecError) {
        var method: String?
        var arguments = JSONObject()
        var context = JSONObject(minimumCapacity: message.count)
        var additional = JSONObject()
        namespace = nil
        version = nil
        messageID = nil
        replyQueue = nil
        uniqueID = nil
        callMonitorTimeoutValue = .null
        for (key, value) in message {
            // Keys of one object are unique: copy without lookups.
            if key.hasPrefix(RequestContext.keyPrefix) {
                context.append(uniqueKey: key, value: value)
                continue
            }
            switch key {
            case "method":
                guard case .string(let name) = value else {
                    throw .wrongType("method", expected: "a string", found: value)
                }
                method = name
            case "args":
                guard case .object(let object) = value else {
                    throw .wrongType("args", expected: "an object", found: value)
                }
                arguments = object
            case "namespace": namespace = try optionalString(value, field: key)
            case "version": version = try optionalString(value, field: key)
            case "_msg_id": messageID = try optionalString(value, field: key)
            case "_reply_q": replyQueue = try optionalString(value, field: key)
            case "_unique_id": uniqueID = try optionalString(value, field: key)
            case "_timeout":
                switch value {
                case .null, .integer, .double: callMonitorTimeoutValue = value
                default: throw .wrongType("_timeout", expected: "a number or null", found: value)
                }
            default:
                additional.append(uniqueKey: key, value: value)
            }
        }
        guard let method else {
            throw OsloCodecError(code: .missingField, field: "method", detail: "a request needs a method")
        }
        self.method = method
        self.arguments = arguments
        self.context = RequestContext(prefixedFields: context)
        self.additionalFields = additional
    }

    private static let ownedKeys: Set<String> = [
        "method", "args", "namespace", "version", "_msg_id", "_reply_q", "_timeout", "_unique_id",
    ]

    /// The inner message as JSON text (UTF-8), in oslo's key order.
    public func encodedMessageText() throws(OsloCodecError) -> [UInt8] {
        var writer = JSONWriter(style: .python, reservingCapacity: 2048)
        do {
            writer.beginObject()
            writer.writeKey("method")
            writer.writeString(method)
            writer.writeKey("args")
            try writer.write(.object(arguments))
            if let namespace {
                writer.writeKey("namespace")
                writer.writeString(namespace)
            }
            if let version {
                writer.writeKey("version")
                writer.writeString(version)
            }
            if let messageID {
                writer.writeKey("_msg_id")
                writer.writeString(messageID)
            }
            if let replyQueue {
                writer.writeKey("_reply_q")
                writer.writeString(replyQueue)
            }
            // oslo always writes `_timeout` on calls, `null` when unset.
            if messageID != nil || !callMonitorTimeoutValue.isNull {
                writer.writeKey("_timeout")
                try writer.write(callMonitorTimeoutValue)
            }
            if let uniqueID {
                writer.writeKey("_unique_id")
                writer.writeString(uniqueID)
            }
            for (key, value) in context.wireFields {
                writer.writeKey(key)
                try writer.write(value)
            }
            for (key, value) in additionalFields where !Self.ownedKeys.contains(key) && !key.hasPrefix(RequestContext.keyPrefix) {
                writer.writeKey(key)
                try writer.write(value)
            }
            writer.endObject()
        } catch {
            throw .unencodable(error)
        }
        return writer.bytes
    }

    /// The AMQP body: the envelope around ``encodedMessageText()``.
    public func encodedBody() throws(OsloCodecError) -> [UInt8] {
        OsloEnvelope.encode(messageText: try encodedMessageText())
    }
}

/// A reply to an RPC call, as oslo.messaging sends it to the caller's reply queue.
///
/// Encoded in oslo's key order: `result`, `failure`, `ending`, `_msg_id`,
/// `_unique_id`, then additional fields.
public struct RPCReply: Sendable, Hashable {
    /// The method's return value as sent (`result`); with Mistral, JSON text
    /// in a string (see ``mistralResult()``). `null` for failures.
    public var result: JSON
    /// The exception raised by the method (`failure`), if any.
    public var failure: RemoteFailure?
    /// `ending`: `true` on the final reply; `false` on call-monitor keep-alives.
    public var ending: Bool
    /// `_msg_id`: the request's message id.
    public var messageID: String
    /// `_unique_id`.
    public var uniqueID: String?
    /// Other keys, kept in order. Keys the fields above own are ignored when encoding.
    public var additionalFields: JSONObject

    /// A successful reply.
    public init(result: JSON, messageID: String, ending: Bool = true, uniqueID: String? = MessageID.generate()) {
        self.result = result
        self.failure = nil
        self.ending = ending
        self.messageID = messageID
        self.uniqueID = uniqueID
        self.additionalFields = [:]
    }

    /// A failure reply (`result` is null).
    public init(failure: RemoteFailure, messageID: String, uniqueID: String? = MessageID.generate()) {
        self.result = .null
        self.failure = failure
        self.ending = true
        self.messageID = messageID
        self.uniqueID = uniqueID
        self.additionalFields = [:]
    }

    /// Decodes an AMQP body (envelope included).
    public init(decodingBody body: some Collection<UInt8>) throws(OsloCodecError) {
        try self.init(message: OsloEnvelope.decode(body: body))
    }

    /// Decodes the inner message.
    ///
    /// Errors: `_msg_id` missing or not a string; `failure` neither null nor a
    /// failure string; `ending` not a boolean; `_unique_id` neither a string
    /// nor null. A missing `result` is null, a missing `ending` false (as in oslo).
    public init(message: JSONObject) throws(OsloCodecError) {
        var messageID: String?
        var additional = JSONObject()
        result = .null
        failure = nil
        ending = false
        uniqueID = nil
        for (key, value) in message {
            switch key {
            case "result":
                result = value
            case "failure":
                switch value {
                case .null: failure = nil
                case .string(let text): failure = try RemoteFailure(decoding: text)
                default: throw .wrongType("failure", expected: "a string or null", found: value)
                }
            case "ending":
                guard case .bool(let flag) = value else {
                    throw .wrongType("ending", expected: "a boolean", found: value)
                }
                ending = flag
            case "_msg_id":
                guard case .string(let id) = value else {
                    throw .wrongType("_msg_id", expected: "a string", found: value)
                }
                messageID = id
            case "_unique_id":
                uniqueID = try optionalString(value, field: key)
            default:
                additional.append(uniqueKey: key, value: value)
            }
        }
        guard let messageID else {
            throw OsloCodecError(code: .missingField, field: "_msg_id", detail: "a reply needs the request's _msg_id")
        }
        self.messageID = messageID
        self.additionalFields = additional
    }

    private static let ownedKeys: Set<String> = ["result", "failure", "ending", "_msg_id", "_unique_id"]

    /// The inner message as JSON text (UTF-8), in oslo's key order.
    public func encodedMessageText() throws(OsloCodecError) -> [UInt8] {
        let failureText = try failure?.encodedString()
        var writer = JSONWriter(style: .python, reservingCapacity: 512)
        do {
            writer.beginObject()
            writer.writeKey("result")
            try writer.write(result)
            writer.writeKey("failure")
            if let failureText {
                writer.writeString(failureText)
            } else {
                writer.writeRaw("null")
            }
            writer.writeKey("ending")
            writer.writeRaw(ending ? "true" : "false")
            writer.writeKey("_msg_id")
            writer.writeString(messageID)
            if let uniqueID {
                writer.writeKey("_unique_id")
                writer.writeString(uniqueID)
            }
            for (key, value) in additionalFields where !Self.ownedKeys.contains(key) {
                writer.writeKey(key)
                try writer.write(value)
            }
            writer.endObject()
        } catch {
            throw .unencodable(error)
        }
        return writer.bytes
    }

    /// The AMQP body: the envelope around ``encodedMessageText()``.
    public func encodedBody() throws(OsloCodecError) -> [UInt8] {
        OsloEnvelope.encode(messageText: try encodedMessageText())
    }
}

/// A decoded message of either kind.
public enum RPCMessage: Sendable, Hashable {
    case request(RPCRequest)
    case reply(RPCReply)

    /// Decodes a body: a message with `method` is a request; one with
    /// `result`, `failure` or `ending` is a reply. (An RPC server knows which
    /// it expects from the queue; this is for tools and tests.)
    public init(decodingBody body: some Collection<UInt8>) throws(OsloCodecError) {
        let message = try OsloEnvelope.decode(body: body)
        if message.contains(key: "method") {
            self = .request(try RPCRequest(message: message))
        } else if message.contains(key: "result") || message.contains(key: "failure") || message.contains(key: "ending") {
            self = .reply(try RPCReply(message: message))
        } else {
            throw OsloCodecError(code: .missingField, field: "method", detail: "neither a request (method) nor a reply (result, failure, ending)")
        }
    }

    /// The AMQP body.
    public func encodedBody() throws(OsloCodecError) -> [UInt8] {
        switch self {
        case .request(let request): return try request.encodedBody()
        case .reply(let reply): return try reply.encodedBody()
        }
    }
}

private func optionalString(_ value: JSON, field: String) throws(OsloCodecError) -> String? {
    switch value {
    case .null: return nil
    case .string(let text): return text
    default: throw .wrongType(field, expected: "a string or null", found: value)
    }
}
