import AMQPClient

/// A topic queue on the broker next to what oslo.messaging declares for a
/// deployment's options (`mistral-actions doctor`).
public struct OsloQueueInspection: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        /// No such queue: nothing has consumed the topic yet.
        case missing
        /// The queue exists with the properties these options declare.
        case matching
        /// The queue exists with other properties (durability, type,
        /// arguments): the broker's PRECONDITION_FAILED text. oslo.messaging
        /// 17.2 and later refuse to start on it, as the worker does.
        case different(String)
    }

    public var queue: String
    public var state: State
    /// Consumers on the queue now (any client: Swift workers and Python
    /// executors look the same over AMQP).
    public var consumers: UInt32
    /// Messages waiting in the queue.
    public var messages: UInt32
}

extension AMQPConnection {
    /// Looks at the queue of `topic` without changing it: a passive declare
    /// for its counts, then the declaration oslo.messaging makes for
    /// `options`, which the broker accepts only when it matches the queue
    /// that exists (an existing queue is never changed by a declare).
    public func inspectOsloTopicQueue(
        exchange: String, topic: String, options: OsloTopologyOptions
    ) async throws -> OsloQueueInspection {
        let declaration = OsloTopology(options: options).topicQueue(exchange: exchange, routingKey: topic)
        let found: AMQPQueueDeclareResult
        do {
            found = try await declareQueue(name: declaration.name, passive: true)
        } catch let error as AMQPError where error.replyCode == 404 {
            return OsloQueueInspection(queue: declaration.name, state: .missing, consumers: 0, messages: 0)
        }
        var state = OsloQueueInspection.State.matching
        do {
            try await declareQueue(
                name: declaration.name, durable: declaration.durable, autoDelete: declaration.autoDelete,
                arguments: declaration.arguments
            )
        } catch let error as AMQPError where error.replyCode == 406 {
            state = .different(error.replyText ?? "\(error)")
        }
        return OsloQueueInspection(
            queue: declaration.name, state: state, consumers: found.consumerCount, messages: found.messageCount
        )
    }
}
