/// A configuration that oslo.messaging would refuse, or a misuse of the RPC API.
public struct RPCConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// A call got no final reply within its timeout (oslo's `MessagingTimeout`).
public struct RPCTimeoutError: Error, Sendable, CustomStringConvertible {
    /// The method called.
    public var method: String
    /// The routing key the call was sent with (`<topic>` or `<topic>.<server>`).
    public var topic: String
    /// The timeout that passed.
    public var timeout: Duration
    /// The call's `_msg_id`.
    public var messageID: String

    public init(method: String, topic: String, timeout: Duration, messageID: String) {
        self.method = method
        self.topic = topic
        self.timeout = timeout
        self.messageID = messageID
    }

    public var description: String {
        "timed out after \(timeout) waiting for a reply to '\(method)' on '\(topic)' (message ID \(messageID))"
    }
}
