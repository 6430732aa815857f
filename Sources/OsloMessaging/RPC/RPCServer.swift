import AMQPClient
import Logging
import OrderedJSON
import Synchronization

/// An oslo.messaging RPC server over AMQP: consumes the topic, server and
/// fanout queues of an ``RPCTarget`` and sends replies to calls.
///
/// ``start()`` declares the topology exactly as oslo.messaging 18.3.1 does
/// for the same ``OsloTopologyOptions`` and returns the merged deliveries;
/// the caller acknowledges, runs and replies (``reply(to:with:)``). For
/// plain endpoints, ``serve(handler:)`` does all of it the way oslo's RPC
/// server does.
///
/// Tasks: the server starts none. ``run()`` is where it works: it moves
/// the deliveries of the consumers that ``start()`` started into the
/// ``RPCIncomingSequence``, one child task per consumer (restarting a
/// consumer the broker cancelled), plus one child that cancels the
/// consumers when a stop is requested. Run it in a task of your own (a
/// task group, or as a service) before or after ``start()``: deliveries
/// arrive only while it runs. It returns after ``stop()`` has handed back
/// what was received, when the consumers end for good (the connection's
/// `run()` ended), or when its task is cancelled (then it stops the server
/// as ``stop()`` does); once it returned, no consumer of the server is
/// left. ``serve(handler:)`` runs it itself.
///
/// Use a `connection` for this server alone: the prefetch limit
/// (basic.qos) applies to every consumer started afterwards on the
/// connection's consumer channel. Replies go through `replyConnection`, which may be
/// shared with other publishers.
public final class RPCServer: Sendable {
    /// Raise it from an ``serve(handler:)`` handler for a method it does not
    /// have: the caller gets oslo's `NoSuchMethod` failure.
    public struct NoSuchMethod: Error, Sendable, Hashable, CustomStringConvertible {
        public var method: String

        public init(method: String) {
            self.method = method
        }

        /// oslo's message: `Endpoint does not support RPC method <method>`.
        public var description: String {
            "Endpoint does not support RPC method \(method)"
        }
    }

    /// Where the server listens.
    public let target: RPCTarget
    /// The declaration options.
    public let options: OsloTopologyOptions
    /// basic.qos prefetch count of each of the three consumers (not global:
    /// RabbitMQ refuses global QoS on quorum queues); 0 = no limit (no basic.qos sent).
    public let prefetch: UInt16
    /// The prefetch count of the server and fanout consumers when it differs
    /// from ``prefetch`` (`nil`: the same, as oslo). An executor bounds its
    /// unacknowledged deliveries by giving these two queues, which carry
    /// requests only when addressed to this host, a count of 1.
    public let secondaryPrefetch: UInt16?
    /// The private fanout queue, `<topic>_fanout_<uuid hex>` (named at init).
    public let fanoutQueueName: String

    let connection: AMQPConnection
    let replyConnection: AMQPConnection
    let logger: Logger
    let topology: OsloTopology
    private let state = Mutex(State())
    private let obsoleteReplyQueues = Mutex(ObsoleteReplyQueues())

    private struct State {
        enum Phase {
            case idle, starting, running, stopping, stopped
        }

        var phase = Phase.idle
        var consumers: [RPCQueueKind: AMQPConsumer] = [:]
        var stopSignal: AsyncStream<Void>.Continuation?
        /// Started consumers that nobody pumps yet (``run()`` has not
        /// taken them).
        var pendingPump: Pump?
        /// ``run()`` waiting for ``start()``.
        var runWaiter: CheckedContinuation<Pump?, Never>?
        var runCalled = false
        /// A task (``run()``, or ``stop()`` / ``start()`` when nobody runs
        /// the server) is pumping.
        var pumping = false
        /// ``stop()`` calls waiting for the pump to end.
        var pumpEndWaiters: [CheckedContinuation<Void, Never>] = []
    }

    /// What ``start()`` hands to the task that pumps.
    private struct Pump: Sendable {
        var consumers: [(kind: RPCQueueKind, consumer: AMQPConsumer, declaration: OsloQueueDeclaration)]
        var buffer: IncomingBuffer<RPCIncoming>
        var stopSignal: AsyncStream<Void>
        var stopSignalContinuation: AsyncStream<Void>.Continuation
    }

    public init(
        connection: AMQPConnection,
        replyConnection: AMQPConnection,
        target: RPCTarget,
        options: OsloTopologyOptions,
        prefetch: UInt16,
        secondaryPrefetch: UInt16? = nil,
        logger: Logger
    ) {
        self.connection = connection
        self.replyConnection = replyConnection
        self.target = target
        self.options = options
        self.prefetch = prefetch
        self.secondaryPrefetch = secondaryPrefetch == prefetch ? nil : secondaryPrefetch
        self.topology = OsloTopology(options: options)
        self.fanoutQueueName = "\(target.topic)_fanout_\(MessageID.generate())"
        var logger = logger
        logger[metadataKey: "oslo.topic"] = "\(target.topic)"
        if let server = target.server {
            logger[metadataKey: "oslo.server"] = "\(server)"
        }
        self.logger = logger
    }

    /// The queues in oslo's declaration order: topic, server (if any), fanout.
    var queueDeclarations: [(kind: RPCQueueKind, declaration: OsloQueueDeclaration)] {
        var declarations: [(kind: RPCQueueKind, declaration: OsloQueueDeclaration)] = [
            (.topic, topology.topicQueue(exchange: target.exchange, routingKey: target.topic)),
        ]
        if let key = target.serverRoutingKey {
            declarations.append((.server, topology.topicQueue(exchange: target.exchange, routingKey: key)))
        }
        let unique = String(fanoutQueueName.dropFirst(target.topic.count + "_fanout_".count))
        declarations.append((.fanout, topology.fanoutQueue(topic: target.topic, unique: unique)))
        return declarations
    }

    /// The name of each queue the server consumes from.
    public var queueNames: [RPCQueueKind: String] {
        Dictionary(uniqueKeysWithValues: queueDeclarations.map { ($0.kind, $0.declaration.name) })
    }

    // MARK: Lifecycle

    /// Declares the control exchange (topic), the shared topic queue
    /// `<topic>` bound with key `<topic>`, the server queue
    /// `<topic>.<server>` (if `target.server` is set) bound with that key,
    /// the fanout exchange `<topic>_fanout` and the private fanout queue
    /// (``fanoutQueueName``) bound with key `<topic>` — each exactly as oslo
    /// 18.3.1 declares it for the same options, including oslo's fallback
    /// to non-durable declarations on a 406 durability mismatch. Then
    /// basic.qos (`prefetch` per consumer, as oslo; only if not 0) and the three
    /// consumers (with `x-cancel-on-ha-failover` when
    /// ``OsloTopologyOptions/cancelOnFailover``).
    ///
    /// Returns the merged deliveries of the three consumers. A consumer that
    /// the broker cancels (queue deleted, HA failover) is declared and
    /// started again, with backoff, as oslo does. Throws (after cancelling
    /// the consumers it started) when a declaration or consumer fails or the
    /// options are invalid; it may then be called again. Once it succeeded,
    /// it may not.
    public func start() async throws -> RPCIncomingSequence {
        try state.withLock { state throws(RPCConfigurationError) in
            switch state.phase {
            case .idle:
                state.phase = .starting
            case .stopped where state.consumers.isEmpty:
                throw RPCConfigurationError("RPCServer.start() after stop() or the end of run()")
            default:
                throw RPCConfigurationError("RPCServer.start() may be called only once")
            }
        }
        let declarations = queueDeclarations
        var started: [(kind: RPCQueueKind, consumer: AMQPConsumer, declaration: OsloQueueDeclaration)] = []
        do {
            try options.validate()
            for (_, declaration) in declarations {
                try await connection.declareOsloQueue(declaration, logger: logger)
            }
            if prefetch > 0 {
                // Per consumer, as oslo (basic_qos(0, n, False)): RabbitMQ
                // refuses global QoS on quorum queues (540 NOT_IMPLEMENTED,
                // closing the connection).
                try await connection.setPrefetch(count: prefetch, global: false)
            }
            for (kind, declaration) in declarations {
                let consumer = try await connection.consume(
                    queue: declaration.name, arguments: topology.consumerArguments, prefetch: ownPrefetch(kind)
                )
                started.append((kind, consumer, declaration))
            }
        } catch {
            for entry in started {
                try? await entry.consumer.cancel()
            }
            state.withLock { state in
                state.phase = state.phase == .starting ? .idle : .stopped
            }
            logger.error("Cannot start the RPC server", error: error)
            throw error
        }

        let buffer = IncomingBuffer<RPCIncoming>(onCancel: { [weak self] in self?.requestStop() })
        let (stopSignal, stopSignalContinuation) = AsyncStream.makeStream(of: Void.self)
        let pump = Pump(consumers: started, buffer: buffer, stopSignal: stopSignal, stopSignalContinuation: stopSignalContinuation)
        enum Handover {
            case toRun(CheckedContinuation<Pump?, Never>)
            case pending
            case drainNow
        }
        let handover = state.withLock { state -> Handover in
            state.stopSignal = stopSignalContinuation
            for entry in started {
                state.consumers[entry.kind] = entry.consumer
            }
            guard state.phase == .starting else {
                // stop() was called while starting, or run() ended: nobody
                // will pump, so this task takes the consumers down itself.
                state.pumping = true
                return .drainNow
            }
            state.phase = .running
            if let waiter = state.runWaiter {
                state.runWaiter = nil
                state.pumping = true
                return .toRun(waiter)
            }
            state.pendingPump = pump
            return .pending
        }
        logger.info(
            "RPC server consuming",
            metadata: ["amqp.queues": "\(declarations.map(\.declaration.name).joined(separator: ", "))", "amqp.prefetch": "\(prefetch)"]
        )
        switch handover {
        case .toRun(let waiter):
            waiter.resume(returning: pump)
        case .pending:
            break
        case .drainNow:
            stopSignalContinuation.yield()
            await self.pump(pump)
        }
        return RPCIncomingSequence(buffer: buffer)
    }

    /// Moves the deliveries of the consumers that ``start()`` started (or
    /// starts) into its ``RPCIncomingSequence`` until the server stops;
    /// deliveries arrive only while it runs. May be called once, before or
    /// after ``start()``.
    ///
    /// Returns once the pump ended: after ``stop()`` (the deliveries
    /// already received are in the sequence, which then ends), or when the
    /// consumers ended for good (the connection's `run()` ended; the
    /// sequence throws), or at once when the server was stopped before it
    /// started. Cancelling the calling task stops the server as ``stop()``
    /// does (basic.cancel on every consumer, buffered deliveries handed to
    /// the sequence) and then returns. When it returns, the server has no
    /// consumer left and cannot be started any more.
    public func run() async {
        state.withLock { state in
            precondition(!state.runCalled, "RPCServer.run() may be called only once")
            state.runCalled = true
        }
        await withTaskCancellationHandler {
            let pump = await withCheckedContinuation { (continuation: CheckedContinuation<Pump?, Never>) in
                enum Next {
                    case pump(Pump)
                    case nothing
                    case wait
                }
                let next = state.withLock { state -> Next in
                    if let pump = state.pendingPump {
                        // Even when stopping: the consumers must be taken down and drained.
                        state.pendingPump = nil
                        state.pumping = true
                        return .pump(pump)
                    }
                    if Task.isCancelled || state.phase == .stopping || state.phase == .stopped {
                        return .nothing
                    }
                    state.runWaiter = continuation
                    return .wait
                }
                switch next {
                case .pump(let pump): continuation.resume(returning: pump)
                case .nothing: continuation.resume(returning: nil)
                case .wait: break
                }
            }
            if let pump {
                await self.pump(pump)
            }
        } onCancel: {
            self.requestStop()
        }
        // Nothing is left to pump; a later start() fails.
        requestStop()
    }

    /// Stops consuming: basic.cancel on the three consumers, then waits
    /// until the pump has handed every delivery already received to the
    /// ``RPCIncomingSequence`` (which then ends). Those deliveries can still
    /// be acknowledged or rejected. Idempotent. Called while ``start()``
    /// runs, it returns at once and the sequence `start()` returns ends
    /// right away. When ``run()`` is not running, `stop()` pumps until the
    /// consumers are gone itself.
    public func stop() async {
        requestStop()
        enum Next {
            case pump(Pump)
            case wait
            case done
        }
        let next = state.withLock { state -> Next in
            if let pump = state.pendingPump {
                state.pendingPump = nil
                state.pumping = true
                return .pump(pump)
            }
            return state.pumping ? .wait : .done
        }
        switch next {
        case .pump(let pump):
            await self.pump(pump)
        case .wait:
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ended = state.withLock { state in
                    if state.pumping {
                        state.pumpEndWaiters.append(continuation)
                        return false
                    }
                    return true
                }
                if ended {
                    continuation.resume()
                }
            }
        case .done:
            break
        }
    }

    /// Marks the server as stopping and wakes the pump's stopper (no waiting).
    func requestStop() {
        let (signal, runWaiter) = state.withLock { state -> (AsyncStream<Void>.Continuation?, CheckedContinuation<Pump?, Never>?) in
            var signal: AsyncStream<Void>.Continuation?
            switch state.phase {
            case .idle:
                state.phase = .stopped
            case .starting:
                state.phase = .stopping
            case .running:
                state.phase = .stopping
                signal = state.stopSignal
            case .stopping, .stopped:
                break
            }
            // A run() still waiting for start() has nothing to do any more.
            defer { state.runWaiter = nil }
            return (signal, state.runWaiter)
        }
        signal?.yield()
        runWaiter?.resume(returning: nil)
    }

    private var isStopping: Bool {
        state.withLock { $0.phase == .stopping || $0.phase == .stopped }
    }

    // MARK: Pump

    private enum PumpEnd: Sendable {
        case stopper
        case queue(failure: (any Error)?)
    }

    /// Runs in ``run()`` (or in ``stop()`` or ``start()`` when nobody
    /// runs the server) until every consumer ended.
    private func pump(_ pump: Pump) async {
        let consumers = pump.consumers
        let buffer = pump.buffer
        let stopSignal = pump.stopSignal
        let failure = await withTaskGroup(of: PumpEnd.self) { group -> (any Error)? in
            group.addTask {
                // Wakes on a stop request or a cancellation of run(), or
                // ends when every consumer ended.
                var signalled = false
                for await _ in stopSignal {
                    signalled = true
                    break
                }
                if Task.isCancelled {
                    self.requestStop()
                }
                if signalled || Task.isCancelled {
                    await self.cancelConsumers()
                }
                return .stopper
            }
            for entry in consumers {
                group.addTask {
                    .queue(failure: await self.pumpQueue(entry.kind, entry.consumer, entry.declaration, into: buffer))
                }
            }
            var running = consumers.count
            var firstFailure: (any Error)?
            for await end in group {
                guard case .queue(let failure) = end else {
                    continue
                }
                running -= 1
                if let failure, firstFailure == nil {
                    firstFailure = failure
                    // Take the other consumers down too: the sequence is over.
                    self.requestStop()
                }
                if running == 0 {
                    pump.stopSignalContinuation.finish()
                }
            }
            return firstFailure
        }
        buffer.finish(throwing: failure)
        let waiters = state.withLock { state in
            state.pumping = false
            if state.phase == .stopping {
                state.phase = .stopped
            }
            defer { state.pumpEndWaiters.removeAll() }
            return state.pumpEndWaiters
        }
        for waiter in waiters {
            waiter.resume()
        }
    }

    private func cancelConsumers() async {
        let consumers = state.withLock { $0.consumers }
        for (kind, consumer) in consumers {
            do {
                try await consumer.cancel()
            } catch {
                logger.debug("Cancelling a consumer failed", error: error, metadata: ["amqp.queue": "\(consumer.queue)", "rpc.queue": "\(kind)"])
            }
        }
    }

    /// Moves one consumer's deliveries into `buffer` until it ends. Returns
    /// the failure that ends the whole sequence, or `nil` after a stop.
    private func pumpQueue(
        _ kind: RPCQueueKind,
        _ first: AMQPConsumer,
        _ declaration: OsloQueueDeclaration,
        into buffer: IncomingBuffer<RPCIncoming>
    ) async -> (any Error)? {
        var consumer = first
        while true {
            var ending: (any Error)?
            do {
                for try await delivery in consumer {
                    let message = Result { () throws(OsloCodecError) -> RPCRequest in
                        try RPCRequest(decodingBody: delivery.body)
                    }
                    if !buffer.append(RPCIncoming(delivery: delivery, queue: kind, message: message)) {
                        // The sequence is over: hand the message back to the broker.
                        connection.reject(delivery, requeue: true)
                    }
                }
            } catch {
                ending = error
            }
            if Task.isCancelled {
                // run() was cancelled: the consumer's sequence ended for that.
                requestStop()
            }
            if isStopping {
                return nil
            }
            guard let error = ending as? AMQPError, error.code != .shutDown else {
                // A consumer ends without error only when the connection shuts down.
                return ending ?? AMQPError(
                    code: .shutDown, message: "the consumer of queue '\(declaration.name)' ended: the connection shut down"
                )
            }
            logger.warning(
                "The broker cancelled a consumer; declaring its queue and consuming again",
                error: error, metadata: ["amqp.queue": "\(declaration.name)", "rpc.queue": "\(kind)"]
            )
            guard let restarted = await restartConsumer(kind, declaration) else {
                return nil
            }
            consumer = restarted
        }
    }

    /// Declares the queue again and starts a new consumer, retrying with
    /// backoff (1 s doubling to 30 s) until it works or a stop is requested.
    private func restartConsumer(_ kind: RPCQueueKind, _ declaration: OsloQueueDeclaration) async -> AMQPConsumer? {
        var delay = Duration.seconds(1)
        while true {
            // Sleep in slices so that stop() does not wait for the backoff.
            let wakeUp = ContinuousClock.now + delay
            while ContinuousClock.now < wakeUp {
                if isStopping || Task.isCancelled {
                    return nil
                }
                try? await Task.sleep(for: .milliseconds(100))
            }
            do {
                try await connection.declareOsloQueue(declaration, logger: logger)
                let consumer = try await connection.consume(
                    queue: declaration.name, arguments: topology.consumerArguments, prefetch: ownPrefetch(kind)
                )
                let registered = state.withLock { state in
                    guard state.phase == .running else {
                        return false
                    }
                    state.consumers[kind] = consumer
                    return true
                }
                if !registered {
                    try? await consumer.cancel()
                    return nil
                }
                logger.info("Consuming again", metadata: ["amqp.queue": "\(declaration.name)", "rpc.queue": "\(kind)"])
                return consumer
            } catch {
                logger.warning(
                    "Cannot consume again; retrying",
                    error: error, metadata: ["amqp.queue": "\(declaration.name)", "retry_in": "\(delay)"]
                )
                delay = min(delay * 2, .seconds(30))
            }
        }
    }

    /// The consumer's own prefetch count: only the server and fanout
    /// consumers have one, and only when ``secondaryPrefetch`` is set.
    private func ownPrefetch(_ kind: RPCQueueKind) -> UInt16? {
        guard let secondaryPrefetch, prefetch > 0, kind != .topic else { return nil }
        return secondaryPrefetch
    }

    // MARK: Acknowledgements

    /// Whether `incoming` can still be acknowledged: the channel it arrived
    /// on is open. A delivery that is not current has gone back to the
    /// broker, which redelivers it: it must not be started.
    public func isCurrent(_ incoming: RPCIncoming) -> Bool {
        connection.isCurrent(incoming.delivery)
    }

    /// Publishes the delivery byte for byte (body and properties) to the
    /// server's exchange with routing key `topic`, mandatory, on the reply
    /// connection, and waits for the broker's confirm: a request handed to
    /// another consumer (e.g. a Python executor) that answers it itself.
    /// Returns whether a queue took it; throws when the broker did not
    /// confirm it (the request was then possibly not forwarded).
    public func forward(_ incoming: RPCIncoming, toTopic topic: String) async throws -> AMQPPublishOutcome {
        try await replyConnection.publish(
            body: incoming.delivery.body, exchange: target.exchange, routingKey: topic,
            properties: incoming.delivery.properties, mandatory: true
        )
    }

    /// Acknowledges the delivery (basic.ack; does not wait).
    public func acknowledge(_ incoming: RPCIncoming) {
        connection.ack(incoming.delivery)
    }

    /// Rejects the delivery (basic.reject; does not wait), requeueing it if asked.
    public func reject(_ incoming: RPCIncoming, requeue: Bool) {
        connection.reject(incoming.delivery, requeue: requeue)
    }

    // MARK: Replies

    /// Sends `reply` for the call `request`, as oslo's
    /// `AMQPIncomingMessage.reply` does: to the default exchange `""` with
    /// routing key `request.replyQueue`, mandatory, with oslo's properties
    /// (`application/json`, `utf-8`, persistent, priority 0, no
    /// expiration), waiting for the publisher confirm.
    ///
    /// The reply carries the request's `_msg_id` (whatever
    /// `reply.messageID` says) and a fresh `_unique_id` if it has none. A
    /// request that is not a call (no `_msg_id` or `_reply_q`) gets no reply.
    ///
    /// If the broker returns the reply (its reply queue does not exist), it
    /// is retried every 0.25 s for up to
    /// ``OsloTopologyOptions/missingConsumerRetryTimeout``; then it is
    /// dropped with an error log (the caller has gone), and further replies
    /// to that queue are dropped at once for 60 s (oslo's obsolete reply
    /// queue cache). Connection failures are retried within the same time.
    ///
    /// Throws the last connection or broker error once that time is over,
    /// an ``OsloCodecError`` when the reply cannot be encoded (e.g. a
    /// non-finite number), `CancellationError` when the task is cancelled
    /// while waiting to retry.
    public func reply(to request: RPCRequest, with reply: RPCReply) async throws {
        guard let messageID = request.messageID, let replyQueue = request.replyQueue else {
            logger.debug("Not replying to a request without _msg_id or _reply_q (a cast)", metadata: ["oslo.method": "\(request.method)"])
            return
        }
        var reply = reply
        reply.messageID = messageID
        if reply.uniqueID == nil {
            reply.uniqueID = MessageID.generate()
        }
        var logger = self.logger
        logger[metadataKey: "oslo.msg_id"] = "\(messageID)"
        logger[metadataKey: "oslo.reply_queue"] = "\(replyQueue)"
        let body = try reply.encodedBody()

        let start = ContinuousClock.now
        if obsoleteReplyQueues.withLock({ $0.contains(replyQueue, now: start) }) {
            logger.warning("The reply queue does not exist; dropping the reply")
            return
        }
        let deadline = start + options.missingConsumerRetryTimeout
        while true {
            do {
                let outcome = try await replyConnection.publish(
                    body: body, exchange: "", routingKey: replyQueue,
                    properties: OsloMessageProperties.make(), mandatory: true
                )
                switch outcome {
                case .acknowledged:
                    logger.debug("Reply sent", metadata: ["oslo.ending": "\(reply.ending)", "oslo.failure": "\(reply.failure != nil)"])
                    return
                case .returned(let replyCode, let replyText):
                    if ContinuousClock.now >= deadline {
                        obsoleteReplyQueues.withLock { $0.insert(replyQueue, now: .now) }
                        logger.error(
                            "The reply failed to send after \(options.missingConsumerRetryTimeout) due to a missing reply queue; abandoning it (the caller has gone)",
                            metadata: ["amqp.reply_code": "\(replyCode)", "amqp.reply_text": "\(replyText)"]
                        )
                        return
                    }
                    logger.debug("The reply could not be routed (missing reply queue); retrying", metadata: ["amqp.reply_text": "\(replyText)"])
                }
            } catch let error as AMQPError where error.isTransient {
                if ContinuousClock.now >= deadline {
                    logger.error("The reply failed to send", error: error)
                    throw error
                }
                logger.debug("The reply could not be sent; retrying", error: error)
            }
            try await Task.sleep(for: .milliseconds(250))
        }
    }

    /// A call-monitor keep-alive (`result: null, ending: false`), sent once,
    /// as oslo's `AMQPIncomingMessage.heartbeat`. Returns `false` when the
    /// reply queue is gone (no more keep-alives are useful).
    func sendKeepAlive(for request: RPCRequest) async -> Bool {
        guard let messageID = request.messageID, let replyQueue = request.replyQueue else {
            return false
        }
        if obsoleteReplyQueues.withLock({ $0.contains(replyQueue, now: .now) }) {
            return false
        }
        let keepAlive = RPCReply(result: .null, messageID: messageID, ending: false)
        do {
            let outcome = try await replyConnection.publish(
                body: try keepAlive.encodedBody(), exchange: "", routingKey: replyQueue,
                properties: OsloMessageProperties.make(), mandatory: true
            )
            if case .returned = outcome {
                logger.warning("Call-monitor keep-alive failed: missing reply queue", metadata: ["oslo.msg_id": "\(messageID)", "oslo.reply_queue": "\(replyQueue)"])
                return false
            }
            return true
        } catch {
            logger.warning("Call-monitor keep-alive failed", error: error, metadata: ["oslo.msg_id": "\(messageID)"])
            return true
        }
    }
}
