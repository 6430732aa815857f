import AMQPClient
import Logging
import OrderedJSON
import Synchronization

/// An oslo.messaging RPC client over AMQP: casts and calls to a topic (or
/// one server of it) on a control exchange, as oslo's `RPCClient` with the
/// rabbit driver sends them.
///
/// Calls share one reply queue `reply_<uuid hex>`, declared lazily by the
/// first call (as oslo does) and consumed by one task that the client owns
/// (the *reply pump*). The pump ends when the connection's `run()` ends,
/// when ``shutdown(deletingReplyQueue:)`` is called, or when the client is
/// deinitialized (it does not keep the client alive). If the broker cancels
/// the reply consumer (queue deleted), the waiting calls fail and the next
/// call declares a new reply queue.
///
/// Use a connection without a prefetch limit (or a generous one): the reply
/// consumer shares the connection's consumer channel and its basic.qos.
public final class RPCClient: Sendable {
    /// The control exchange requests are published to.
    public let exchange: String
    /// The declaration options (control exchange, reply queue).
    public let options: OsloTopologyOptions
    /// The default call timeout (oslo's `rpc_response_timeout`).
    public let responseTimeout: Duration

    let connection: AMQPConnection
    let logger: Logger
    let topology: OsloTopology
    private let shared = Shared()

    /// State shared with the reply pump (which must not retain the client).
    private final class Shared: Sendable {
        let state = Mutex(State())
    }

    private struct State {
        var exchangeDeclaration: Task<Void, any Error>?
        var replySetup: Task<String, any Error>?
        /// The reply queue being consumed; `nil` before the first call and after its consumer ended.
        var replyQueue: String?
        var replyConsumer: AMQPConsumer?
        var replyPump: Task<Void, Never>?
        /// Waiting calls by `_msg_id`.
        var waiters: [String: AsyncStream<RPCReply>.Continuation] = [:]
        /// Why the last reply consumer ended.
        var replyConsumerFailure: (any Error)?
        var isShutDown = false
    }

    public init(
        connection: AMQPConnection,
        exchange: String = "openstack",
        options: OsloTopologyOptions,
        responseTimeout: Duration = .seconds(60),
        logger: Logger
    ) {
        self.connection = connection
        self.exchange = exchange
        self.options = options
        self.responseTimeout = responseTimeout
        self.topology = OsloTopology(options: options)
        self.logger = logger
    }

    deinit {
        // Ends the reply pump (and with it the reply consumer).
        shared.state.withLock { $0.replyPump }?.cancel()
    }

    /// The reply queue, once the first call declared it.
    public var replyQueueName: String? {
        shared.state.withLock { $0.replyQueue }
    }

    // MARK: Sending

    /// Sends a cast: the request (with a fresh `_unique_id` if it has none;
    /// `_msg_id`, `_reply_q` and `_timeout` removed) to ``exchange`` with
    /// routing key `topic` or `topic.server`, with oslo's properties
    /// (`application/json`, `utf-8`, persistent, priority 0), not mandatory.
    ///
    /// Returns once the broker confirmed the message; throws otherwise (the
    /// caller may retry). The control exchange is declared once first, as
    /// oslo's publisher does, so that a first publish never meets a 404.
    ///
    /// With `mandatory`, a cast no queue is bound for is returned by the
    /// broker instead of being dropped, and the outcome says so
    /// (``AMQPPublishOutcome/returned(replyCode:replyText:)``); the caller
    /// decides whether to retry (e.g. until the engine re-declared its queue
    /// after a broker restart).
    @discardableResult
    public func cast(_ request: RPCRequest, topic: String, server: String? = nil, mandatory: Bool = false) async throws -> AMQPPublishOutcome {
        var request = request
        request.messageID = nil
        request.replyQueue = nil
        request.callMonitorTimeout = nil
        if request.uniqueID == nil {
            request.uniqueID = MessageID.generate()
        }
        let body = try request.encodedBody()
        let routingKey = Self.routingKey(topic: topic, server: server)
        try await declareControlExchange()
        if mandatory {
            let outcome = try await connection.publish(
                body: body, exchange: exchange, routingKey: routingKey,
                properties: OsloMessageProperties.make(expiration: nil), mandatory: true
            )
            logger.debug(
                "Cast sent",
                metadata: [
                    "oslo.method": "\(request.method)", "amqp.routing_key": "\(routingKey)",
                    "oslo.unique_id": "\(request.uniqueID ?? "")", "amqp.outcome": "\(outcome)",
                ]
            )
            return outcome
        }
        try await publish(body, routingKey: routingKey, expiration: nil)
        logger.debug(
            "Cast sent",
            metadata: ["oslo.method": "\(request.method)", "amqp.routing_key": "\(routingKey)", "oslo.unique_id": "\(request.uniqueID ?? "")"]
        )
        return .acknowledged
    }

    /// Sends a call and waits for its reply, as oslo's rabbit driver does.
    ///
    /// The first call declares the reply queue `reply_<uuid hex>` (`x-expires`
    /// per ``OsloTopologyOptions/transientQueuesTTL``, classic or quorum per
    /// ``OsloTopologyOptions/transientQuorumQueues``) and consumes it. The
    /// request gets a fresh `_msg_id`, `_reply_q` and `_timeout: null` (and a
    /// fresh `_unique_id` if it has none) and is published like a cast with
    /// `expiration` = the timeout in milliseconds (the message dies in the
    /// queue when nobody could answer in time).
    ///
    /// Replies follow oslo's `ReplyWaiter`: a reply with `ending: false` is a
    /// keep-alive (null result) or a partial result of an old server; the
    /// call ends with the first `ending: true` reply and returns the last
    /// non-null `result` (or null). Replies for unknown or finished calls
    /// are dropped with a debug log.
    ///
    /// - Returns: the reply's `result` as sent (with Mistral, JSON text in a
    ///   string: see ``RPCReply/mistralResult()``).
    /// - Throws: the ``RemoteFailure`` of a failure reply;
    ///   ``RPCTimeoutError`` when no final reply came within `timeout`
    ///   (default ``responseTimeout``), counted from the publish (the reply
    ///   queue's declaration on the first call is not counted);
    ///   an `AMQPError` when publishing failed or the reply consumer ended;
    ///   `CancellationError` when the task is cancelled.
    public func call(_ request: RPCRequest, topic: String, server: String? = nil, timeout: Duration? = nil) async throws -> JSON {
        let timeout = timeout ?? responseTimeout
        let routingKey = Self.routingKey(topic: topic, server: server)
        try await declareControlExchange()
        let replyQueue = try await ensureReplyQueue()

        var request = request
        let messageID = MessageID.generate()
        request.messageID = messageID
        request.replyQueue = replyQueue
        request.callMonitorTimeout = nil
        if request.uniqueID == nil {
            request.uniqueID = MessageID.generate()
        }
        let body = try request.encodedBody()
        let logger = {
            var logger = self.logger
            logger[metadataKey: "oslo.method"] = "\(request.method)"
            logger[metadataKey: "oslo.msg_id"] = "\(messageID)"
            logger[metadataKey: "amqp.routing_key"] = "\(routingKey)"
            return logger
        }()

        let (replies, continuation) = AsyncStream.makeStream(of: RPCReply.self)
        try shared.state.withLock { state throws(AMQPError) in
            guard state.replyQueue == replyQueue else {
                throw AMQPError(
                    code: .consumerCancelled, message: "the reply queue '\(replyQueue)' is no longer consumed",
                    underlying: state.replyConsumerFailure
                )
            }
            state.waiters[messageID] = continuation
        }
        defer {
            shared.state.withLock { $0.waiters.removeValue(forKey: messageID) }?.finish()
        }

        // Counted from the publish, not from its confirm: a slow confirm must
        // not stretch the call (oslo bounds its publish by the timeout too).
        let deadline = ContinuousClock.now + timeout
        try await publish(body, routingKey: routingKey, expiration: timeout)
        logger.debug("Call sent; waiting for the reply", metadata: ["oslo.reply_queue": "\(replyQueue)"])

        let outcome = try await withThrowingTaskGroup(of: CallOutcome.self) { group in
            group.addTask {
                await Self.finalReply(from: replies, logger: logger)
            }
            group.addTask {
                try await Task.sleep(until: deadline, clock: .continuous)
                return .timedOut
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else {
                throw CancellationError()
            }
            return first
        }
        switch outcome {
        case .result(let result):
            return result
        case .failure(let failure):
            throw failure
        case .timedOut:
            logger.debug("Call timed out", metadata: ["oslo.timeout": "\(timeout)"])
            throw RPCTimeoutError(method: request.method, topic: routingKey, timeout: timeout, messageID: messageID)
        case .consumerEnded:
            try Task.checkCancellation()
            let cause = shared.state.withLock { $0.replyConsumerFailure }
            throw AMQPError(
                code: .consumerCancelled, message: "the consumer of reply queue '\(replyQueue)' ended before the reply arrived",
                underlying: cause
            )
        }
    }

    private enum CallOutcome: Sendable {
        case result(JSON)
        case failure(RemoteFailure)
        case timedOut
        case consumerEnded
    }

    /// oslo's `ReplyWaiter.wait` loop for one call.
    private static func finalReply(from replies: AsyncStream<RPCReply>, logger: Logger) async -> CallOutcome {
        var final: CallOutcome?
        for await reply in replies {
            if let failure = reply.failure {
                final = .failure(failure)
            } else if !reply.result.isNull {
                final = .result(reply.result)
            } else if !reply.ending {
                logger.debug("Call-monitor keep-alive received")
            }
            if reply.ending {
                return final ?? .result(.null)
            }
        }
        return .consumerEnded
    }

    static func routingKey(topic: String, server: String?) -> String {
        server.map { topic + "." + $0 } ?? topic
    }

    private func publish(_ body: [UInt8], routingKey: String, expiration: Duration?) async throws {
        let outcome = try await connection.publish(
            body: body, exchange: exchange, routingKey: routingKey,
            properties: OsloMessageProperties.make(expiration: expiration), mandatory: false
        )
        if case .returned(let replyCode, let replyText) = outcome {
            // Only mandatory messages are returned; kept for completeness.
            throw AMQPError(code: .invalidArgument, message: "the broker returned the message: \(replyCode) \(replyText)")
        }
    }

    // MARK: Topology

    /// Declares the control exchange once per client (the connection
    /// re-declares it after a reconnection), with oslo's fallback to
    /// non-durable on a 406 durability mismatch.
    private func declareControlExchange() async throws {
        let declaration = shared.state.withLock { state -> Task<Void, any Error> in
            if let existing = state.exchangeDeclaration {
                return existing
            }
            let exchange = topology.controlExchange(self.exchange)
            let task = Task { [connection, logger] in
                try await connection.declareOsloExchange(exchange, logger: logger)
            }
            state.exchangeDeclaration = task
            return task
        }
        do {
            try await declaration.value
        } catch {
            shared.state.withLock { state in
                if state.exchangeDeclaration == declaration {
                    state.exchangeDeclaration = nil
                }
            }
            throw error
        }
    }

    /// The reply queue, declared and consumed by the first caller.
    private func ensureReplyQueue() async throws -> String {
        let setup = try shared.state.withLock { state throws(AMQPError) -> Task<String, any Error> in
            guard !state.isShutDown else {
                throw AMQPError(code: .shutDown, message: "the RPC client was shut down")
            }
            if let existing = state.replySetup {
                return existing
            }
            let task = Task { try await self.setUpReplyQueue() }
            state.replySetup = task
            return task
        }
        do {
            return try await setup.value
        } catch {
            shared.state.withLock { state in
                if state.replySetup == setup {
                    state.replySetup = nil
                }
            }
            throw error
        }
    }

    private func setUpReplyQueue() async throws -> String {
        try options.validate()
        let name = "reply_" + MessageID.generate()
        try await connection.declareOsloQueue(topology.replyQueue(name: name), logger: logger)
        let consumer = try await connection.consume(queue: name, arguments: topology.consumerArguments)
        shared.state.withLock { state in
            state.replyQueue = name
            state.replyConsumer = consumer
        }
        let pump = Task { [connection, shared, logger] in
            await Self.pumpReplies(from: consumer, queue: name, connection: connection, shared: shared, logger: logger)
        }
        shared.state.withLock { state in
            if state.replyQueue == name {
                state.replyPump = pump
            }
        }
        logger.debug("Reply queue declared and consumed", metadata: ["oslo.reply_queue": "\(name)"])
        return name
    }

    /// Hands each reply to the call waiting for its `_msg_id`.
    private static func pumpReplies(
        from consumer: AMQPConsumer,
        queue: String,
        connection: AMQPConnection,
        shared: Shared,
        logger: Logger
    ) async {
        var failure: (any Error)?
        do {
            for try await delivery in consumer {
                // oslo acknowledges replies on receipt.
                connection.ack(delivery)
                let reply: RPCReply
                do {
                    reply = try RPCReply(decodingBody: delivery.body)
                } catch {
                    logger.warning("Dropping a reply that does not decode", error: error, metadata: ["oslo.reply_queue": "\(queue)"])
                    continue
                }
                if let waiter = shared.state.withLock({ $0.waiters[reply.messageID] }) {
                    waiter.yield(reply)
                } else {
                    logger.debug(
                        "Dropping a reply for no waiting call (late or unknown)",
                        metadata: ["oslo.msg_id": "\(reply.messageID)", "oslo.ending": "\(reply.ending)"]
                    )
                }
            }
        } catch {
            failure = error
        }
        let waiters = shared.state.withLock { state -> [AsyncStream<RPCReply>.Continuation] in
            if state.replyQueue == queue {
                state.replyQueue = nil
                state.replyConsumer = nil
                state.replySetup = nil
                state.replyPump = nil
            }
            state.replyConsumerFailure = failure
            let waiters = Array(state.waiters.values)
            state.waiters.removeAll()
            return waiters
        }
        for waiter in waiters {
            waiter.finish()
        }
        if let failure {
            logger.warning("The reply consumer ended", error: failure, metadata: ["oslo.reply_queue": "\(queue)"])
        } else {
            logger.debug("The reply consumer ended", metadata: ["oslo.reply_queue": "\(queue)"])
        }
    }

    // MARK: Shutdown

    /// Cancels the reply consumer and waits for the reply pump to end; calls
    /// still waiting fail. With `deletingReplyQueue`, also deletes the reply
    /// queue (oslo leaves it to expire after `rabbit_transient_queues_ttl`).
    /// Later calls throw; casts still work.
    public func shutdown(deletingReplyQueue: Bool = false) async {
        let setup = shared.state.withLock { state in
            state.isShutDown = true
            return state.replySetup
        }
        _ = try? await setup?.value
        let (consumer, pump, queue) = shared.state.withLock { state in
            (state.replyConsumer, state.replyPump, state.replyQueue)
        }
        if let consumer {
            do {
                try await consumer.cancel()
            } catch {
                logger.debug("Cancelling the reply consumer failed", error: error)
            }
        }
        await pump?.value
        if deletingReplyQueue, let queue {
            do {
                try await connection.deleteQueue(name: queue)
            } catch {
                logger.warning("Cannot delete the reply queue", error: error, metadata: ["oslo.reply_queue": "\(queue)"])
            }
        }
    }
}
