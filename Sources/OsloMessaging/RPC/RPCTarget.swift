import AMQPClient

/// Where an RPC server listens (oslo's `Target` for a server).
public struct RPCTarget: Sendable, Hashable {
    /// The control exchange (oslo's `control_exchange`, `openstack` by default).
    public var exchange: String
    /// The topic: the shared queue `<topic>` and the fanout exchange `<topic>_fanout`.
    public var topic: String
    /// The server name: the queue `<topic>.<server>`; `nil` for no server queue.
    public var server: String?

    public init(exchange: String = "openstack", topic: String, server: String? = nil) {
        self.exchange = exchange
        self.topic = topic
        self.server = server
    }

    /// The routing key of the server queue, `<topic>.<server>`.
    public var serverRoutingKey: String? {
        server.map { topic + "." + $0 }
    }
}

/// Which of an RPC server's queues a message came from.
public enum RPCQueueKind: Sendable, Hashable, CustomStringConvertible {
    /// The shared topic queue `<topic>`.
    case topic
    /// The server queue `<topic>.<server>`.
    case server
    /// The private fanout queue `<topic>_fanout_<uuid hex>`.
    case fanout

    public var description: String {
        switch self {
        case .topic: "topic"
        case .server: "server"
        case .fanout: "fanout"
        }
    }
}

/// A message delivered to an ``RPCServer``.
///
/// Acknowledge or reject it through the server
/// (``RPCServer/acknowledge(_:)``, ``RPCServer/reject(_:requeue:)``); oslo
/// acknowledges on receipt, before running the request.
public struct RPCIncoming: Sendable {
    /// The AMQP delivery (body, properties, redelivered flag, tags).
    public var delivery: AMQPDelivery
    /// The queue it came from.
    public var queue: RPCQueueKind
    /// The decoded request, or why the body could not be decoded. Bodies
    /// that do not decode are delivered too, so that they are acknowledged
    /// (or rejected) and logged rather than dropped silently.
    public var message: Result<RPCRequest, OsloCodecError>

    public init(delivery: AMQPDelivery, queue: RPCQueueKind, message: Result<RPCRequest, OsloCodecError>) {
        self.delivery = delivery
        self.queue = queue
        self.message = message
    }
}

/// The merged deliveries of an ``RPCServer``'s three consumers, in arrival
/// order per queue.
///
/// Ends after ``RPCServer/stop()``, once the deliveries already received
/// have been returned; throws when a consumer ends for good (the
/// connection's `run()` ended). Cancelling the iterating task asks the
/// server to stop (basic.cancel on the three consumers) instead of dropping
/// buffered deliveries: the iteration still returns the deliveries already
/// received, which must be acknowledged or rejected, and then ends.
/// Only one task may iterate it.
public struct RPCIncomingSequence: AsyncSequence, Sendable {
    public typealias Element = RPCIncoming
    public typealias Failure = any Error

    let buffer: IncomingBuffer<RPCIncoming>

    public struct AsyncIterator: AsyncIteratorProtocol {
        public typealias Element = RPCIncoming
        public typealias Failure = any Error

        let buffer: IncomingBuffer<RPCIncoming>

        public mutating func next() async throws -> RPCIncoming? {
            try await buffer.next()
        }

        public mutating func next(isolation actor: isolated (any Actor)?) async throws(any Error) -> RPCIncoming? {
            try await buffer.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(buffer: buffer)
    }
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
