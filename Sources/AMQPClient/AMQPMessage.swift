/// The AMQP basic properties of a message. `nil` means "not sent".
public struct AMQPMessageProperties: Hashable, Sendable {
    /// The delivery mode property: 1 transient, 2 persistent.
    public struct DeliveryMode: RawRepresentable, Hashable, Sendable {
        public var rawValue: UInt8

        public init(rawValue: UInt8) {
            self.rawValue = rawValue
        }

        public static let transient = DeliveryMode(rawValue: 1)
        public static let persistent = DeliveryMode(rawValue: 2)
    }

    public var contentType: String?
    public var contentEncoding: String?
    public var headers: AMQPFieldTable?
    public var deliveryMode: DeliveryMode?
    public var priority: UInt8?
    public var correlationID: String?
    public var replyTo: String?
    /// Per-message TTL in milliseconds, as a decimal string (e.g. "60000").
    public var expiration: String?
    public var messageID: String?
    /// Seconds since the Unix epoch.
    public var timestamp: UInt64?
    public var type: String?
    /// Must equal the connection's user name if set (RabbitMQ checks it).
    public var userID: String?
    public var appID: String?

    public init(
        contentType: String? = nil,
        contentEncoding: String? = nil,
        headers: AMQPFieldTable? = nil,
        deliveryMode: DeliveryMode? = nil,
        priority: UInt8? = nil,
        correlationID: String? = nil,
        replyTo: String? = nil,
        expiration: String? = nil,
        messageID: String? = nil,
        timestamp: UInt64? = nil,
        type: String? = nil,
        userID: String? = nil,
        appID: String? = nil
    ) {
        self.contentType = contentType
        self.contentEncoding = contentEncoding
        self.headers = headers
        self.deliveryMode = deliveryMode
        self.priority = priority
        self.correlationID = correlationID
        self.replyTo = replyTo
        self.expiration = expiration
        self.messageID = messageID
        self.timestamp = timestamp
        self.type = type
        self.userID = userID
        self.appID = appID
    }
}

/// A message the broker delivered to a consumer.
///
/// Acknowledge it with ``AMQPConnection/ack(_:multiple:)`` (or nack/reject)
/// unless the consumer runs in no-ack mode. The delivery tag is only valid on
/// the channel it arrived on: after a reconnection an acknowledgement of an
/// older delivery is dropped (the broker redelivers the message anyway).
public struct AMQPDelivery: Sendable {
    public var body: [UInt8]
    public var properties: AMQPMessageProperties
    public var exchange: String
    public var routingKey: String
    /// The broker delivered this message before (to this or another consumer).
    public var redelivered: Bool
    public var deliveryTag: UInt64
    public var consumerTag: String
    /// Which connection (1, 2, ... counting reconnections) delivered it.
    public var connectionGeneration: UInt64
    /// Which incarnation of the consumer channel delivered it; acks from
    /// other incarnations are dropped.
    let channelIncarnation: UInt64

    init(
        body: [UInt8], properties: AMQPMessageProperties, exchange: String, routingKey: String, redelivered: Bool,
        deliveryTag: UInt64, consumerTag: String, connectionGeneration: UInt64, channelIncarnation: UInt64
    ) {
        self.body = body
        self.properties = properties
        self.exchange = exchange
        self.routingKey = routingKey
        self.redelivered = redelivered
        self.deliveryTag = deliveryTag
        self.consumerTag = consumerTag
        self.connectionGeneration = connectionGeneration
        self.channelIncarnation = channelIncarnation
    }

    /// A delivery that no broker sent, for tests and in-memory transports.
    /// Acknowledging it through an ``AMQPConnection`` does nothing.
    public init(
        body: [UInt8],
        properties: AMQPMessageProperties = AMQPMessageProperties(),
        exchange: String = "",
        routingKey: String,
        redelivered: Bool = false,
        deliveryTag: UInt64 = 1,
        consumerTag: String = "",
        connectionGeneration: UInt64 = 0
    ) {
        self.init(
            body: body, properties: properties, exchange: exchange, routingKey: routingKey, redelivered: redelivered,
            deliveryTag: deliveryTag, consumerTag: consumerTag, connectionGeneration: connectionGeneration,
            channelIncarnation: 0
        )
    }
}

/// What the broker did with a published message (publisher confirms).
public enum AMQPPublishOutcome: Hashable, Sendable {
    /// The broker took the message (routed it, or dropped it because it was
    /// not mandatory and nothing was bound).
    case acknowledged
    /// The message was mandatory and no queue was bound for it: the broker
    /// returned it (usually 312 NO_ROUTE). It was not enqueued anywhere.
    case returned(replyCode: UInt16, replyText: String)
}

/// The broker's answer to queue.declare.
public struct AMQPQueueDeclareResult: Hashable, Sendable {
    /// The queue name (the generated one when an empty name was declared).
    public var name: String
    public var messageCount: UInt32
    public var consumerCount: UInt32
}

/// An exchange type. RabbitMQ plugins add others; any name is accepted.
public struct AMQPExchangeType: RawRepresentable, Hashable, Sendable, ExpressibleByStringLiteral {
    public var rawValue: String

    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    public init(stringLiteral value: String) {
        rawValue = value
    }

    public static let direct = AMQPExchangeType(rawValue: "direct")
    public static let topic = AMQPExchangeType(rawValue: "topic")
    public static let fanout = AMQPExchangeType(rawValue: "fanout")
    public static let headers = AMQPExchangeType(rawValue: "headers")
}
