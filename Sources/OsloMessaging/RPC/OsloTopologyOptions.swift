import AMQPClient

/// oslo's `[oslo_messaging_rabbit]` options that shape declarations.
///
/// RabbitMQ refuses (406 PRECONDITION_FAILED) a declaration of an existing
/// queue or exchange with other `durable` / `auto_delete` flags or other
/// arguments, so a Swift peer must declare exactly what oslo.messaging
/// 18.3.1 declares for the deployment's options (`impl_rabbit.py`:
/// `declare_topic_consumer`, `declare_fanout_consumer`,
/// `declare_direct_consumer`, `topic_send`, `_get_queue_arguments`). The
/// declarations are computed by ``OsloTopology``.
///
/// Not mirrored: `rabbit_stream_fanout` (a shared stream queue instead of a
/// private fanout queue) and `use_queue_manager` (deterministic queue
/// names). Neither changes a queue or exchange the Swift side shares with
/// Python peers, so they cannot cause a 406.
public struct OsloTopologyOptions: Sendable, Equatable {
    /// `amqp_durable_queues` (default false): the control exchange and the
    /// topic / server queues are durable.
    public var durableQueues: Bool
    /// `amqp_auto_delete` (default false): the control exchange and the
    /// topic / server queues are auto-delete.
    public var autoDelete: Bool
    /// `rabbit_quorum_queue` (default false): topic / server queues are
    /// quorum queues (and durable, with the control exchange).
    public var quorumQueues: Bool
    /// `rabbit_transient_quorum_queue` (default false): reply and fanout
    /// queues are quorum queues; they and the fanout exchange are durable.
    public var transientQuorumQueues: Bool
    /// `rabbit_transient_queues_ttl` (default 1800 s): `x-expires` of reply
    /// and fanout queues, in whole milliseconds. `nil` or zero: none.
    public var transientQueuesTTL: Duration?
    /// `rabbit_ha_queues` (default false): `x-ha-policy: all` on every queue.
    /// Cannot be combined with quorum queues.
    public var haQueues: Bool
    /// `rabbit_quorum_delivery_limit` (default 0 = unset): `x-delivery-limit` of quorum queues.
    public var quorumDeliveryLimit: Int
    /// `rabbit_quorum_max_memory_length` (default 0 = unset): `x-max-in-memory-length` of quorum queues.
    public var quorumMaxMemoryLength: Int
    /// `rabbit_quorum_max_memory_bytes` (default 0 = unset): `x-max-in-memory-bytes` of quorum queues.
    public var quorumMaxMemoryBytes: Int
    /// `enable_cancel_on_failover` (default false): consumers pass
    /// `x-cancel-on-ha-failover: true`.
    public var cancelOnFailover: Bool
    /// `kombu_missing_consumer_retry_timeout` (default 60 s): how long a
    /// reply whose reply queue is missing is retried before it is dropped.
    public var missingConsumerRetryTimeout: Duration

    public init(
        durableQueues: Bool = false,
        autoDelete: Bool = false,
        quorumQueues: Bool = false,
        transientQuorumQueues: Bool = false,
        transientQueuesTTL: Duration? = .seconds(1800),
        haQueues: Bool = false,
        quorumDeliveryLimit: Int = 0,
        quorumMaxMemoryLength: Int = 0,
        quorumMaxMemoryBytes: Int = 0,
        cancelOnFailover: Bool = false,
        missingConsumerRetryTimeout: Duration = .seconds(60)
    ) {
        self.durableQueues = durableQueues
        self.autoDelete = autoDelete
        self.quorumQueues = quorumQueues
        self.transientQuorumQueues = transientQuorumQueues
        self.transientQueuesTTL = transientQueuesTTL
        self.haQueues = haQueues
        self.quorumDeliveryLimit = quorumDeliveryLimit
        self.quorumMaxMemoryLength = quorumMaxMemoryLength
        self.quorumMaxMemoryBytes = quorumMaxMemoryBytes
        self.cancelOnFailover = cancelOnFailover
        self.missingConsumerRetryTimeout = missingConsumerRetryTimeout
    }

    /// Throws for combinations oslo refuses at declaration time
    /// (`rabbit_ha_queues` together with quorum queues of the same kind).
    public func validate() throws(RPCConfigurationError) {
        if haQueues && quorumQueues {
            throw RPCConfigurationError(
                "rabbit_quorum_queue and rabbit_ha_queues are both enabled; a queue is quorum or HA (mirrored), not both"
            )
        }
        if haQueues && transientQuorumQueues {
            throw RPCConfigurationError(
                "rabbit_transient_quorum_queue and rabbit_ha_queues are both enabled; a queue is quorum or HA (mirrored), not both"
            )
        }
    }
}

/// An exchange as oslo declares it.
struct OsloExchangeDeclaration: Sendable, Hashable {
    var name: String
    var type: AMQPExchangeType
    var durable: Bool
    var autoDelete: Bool
}

/// A queue (with its binding) as oslo declares it. kombu declares the
/// exchange, then the queue, then binds it (`Queue.declare`); a queue on
/// the default exchange (`""`, reply queues) is neither bound nor is the
/// default exchange declared.
struct OsloQueueDeclaration: Sendable, Hashable {
    var name: String
    var durable: Bool
    var autoDelete: Bool
    var arguments: AMQPFieldTable
    /// The exchange bound to, `nil` for the default exchange.
    var exchange: OsloExchangeDeclaration?
    var routingKey: String
}

/// The declarations oslo.messaging 18.3.1 makes for a set of options.
struct OsloTopology: Sendable {
    var options: OsloTopologyOptions

    /// `Connection.durable`: quorum queues force durability.
    var durable: Bool { options.durableQueues || options.quorumQueues }

    /// The control exchange, as both the RPC server (`declare_topic_consumer`)
    /// and the publisher (`topic_send`) declare it.
    func controlExchange(_ name: String) -> OsloExchangeDeclaration {
        OsloExchangeDeclaration(name: name, type: .topic, durable: durable, autoDelete: options.autoDelete)
    }

    /// `declare_topic_consumer`: queue `routingKey` (the topic, or
    /// `<topic>.<server>`) bound to the control exchange with the same key.
    /// No TTL.
    func topicQueue(exchange: String, routingKey: String) -> OsloQueueDeclaration {
        OsloQueueDeclaration(
            name: routingKey,
            durable: durable,
            autoDelete: options.autoDelete,
            arguments: queueArguments(quorum: options.quorumQueues, withTTL: false),
            exchange: controlExchange(exchange),
            routingKey: routingKey
        )
    }

    /// `declare_fanout_consumer`: a private queue `<topic>_fanout_<unique>`
    /// bound with key `<topic>` to the fanout exchange `<topic>_fanout`
    /// (auto-delete, durable only with transient quorum queues).
    func fanoutQueue(topic: String, unique: String) -> OsloQueueDeclaration {
        let exchange = OsloExchangeDeclaration(
            name: topic + "_fanout", type: .fanout, durable: options.transientQuorumQueues, autoDelete: true
        )
        return OsloQueueDeclaration(
            name: "\(topic)_fanout_\(unique)",
            durable: options.transientQuorumQueues,
            autoDelete: false,
            arguments: queueArguments(quorum: options.transientQuorumQueues, withTTL: true),
            exchange: exchange,
            routingKey: topic
        )
    }

    /// `declare_direct_consumer`: the caller's reply queue on the default exchange.
    func replyQueue(name: String) -> OsloQueueDeclaration {
        OsloQueueDeclaration(
            name: name,
            durable: options.transientQuorumQueues,
            autoDelete: false,
            arguments: queueArguments(quorum: options.transientQuorumQueues, withTTL: true),
            exchange: nil,
            routingKey: ""
        )
    }

    /// Consumer arguments (`enable_cancel_on_failover`).
    var consumerArguments: AMQPFieldTable {
        options.cancelOnFailover ? ["x-cancel-on-ha-failover": .boolean(true)] : [:]
    }

    /// `_get_queue_arguments`, in oslo's order. Integers are encoded as
    /// py-amqp does: 32-bit when they fit, else 64-bit.
    func queueArguments(quorum: Bool, withTTL: Bool) -> AMQPFieldTable {
        var arguments = AMQPFieldTable()
        if options.haQueues {
            arguments["x-ha-policy"] = .string("all")
        }
        if quorum {
            arguments["x-queue-type"] = .string("quorum")
            if options.quorumDeliveryLimit != 0 {
                arguments["x-delivery-limit"] = Self.integer(Int64(options.quorumDeliveryLimit))
            }
            if options.quorumMaxMemoryLength != 0 {
                arguments["x-max-in-memory-length"] = Self.integer(Int64(options.quorumMaxMemoryLength))
            }
            if options.quorumMaxMemoryBytes != 0 {
                arguments["x-max-in-memory-bytes"] = Self.integer(Int64(options.quorumMaxMemoryBytes))
            }
        }
        if withTTL, let milliseconds = transientQueuesTTLMilliseconds {
            arguments["x-expires"] = Self.integer(milliseconds)
        }
        return arguments
    }

    /// `rabbit_transient_queues_ttl * 1000`, or `nil` when not positive.
    var transientQueuesTTLMilliseconds: Int64? {
        guard let ttl = options.transientQueuesTTL else {
            return nil
        }
        let milliseconds = ttl.wholeMilliseconds
        return milliseconds > 0 ? milliseconds : nil
    }

    static func integer(_ value: Int64) -> AMQPFieldValue {
        if let small = Int32(exactly: value) {
            return .int32(small)
        }
        return .int64(value)
    }
}

extension Duration {
    /// The duration in whole milliseconds, truncated toward zero (Python's
    /// `int(seconds * 1000)`).
    var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        let (milliseconds, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        if overflow {
            return seconds < 0 ? .min : .max
        }
        return milliseconds + attoseconds / 1_000_000_000_000_000
    }
}
