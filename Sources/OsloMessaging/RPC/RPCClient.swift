import AMQPClient
import Logging
import OrderedJSON
import Synchronization

/// An oslo.messaging RPC client over AMQP: casts and calls to a topic (or
/// one server of it) on a control exchange, as oslo's `RPCClient` with the
/// rabbit driver sends them.
///
/// Calls share one reply queue `reply_<uuid hex>`, declared lazily by the
/// first call (as oslo does). ``run()`` reads it: the replies reach the
/// calls waiting for them only while it runs (casts do not need it). Run it
/// in a task of your own (a task group, or as a service); it returns after
/// ``shutdown(deletingReplyQueue:)`` or when its task is cancelled, and then
/// no reply consumer is left. If the broker cancels the reply consumer
/// (queue deleted), the waiting calls fail and the next call declares a new
/// reply queue. The client starts no task of its own.
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
    private let state = Mutex(State())
    /// The control exchange, declared once by the first publish.
    private let exchangeDeclaration = AsyncOnce<Void>()
    /// The reply queue's name, declared and consumed once by the first call
    /// (again after its consumer ended).
    private let replySetup = AsyncOnce<String>()

    private struct ReplyConsumer: Sendable {
        var queue: String
        var consumer: AMQPConsumer
    }

    private struct State {
        /// The reply queue being consumed; `nil` before the first call and after its consumer ended.
        var replyQueue: String?
        var replyConsumer: AMQPConsumer?
        /// The last reply queue declared, consumed or not (what
        /// `shutdown(deletingReplyQueue: true)` deletes).
        var lastReplyQueue: String?
        /// Reply consumers that ``run()`` has not taken yet.
        var pendingReplyConsumers: [ReplyConsumer] = []
        /// ``run()`` waiting for a reply consumer.
        var runWaiter: CheckedContinuation<ReplyConsumer?, Never>?
        var runCalled = false
        /// The reply queue ``run()`` reads.
        var pumpedQueue: String?
        /// ``shutdown(deletingReplyQueue:)`` calls waiting for ``run()`` to finish reading `pumpedQueue`.
        var pumpEndWaiters: [CheckedContinuation<Void, Never>] = []
        /// Waiting calls by `_msg_id`.
        var waiters: [String: AsyncStream<RPCReply>.Continuation] = [:]
        /// Why the last reply consumer ended.
        var replyConsumerFailure: (any Error)?
        /// After ``shutdown(deletingReplyQueue:)`` or the end of ``run()``: calls fail.
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

    /// The reply queue, once the first call declared it.
    public var replyQueueName: String? {
        state.withLock { $0.replyQueue }
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
    ///   an `AMQPError` when publishing failed, the reply consumer ended or
    ///   the client was shut down; `CancellationError` when the task is
    ///   cancelled. Without ``run()`` running, the reply is not read: the
    ///   call times out.
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
        try state.withLock { state throws(AMQPError) in
            guard state.replyQueue == replyQueue else {
                throw AMQPError(
                    code: .consumerCancelled, message: "the reply queue '\(replyQueue)' is no longer consumed",
                    underlying: state.replyConsumerFailure
                )
            }
            state.waiters[messageID] = continuation
        }
        defer {
            state.withLock { $0.waiters.removeValue(forKey: messageID) }?.finish()
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
            let cause = state.withLock { $0.replyConsumerFailure }
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
    /// non-durable on a 406 durability mismatch. A failed declaration is
    /// tried again by the next publish.
    private func declareControlExchange() async throws {
        try await exchangeDeclaration.value {
            try await connection.declareOsloExchange(topology.controlExchange(exchange), logger: logger)
        }
    }

    /// The reply queue, declared and consumed by the first caller.
    private func ensureReplyQueue() async throws -> String {
        try throwIfShutDown()
        return try await replySetup.value {
            try await setUpReplyQueue()
        }
    }

    private func throwIfShutDown() throws(AMQPError) {
        if state.withLock({ $0.isShutDown }) {
            throw AMQPError(code: .shutDown, message: "the RPC client was shut down (shutdown() or the end of run())")
        }
    }

    private func setUpReplyQueue() async throws -> String {
        try options.validate()
        try throwIfShutDown()
        let name = "reply_" + MessageID.generate()
        try await connection.declareOsloQueue(topology.replyQueue(name: name), logger: logger)
        let consumer = try await connection.consume(queue: name, arguments: topology.consumerArguments)
        let entry = ReplyConsumer(queue: name, consumer: consumer)
        enum Handover {
            case toRun(CheckedContinuation<ReplyConsumer?, Never>)
            case pending
            case refused
        }
        let handover = state.withLock { state -> Handover in
            guard !state.isShutDown else {
                return .refused
            }
            state.replyQueue = name
            state.lastReplyQueue = name
            state.replyConsumer = consumer
            if let waiter = state.runWaiter {
                state.runWaiter = nil
                state.pumpedQueue = name
                return .toRun(waiter)
            }
            state.pendingReplyConsumers.append(entry)
            return .pending
        }
        switch handover {
        case .toRun(let waiter):
            waiter.resume(returning: entry)
        case .pending:
            break
        case .refused:
            // Shut down meanwhile: no call will use this queue.
            try? await consumer.cancel()
            _ = try? await connection.deleteQueue(name: name)
            throw AMQPError(code: .shutDown, message: "the RPC client was shut down (shutdown() or the end of run())")
        }
        logger.debug("Reply queue declared and consumed", metadata: ["oslo.reply_queue": "\(name)"])
        return name
    }

    // MARK: Reading replies

    /// Reads the reply queue and hands each reply to the call waiting for
    /// its `_msg_id`, one reply consumer after the other (a new one after
    /// the broker cancelled the last), until ``shutdown(deletingReplyQueue:)``
    /// or until the calling task is cancelled. Then it cancels the reply
    /// consumer (waiting for the broker), fails the calls still waiting and
    /// returns; later calls throw (casts still work). May be called once.
    public func run() async {
        state.withLock { state in
            precondition(!state.runCalled, "RPCClient.run() may be called only once")
            state.runCalled = true
        }
        await withTaskCancellationHandler {
            while let next = await nextReplyConsumer() {
                await pumpReplies(from: next.consumer, queue: next.queue)
            }
        } onCancel: {
            let waiter = state.withLock { state in
                defer { state.runWaiter = nil }
                return state.runWaiter
            }
            waiter?.resume(returning: nil)
        }
        // Nobody reads replies any more: later calls fail at once.
        let pending = state.withLock { state in
            state.isShutDown = true
            defer { state.pendingReplyConsumers.removeAll() }
            return state.pendingReplyConsumers
        }
        for entry in pending {
            try? await entry.consumer.cancel()
            replyConsumerEnded(queue: entry.queue, failure: nil)
        }
    }

    /// The next reply consumer to read; `nil` once shut down or cancelled.
    private func nextReplyConsumer() async -> ReplyConsumer? {
        await withCheckedContinuation { (continuation: CheckedContinuation<ReplyConsumer?, Never>) in
            enum Next {
                case consumer(ReplyConsumer)
                case end
                case wait
            }
            let next = state.withLock { state -> Next in
                if !state.pendingReplyConsumers.isEmpty {
                    let entry = state.pendingReplyConsumers.removeFirst()
                    state.pumpedQueue = entry.queue
                    return .consumer(entry)
                }
                if state.isShutDown || Task.isCancelled {
                    return .end
                }
                state.runWaiter = continuation
                return .wait
            }
            switch next {
            case .consumer(let entry): continuation.resume(returning: entry)
            case .end: continuation.resume(returning: nil)
            case .wait: break
            }
        }
    }

    /// Hands each reply of one reply consumer to the call waiting for its `_msg_id`.
    private func pumpReplies(from consumer: AMQPConsumer, queue: String) async {
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
                if let waiter = state.withLock({ $0.waiters[reply.messageID] }) {
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
        // After a cancellation of run() the sequence merely stopped: make
        // sure the broker has cancelled the consumer before going on
        // (idempotent; at once when it is already gone).
        try? await consumer.cancel()
        replyConsumerEnded(queue: queue, failure: failure)
    }

    /// The reply consumer of `queue` ended: the calls waiting fail, and the
    /// next call sets up a new reply queue.
    private func replyConsumerEnded(queue: String, failure: (any Error)?) {
        let (waiters, pumpEndWaiters) = state.withLock { state in
            if state.replyQueue == queue {
                state.replyQueue = nil
                state.replyConsumer = nil
            }
            var pumpEndWaiters: [CheckedContinuation<Void, Never>] = []
            if state.pumpedQueue == queue {
                state.pumpedQueue = nil
                swap(&pumpEndWaiters, &state.pumpEndWaiters)
            }
            state.replyConsumerFailure = failure
            let waiters = Array(state.waiters.values)
            state.waiters.removeAll()
            return (waiters, pumpEndWaiters)
        }
        replySetup.forget { $0 == queue }
        for waiter in waiters {
            waiter.finish()
        }
        for waiter in pumpEndWaiters {
            waiter.resume()
        }
        if let failure {
            logger.warning("The reply consumer ended", error: failure, metadata: ["oslo.reply_queue": "\(queue)"])
        } else {
            logger.debug("The reply consumer ended", metadata: ["oslo.reply_queue": "\(queue)"])
        }
    }

    // MARK: Shutdown

    /// Cancels the reply consumer and waits until ``run()`` has stopped
    /// reading it; calls still waiting fail, and ``run()`` returns. With
    /// `deletingReplyQueue`, also deletes the reply queue (oslo leaves it
    /// to expire after `rabbit_transient_queues_ttl`), even after ``run()``
    /// ended. Later calls throw; casts still work.
    public func shutdown(deletingReplyQueue: Bool = false) async {
        let (consumer, queue, pending, runWaiter) = state.withLock { state in
            state.isShutDown = true
            defer {
                state.pendingReplyConsumers.removeAll()
                state.runWaiter = nil
            }
            return (state.replyConsumer, state.lastReplyQueue, state.pendingReplyConsumers, state.runWaiter)
        }
        runWaiter?.resume(returning: nil)
        if let consumer {
            do {
                try await consumer.cancel()
            } catch {
                logger.debug("Cancelling the reply consumer failed", error: error)
            }
        }
        // Consumers run() has not taken: nobody else ends them.
        for entry in pending {
            if entry.consumer.tag != consumer?.tag {
                try? await entry.consumer.cancel()
            }
            replyConsumerEnded(queue: entry.queue, failure: nil)
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let reading = state.withLock { state in
                guard state.pumpedQueue != nil else {
                    return false
                }
                state.pumpEndWaiters.append(continuation)
                return true
            }
            if !reading {
                continuation.resume()
            }
        }
        if deletingReplyQueue, let queue {
            do {
                try await connection.deleteQueue(name: queue)
            } catch {
                logger.warning("Cannot delete the reply queue", error: error, metadata: ["oslo.reply_queue": "\(queue)"])
            }
        }
    }
}
