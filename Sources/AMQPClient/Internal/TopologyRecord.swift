struct ExchangeDeclaration: Hashable, Sendable {
    var name: String
    var type: AMQPExchangeType
    var durable: Bool
    var autoDelete: Bool
    var `internal`: Bool
    var arguments: AMQPFieldTable
}

struct QueueDeclaration: Hashable, Sendable {
    var name: String
    var durable: Bool
    var exclusive: Bool
    var autoDelete: Bool
    var arguments: AMQPFieldTable
    /// Declared with an empty name: the broker chose `name`, and must choose
    /// again on replay (names starting with `amq.` cannot be declared).
    var serverNamed = false
}

struct QueueBinding: Hashable, Sendable {
    var queue: String
    var exchange: String
    var routingKey: String
    var arguments: AMQPFieldTable
}

struct ConsumerRegistration: Sendable {
    var tag: String
    var queue: String
    var exclusive: Bool
    var arguments: AMQPFieldTable
    /// basic.qos sent just before this consumer's basic.consume (per consumer);
    /// `nil`: the connection-wide prefetch applies.
    var prefetch: UInt16? = nil
    var continuation: AsyncThrowingStream<AMQPDelivery, any Error>.Continuation
}

/// Everything declared through the API, replayed after a reconnection in a
/// dependency-safe order: exchanges, queues, bindings, prefetch, consumers
/// (each group in the order it was first recorded).
struct TopologyRecord {
    private(set) var exchanges: [ExchangeDeclaration] = []
    private(set) var queues: [QueueDeclaration] = []
    private(set) var bindings: [QueueBinding] = []
    var prefetch: (count: UInt16, global: Bool)?
    private(set) var consumerOrder: [String] = []
    private(set) var consumers: [String: ConsumerRegistration] = [:]

    mutating func record(_ exchange: ExchangeDeclaration) {
        if let index = exchanges.firstIndex(where: { $0.name == exchange.name }) {
            exchanges[index] = exchange
        } else {
            exchanges.append(exchange)
        }
    }

    mutating func record(_ queue: QueueDeclaration) {
        if let index = queues.firstIndex(where: { $0.name == queue.name }) {
            queues[index] = queue
        } else {
            queues.append(queue)
        }
    }

    mutating func record(_ binding: QueueBinding) {
        if !bindings.contains(binding) {
            bindings.append(binding)
        }
    }

    mutating func record(_ consumer: ConsumerRegistration) {
        if consumers.updateValue(consumer, forKey: consumer.tag) == nil {
            consumerOrder.append(consumer.tag)
        }
    }

    mutating func removeBinding(_ binding: QueueBinding) {
        bindings.removeAll { $0 == binding }
    }

    /// Forgets a deleted queue and its bindings. Its consumers stay until the
    /// broker cancels them (basic.cancel).
    mutating func removeQueue(named name: String) {
        queues.removeAll { $0.name == name }
        bindings.removeAll { $0.queue == name }
    }

    /// Forgets a deleted exchange and the bindings to it.
    mutating func removeExchange(named name: String) {
        exchanges.removeAll { $0.name == name }
        bindings.removeAll { $0.exchange == name }
    }

    @discardableResult
    mutating func removeConsumer(tag: String) -> ConsumerRegistration? {
        guard let consumer = consumers.removeValue(forKey: tag) else {
            return nil
        }
        consumerOrder.removeAll { $0 == tag }
        return consumer
    }

    /// Consumers in the order they were started.
    var orderedConsumers: [ConsumerRegistration] {
        consumerOrder.compactMap { consumers[$0] }
    }

    /// A server-named queue got a new name on replay: bindings and consumers follow it.
    mutating func renameQueue(from oldName: String, to newName: String) {
        guard oldName != newName else {
            return
        }
        for index in queues.indices where queues[index].name == oldName {
            queues[index].name = newName
        }
        for index in bindings.indices where bindings[index].queue == oldName {
            bindings[index].queue = newName
        }
        for tag in consumerOrder where consumers[tag]?.queue == oldName {
            consumers[tag]?.queue = newName
        }
    }

    /// Forgets everything (at shutdown), returning the consumers to finish.
    mutating func removeAllConsumers() -> [ConsumerRegistration] {
        let all = orderedConsumers
        consumers.removeAll()
        consumerOrder.removeAll()
        return all
    }
}
