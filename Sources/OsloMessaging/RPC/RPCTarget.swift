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
