struct PublishRequest: Sendable {
    var body: [UInt8]
    var exchange: String
    var routingKey: String
    var properties: AMQPMessageProperties
    var mandatory: Bool
}

struct Acknowledgement: Sendable {
    enum Kind: Sendable {
        case ack(multiple: Bool)
        case nack(multiple: Bool, requeue: Bool)
        case reject(requeue: Bool)
    }

    var kind: Kind
    var deliveryTag: UInt64
    var channelIncarnation: UInt64
}

/// An operation handed from an async caller to the connection thread. The
/// continuation (if any) is resumed exactly once, by the connection thread or,
/// when the connection has stopped, by whoever finds the command.
enum Command: Sendable {
    case publish(PublishRequest, UnsafeContinuation<AMQPPublishOutcome, any Error>)
    case declareExchange(ExchangeDeclaration, passive: Bool, UnsafeContinuation<Void, any Error>)
    case declareQueue(QueueDeclaration, passive: Bool, UnsafeContinuation<AMQPQueueDeclareResult, any Error>)
    case bindQueue(QueueBinding, UnsafeContinuation<Void, any Error>)
    case unbindQueue(QueueBinding, UnsafeContinuation<Void, any Error>)
    case purgeQueue(name: String, UnsafeContinuation<UInt32, any Error>)
    case deleteQueue(name: String, ifUnused: Bool, ifEmpty: Bool, UnsafeContinuation<UInt32, any Error>)
    case deleteExchange(name: String, ifUnused: Bool, UnsafeContinuation<Void, any Error>)
    case setPrefetch(count: UInt16, global: Bool, UnsafeContinuation<Void, any Error>)
    case consume(ConsumerRegistration, UnsafeContinuation<Void, any Error>)
    case cancelConsumer(tag: String, UnsafeContinuation<Void, any Error>?)
    case acknowledge(Acknowledgement)

    /// Fails the command's caller (consumers also get their stream finished).
    func fail(_ error: AMQPError) {
        switch self {
        case .publish(_, let continuation):
            continuation.resume(throwing: error)
        case .declareExchange(_, _, let continuation), .bindQueue(_, let continuation),
             .unbindQueue(_, let continuation), .deleteExchange(_, _, let continuation),
             .setPrefetch(_, _, let continuation):
            continuation.resume(throwing: error)
        case .declareQueue(_, _, let continuation):
            continuation.resume(throwing: error)
        case .purgeQueue(_, let continuation), .deleteQueue(_, _, _, let continuation):
            continuation.resume(throwing: error)
        case .consume(let consumer, let continuation):
            consumer.continuation.finish(throwing: error)
            continuation.resume(throwing: error)
        case .cancelConsumer(_, let continuation):
            // A consumer of a stopped connection is already finished.
            continuation?.resume()
        case .acknowledge:
            break
        }
    }
}

/// A FIFO of commands with the instant each may wait until (for commands
/// that wait for a connection). Storage is reused.
struct CommandQueue {
    struct Item {
        var command: Command
        var deadline: ContinuousClock.Instant?
    }

    private var items: [Item] = []
    private var head = 0

    var isEmpty: Bool { head == items.count }

    mutating func append(_ command: Command, deadline: ContinuousClock.Instant?) {
        items.append(Item(command: command, deadline: deadline))
    }

    mutating func popFirst() -> Item? {
        guard head < items.count else {
            return nil
        }
        let item = items[head]
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        }
        return item
    }

    /// Removes and returns every item, in order.
    mutating func removeAll() -> [Item] {
        let all = Array(items[head...])
        items.removeAll(keepingCapacity: true)
        head = 0
        return all
    }

    var earliestDeadline: ContinuousClock.Instant? {
        items[head...].compactMap(\.deadline).min()
    }
}
