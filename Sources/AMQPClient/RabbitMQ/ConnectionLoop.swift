import CRabbitMQ
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The fixed roles of the three channels of a connection. Separate channels
/// keep failures apart: a 406 on a declare closes only the topology channel,
/// not the consumers or the pending publisher confirms.
enum ChannelNumber {
    /// Consumers, basic.qos, acks.
    static let consumer: amqp_channel_t = 1
    /// Publishing in confirm mode.
    static let publisher: amqp_channel_t = 2
    /// Synchronous declare / bind / delete.
    static let topology: amqp_channel_t = 3
}

/// The connection broke; whatever was in flight failed with `error`.
struct ConnectionLost: Error {
    var error: AMQPError
}

/// Owns the librabbitmq connection and everything that touches it. Runs on
/// one dedicated OS thread for the life of `AMQPConnection.run()`: never on
/// Swift's cooperative pool, because librabbitmq calls block.
///
/// The thin executor of the connection: ``ConnectionStateMachine`` decides
/// (which command runs, waits or is held, which channel to open, which acks
/// leave together, who fails on a loss), this class performs it with
/// librabbitmq calls and reports back. Frames are reassembled by
/// ``ContentAssembler``; sockets, TLS and login are ``RabbitMQLogin``'s.
///
/// Each turn of the loop runs the kept and the queued commands, sends the
/// turn's acks, reads the frames that are available without blocking
/// (dispatching deliveries, confirms, returns, closes and cancels), and then
/// sleeps in poll() on the socket and the wake-up pipe unless frames may be
/// left or the state machine has work of its own. librabbitmq sends and
/// checks heartbeats inside its frame-read call, which runs at least every
/// min(poll interval, heartbeat / 4).
final class ConnectionLoop {
    /// A live AMQP connection.
    private final class Session {
        let handle: RabbitMQConnectionHandle
        let endpoint: AMQPEndpoint
        let endpointIndex: Int
        let heartbeatSeconds: Int
        let socket: Int32

        init(handle: RabbitMQConnectionHandle, endpoint: AMQPEndpoint, endpointIndex: Int, heartbeatSeconds: Int, socket: Int32) {
            self.handle = handle
            self.endpoint = endpoint
            self.endpointIndex = endpointIndex
            self.heartbeatSeconds = heartbeatSeconds
            self.socket = socket
        }

        var state: amqp_connection_state_t { handle.state }
    }

    private let shared: ConnectionShared
    private let configuration: AMQPConfiguration
    private var logger: Logger
    private let scratch = RabbitMQScratchPool()
    private var session: Session?
    private var generation: UInt64 = 0
    /// A consumer's own prefetch was sent on the current consumer channel:
    /// consumers without one need the connection-wide count again.
    private var perConsumerPrefetchApplied = false

    /// Commands taken from the shared queue (storage swapped back and forth).
    private var incoming: [Command] = []
    /// The decisions: which commands run, wait or are held, channels,
    /// confirms, acks (this class performs them with librabbitmq).
    private var machine: ConnectionStateMachine

    private var topology = TopologyRecord()
    private var content = ContentAssembler()

    private var schedule: ReconnectSchedule
    private var random = SystemRandomNumberGenerator()
    private var nextAttempt = ContinuousClock.now
    private var nextEndpointIndex = 0
    private var lastFailure: AMQPError?

    private let pollDescriptors: UnsafeMutablePointer<pollfd>

    init(shared: ConnectionShared, configuration: AMQPConfiguration, logger: Logger) {
        self.shared = shared
        self.configuration = configuration
        self.logger = logger
        self.logger[metadataKey: "amqp.connection_name"] = "\(configuration.connectionName)"
        schedule = ReconnectSchedule(settings: configuration.reconnectBackoff)
        machine = ConnectionStateMachine(disconnectedOperationTimeout: configuration.disconnectedOperationTimeout)
        pollDescriptors = .allocate(capacity: 2)
        pollDescriptors.initialize(repeating: pollfd(), count: 2)
    }

    deinit {
        pollDescriptors.deinitialize(count: 2)
        pollDescriptors.deallocate()
    }

    // MARK: Main loop

    func run() {
        logger.debug("AMQP connection thread started")
        while !shared.takeCommands(into: &incoming) {
            if session != nil {
                connectedTurn()
            } else {
                disconnectedTurn()
            }
        }
        settleBeforeClosing()
        shutDown()
        logger.debug("AMQP connection thread finished")
    }

    private func connectedTurn() {
        do {
            // The broker closed the consumer channel (e.g. 406 for an unknown
            // delivery tag): bring the consumers back without waiting for a command.
            if machine.needsOpening(.consumer), !topology.consumerOrder.isEmpty {
                try ensureConsumerChannel()
            }
            try runKeptCommands()
            try runIncomingCommands()
            try flushAcks()
            let framesLeft = try pumpFrames(limit: 4096)
            // Everything readable was read (librabbitmq's own queue included)
            // and nothing else waits for this thread: sleep until the socket
            // or a producer wakes it, without an extra empty turn.
            if !framesLeft, let session, !hasInternalWork {
                var timeout = configuration.pollInterval
                if session.heartbeatSeconds > 0 {
                    timeout = min(timeout, .milliseconds(session.heartbeatSeconds * 250))
                }
                sleep(for: timeout, socket: session.socket)
            }
        } catch let lost as ConnectionLost {
            handleConnectionLoss(lost.error)
        } catch {
            handleConnectionLoss(AMQPError(code: .libraryError, message: "unexpected failure: \(error)"))
        }
    }

    /// The stop came with acknowledgements (or rejections) asked for before
    /// it: they still reach the broker before the connection closes, so that
    /// a delivery whose result went out is not handed to another consumer
    /// (a worker's last acks and its stop arrive together). Every other
    /// command taken with the stop fails in ``shutDown()`` as before.
    private func settleBeforeClosing() {
        guard session != nil else { return }
        _ = shared.takeCommands(into: &incoming)
        let isSettle: (Command) -> Bool = { if case .acknowledge = $0 { true } else { false } }
        let settles = incoming.filter(isSettle)
        guard !settles.isEmpty else { return }
        incoming.removeAll(where: isSettle)
        do {
            for command in settles { try execute(command) }
            try flushAcks()
        } catch {
            logger.warning("Could not send the last acknowledgements before closing", metadata: ["amqp.error": "\(error)"])
        }
    }

    private func disconnectedTurn() {
        let now = ContinuousClock.now
        if !incoming.isEmpty {
            machine.requeue(incoming, now: now)
            incoming.removeAll(keepingCapacity: true)
        }
        sweepWaitingCommands(now: now)
        if now >= nextAttempt {
            connect()
            return
        }
        var until = nextAttempt
        if let deadline = machine.earliestDeadline, deadline < until {
            until = deadline
        }
        sleep(for: min(until - now, .seconds(1)), socket: nil)
    }

    /// Work this thread owes itself, without new commands or frames.
    private var hasInternalWork: Bool {
        (machine.needsOpening(.consumer) && !topology.consumerOrder.isEmpty) || machine.hasRunnableWork
    }

    /// Sleeps in poll() until the socket is readable, a command arrives or
    /// the timeout passes (see ``ConnectionShared/waitForWork(timeoutMilliseconds:socket:descriptors:beforePoll:)``
    /// for why no wake-up is lost).
    private func sleep(for timeout: Duration, socket: Int32?) {
        shared.waitForWork(timeoutMilliseconds: timeout.pollMilliseconds, socket: socket, descriptors: pollDescriptors)
    }

    // MARK: Commands

    private func runIncomingCommands() throws {
        let count = incoming.count
        guard count > 0 else {
            return
        }
        var index = 0
        do {
            while index < count {
                let command = incoming[index]
                index += 1
                try execute(command)
            }
        } catch {
            // The connection broke: the commands not run yet wait for the next one.
            machine.requeue(incoming[index...], now: .now)
            incoming.removeAll(keepingCapacity: true)
            throw error
        }
        incoming.removeAll(keepingCapacity: true)
    }

    /// Held publishes once unblocked, then commands that waited for the connection.
    private func runKeptCommands() throws {
        while let command = machine.nextKeptCommand() {
            try execute(command)
        }
    }

    /// While disconnected: acks are dropped, consumer cancellations done
    /// locally, and commands past their deadline fail.
    private func sweepWaitingCommands(now: ContinuousClock.Instant) {
        for action in machine.sweep(now: now) {
            switch action {
            case .dropAcknowledgement(let deliveryTag):
                logger.debug(
                    "Dropping an acknowledgement while disconnected; the broker redelivers the message",
                    metadata: ["amqp.delivery_tag": "\(deliveryTag)"]
                )
            case .cancelConsumerLocally(let tag, let continuation):
                topology.removeConsumer(tag: tag)?.continuation.finish()
                continuation?.resume()
            case .fail(let command):
                command.fail(AMQPError(
                    code: .notConnected,
                    message: "no connection to the broker within \(configuration.disconnectedOperationTimeout)",
                    underlying: lastFailure
                ))
            }
        }
    }

    /// Does what the state machine decides for `command`. Every path
    /// resumes the command's continuation (or keeps the command); only a
    /// broken connection is thrown.
    private func execute(_ command: Command) throws {
        switch machine.decide(command, now: .now) {
        case .batched, .held, .waiting:
            return
        case .dropStaleAcknowledgement(let deliveryTag):
            logger.debug(
                "Dropping an acknowledgement of a delivery from an earlier connection or channel; the broker redelivers the message",
                metadata: ["amqp.delivery_tag": "\(deliveryTag)"]
            )
        case .acknowledge(let frames):
            for frame in frames {
                try sendAck(frame)
            }
        case .execute(let command, let acksFirst):
            for frame in acksFirst {
                try sendAck(frame)
            }
            try run(command)
        }
    }

    /// Runs one command on the live connection.
    private func run(_ command: Command) throws {
        switch command {
        case .publish(let request, let continuation):
            try publish(request, continuation)
        case .declareExchange(let declaration, let passive, let continuation):
            try perform(continuation) {
                try exchangeDeclareRPC(declaration, passive: passive)
                if !passive {
                    topology.record(declaration)
                }
            }
        case .declareQueue(let declaration, let passive, let continuation):
            try perform(continuation) {
                let result = try queueDeclareRPC(declaration, passive: passive)
                if !passive {
                    var recorded = declaration
                    recorded.serverNamed = declaration.name.isEmpty
                    recorded.name = result.name
                    topology.record(recorded)
                }
                return result
            }
        case .bindQueue(let binding, let continuation):
            try perform(continuation) {
                try queueBindRPC(binding)
                topology.record(binding)
            }
        case .unbindQueue(let binding, let continuation):
            try perform(continuation) {
                try ensureTopologyChannel()
                try rpc(ChannelNumber.topology, "unbinding queue '\(binding.queue)' from exchange '\(binding.exchange)'") { state in
                    amqp_queue_unbind(
                        state, ChannelNumber.topology, scratch.bytes(binding.queue), scratch.bytes(binding.exchange),
                        scratch.bytes(binding.routingKey), binding.arguments.cTable(in: scratch)
                    )
                } extract: { _ in () }
                topology.removeBinding(binding)
            }
        case .purgeQueue(let name, let continuation):
            try perform(continuation) {
                try ensureTopologyChannel()
                return try rpc(ChannelNumber.topology, "purging queue '\(name)'") { state in
                    amqp_queue_purge(state, ChannelNumber.topology, scratch.bytes(name))
                } extract: { $0.message_count }
            }
        case .deleteQueue(let name, let ifUnused, let ifEmpty, let continuation):
            try perform(continuation) {
                try ensureTopologyChannel()
                let count = try rpc(ChannelNumber.topology, "deleting queue '\(name)'") { state in
                    amqp_queue_delete(state, ChannelNumber.topology, scratch.bytes(name), ifUnused.amqpBoolean, ifEmpty.amqpBoolean)
                } extract: { $0.message_count }
                topology.removeQueue(named: name)
                return count
            }
        case .deleteExchange(let name, let ifUnused, let continuation):
            try perform(continuation) {
                try ensureTopologyChannel()
                try rpc(ChannelNumber.topology, "deleting exchange '\(name)'") { state in
                    amqp_exchange_delete(state, ChannelNumber.topology, scratch.bytes(name), ifUnused.amqpBoolean)
                } extract: { _ in () }
                topology.removeExchange(named: name)
            }
        case .setPrefetch(let count, let global, let continuation):
            try perform(continuation) {
                try ensureConsumerChannel()
                try basicQosRPC(count: count, global: global)
                topology.prefetch = (count, global)
            }
        case .consume(let consumer, let continuation):
            try perform(continuation) {
                guard topology.consumers[consumer.tag] == nil else {
                    throw AMQPError(code: .invalidArgument, message: "consumer tag '\(consumer.tag)' is already in use on this connection")
                }
                try ensureConsumerChannel()
                try startConsumer(consumer)
                topology.record(consumer)
                logger.debug("Consumer started", metadata: ["amqp.consumer_tag": "\(consumer.tag)", "amqp.queue": "\(consumer.queue)"])
            }
        case .cancelConsumer(let tag, let continuation):
            try cancelConsumer(tag: tag, continuation)
        case .acknowledge:
            // Decided by the state machine (never handed out to run).
            break
        }
    }

    /// Resumes `continuation` with the outcome of `body`; rethrows only a lost connection.
    private func perform<T>(_ continuation: UnsafeContinuation<T, any Error>, _ body: () throws -> T) throws {
        let result: T
        do {
            result = try body()
        } catch let lost as ConnectionLost {
            continuation.resume(throwing: lost.error)
            throw lost
        } catch {
            continuation.resume(throwing: error)
            return
        }
        continuation.resume(returning: result)
    }

    private func publish(_ request: PublishRequest, _ continuation: UnsafeContinuation<AMQPPublishOutcome, any Error>) throws {
        let session: Session
        do {
            session = try currentSession()
            try ensurePublisherChannel()
        } catch let lost as ConnectionLost {
            continuation.resume(throwing: lost.error)
            throw lost
        } catch {
            continuation.resume(throwing: error)
            return
        }
        let sequence = machine.nextPublishSequence
        var properties = request.properties.cProperties(in: scratch, sequence: request.mandatory ? sequence : nil)
        let exchange = scratch.bytes(request.exchange)
        let routingKey = scratch.bytes(request.routingKey)
        let status = request.body.withUnsafeBytes { body in
            amqp_basic_publish(
                session.state, ChannelNumber.publisher, exchange, routingKey, request.mandatory.amqpBoolean, 0, &properties,
                amqp_bytes_t(len: body.count, bytes: UnsafeMutableRawPointer(mutating: body.baseAddress))
            )
        }
        scratch.recycle()
        guard status == RabbitMQStatus.ok else {
            // Part of the message may have been written: the connection's
            // framing cannot be trusted any more, so it is re-established.
            let error = libraryFailure(status, "publishing to exchange '\(request.exchange)' with routing key '\(request.routingKey)'")
            continuation.resume(throwing: error)
            throw ConnectionLost(error: error)
        }
        machine.published(continuation)
    }

    private func sendAck(_ frame: ConnectionStateMachine.AckFrame) throws {
        let state = try currentSession().state
        let status: Int32
        let tag: UInt64
        switch frame {
        case .ack(let deliveryTag, let multiple):
            tag = deliveryTag
            status = amqp_basic_ack(state, ChannelNumber.consumer, deliveryTag, multiple.amqpBoolean)
        case .nack(let deliveryTag, let multiple, let requeue):
            tag = deliveryTag
            status = amqp_basic_nack(state, ChannelNumber.consumer, deliveryTag, multiple.amqpBoolean, requeue.amqpBoolean)
        case .reject(let deliveryTag, let requeue):
            tag = deliveryTag
            status = amqp_basic_reject(state, ChannelNumber.consumer, deliveryTag, requeue.amqpBoolean)
        }
        guard status == RabbitMQStatus.ok else {
            throw ConnectionLost(error: libraryFailure(status, "acknowledging delivery \(tag)"))
        }
    }

    /// Sends the single acks asked for since the last flush (see
    /// ``ConnectionStateMachine/flushAcks(_:)``). They all belong to the
    /// current consumer channel: it can only close in between through
    /// frames, which are not read before the flush, or through a
    /// consumer-channel command, which flushes first.
    private func flushAcks() throws {
        try machine.flushAcks { try sendAck($0) }
    }

    private func cancelConsumer(tag: String, _ continuation: UnsafeContinuation<Void, any Error>?) throws {
        defer { continuation?.resume() }
        guard let consumer = topology.removeConsumer(tag: tag) else {
            return
        }
        defer { consumer.continuation.finish() }
        guard machine.isOpen(.consumer) else {
            return
        }
        do {
            try rpc(ChannelNumber.consumer, "cancelling consumer '\(tag)'") { state in
                amqp_basic_cancel(state, ChannelNumber.consumer, scratch.bytes(tag))
            } extract: { _ in () }
            logger.debug("Consumer cancelled", metadata: ["amqp.consumer_tag": "\(tag)"])
        } catch let error as AMQPError {
            logger.warning("Cancelling a consumer failed", metadata: ["amqp.consumer_tag": "\(tag)", "amqp.error": "\(error)"])
        }
    }

    // MARK: Synchronous methods

    private func currentSession() throws -> Session {
        guard let session else {
            throw ConnectionLost(error: AMQPError(code: .notConnected, message: "no connection to the broker"))
        }
        return session
    }

    /// Runs one synchronous AMQP method on `channel` (librabbitmq sends it
    /// and waits for the reply, queueing frames of other channels meanwhile).
    /// A channel.close from the broker becomes an ``AMQPError`` (the channel
    /// is marked for reopening); anything that breaks the connection is
    /// thrown as ``ConnectionLost``.
    @discardableResult
    private func rpc<Reply, Result>(
        _ channel: amqp_channel_t,
        _ description: @autoclosure () -> String,
        call: (amqp_connection_state_t) -> UnsafeMutablePointer<Reply>?,
        extract: (Reply) -> Result
    ) throws -> Result {
        let state = try currentSession().state
        defer {
            scratch.recycle()
            amqp_maybe_release_buffers_on_channel(state, channel)
        }
        if let reply = call(state) {
            return extract(reply.pointee)
        }
        try rpcFailure(on: channel, description())
    }

    private func rpcFailure(on channel: amqp_channel_t, _ description: String) throws -> Never {
        let session = try currentSession()
        let reply = amqp_get_rpc_reply(session.state)
        switch reply.reply_type {
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            guard let decoded = reply.reply.decoded else {
                break
            }
            switch reply.reply.id {
            case AMQP_CHANNEL_CLOSE_METHOD:
                let close = decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
                let serverReply = AMQPError.ServerReply(
                    scope: .channel, replyCode: close.reply_code, replyText: close.reply_text.string,
                    classID: close.class_id, methodID: close.method_id
                )
                try channelClosed(channel, by: serverReply)
                throw AMQPError(
                    code: .channelClosedByServer, message: description, serverReply: serverReply,
                    endpoint: session.endpoint.description
                )
            case AMQP_CONNECTION_CLOSE_METHOD:
                let close = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                throw connectionClosedByServer(close, during: description)
            default:
                break
            }
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            throw ConnectionLost(error: libraryFailure(reply.library_error, description))
        default:
            break
        }
        throw ConnectionLost(error: AMQPError(
            code: .libraryError, message: "\(description): unexpected reply (method \(reply.reply.id))",
            endpoint: session.endpoint.description
        ))
    }

    private func libraryFailure(_ status: Int32, _ description: String) -> AMQPError {
        let code: AMQPError.Code
        switch status {
        case RabbitMQStatus.timeout: code = .timeout
        case AMQP_STATUS_HEARTBEAT_TIMEOUT.rawValue, AMQP_STATUS_CONNECTION_CLOSED.rawValue,
             AMQP_STATUS_SOCKET_ERROR.rawValue, AMQP_STATUS_SOCKET_CLOSED.rawValue, AMQP_STATUS_SSL_ERROR.rawValue:
            code = .connectionLost
        default: code = .libraryError
        }
        return AMQPError(
            code: code, message: description, libraryStatus: status, libraryMessage: RabbitMQStatus.message(status),
            endpoint: session?.endpoint.description
        )
    }

    /// Sends connection.close-ok and returns the error for the in-flight operation.
    private func connectionClosedByServer(_ close: amqp_connection_close_t, during description: String) -> ConnectionLost {
        let serverReply = AMQPError.ServerReply(
            scope: .connection, replyCode: close.reply_code, replyText: close.reply_text.string,
            classID: close.class_id, methodID: close.method_id
        )
        if let session {
            var closeOK = amqp_connection_close_ok_t()
            _ = amqp_send_method(session.state, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &closeOK)
        }
        return ConnectionLost(error: AMQPError(
            code: .connectionClosedByServer, message: description, serverReply: serverReply,
            endpoint: session?.endpoint.description
        ))
    }

    /// The broker closed `channel`: handles the frames queued before the
    /// close, answers close-ok, fails what depended on the channel and marks
    /// it for reopening (done lazily before its next use).
    private func channelClosed(_ channel: amqp_channel_t, by reply: AMQPError.ServerReply) throws {
        let session = try currentSession()
        logger.warning(
            "The broker closed a channel",
            metadata: ["amqp.channel": "\(channel)", "amqp.reply": "\(reply)"]
        )
        // Frames librabbitmq queued while waiting for a synchronous reply
        // arrived before the close. Confirms and returns on the publisher
        // channel are still valid; deliveries on a closed consumer channel
        // are dead (the broker requeues them) and are dropped.
        var frame = amqp_frame_t()
        var immediately = timeval(tv_sec: 0, tv_usec: 0)
        while amqp_frames_enqueued(session.state) != 0 {
            let status = amqp_simple_wait_frame_noblock(session.state, &frame, &immediately)
            guard status == RabbitMQStatus.ok else {
                throw ConnectionLost(error: libraryFailure(status, "reading queued frames"))
            }
            if frame.channel == channel, channel != ChannelNumber.publisher {
                continue
            }
            try dispatch(frame)
            amqp_maybe_release_buffers_on_channel(session.state, frame.channel)
        }

        var closeOK = amqp_channel_close_ok_t()
        let status = amqp_send_method(session.state, channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &closeOK)
        guard status == RabbitMQStatus.ok else {
            throw ConnectionLost(error: libraryFailure(status, "answering channel.close"))
        }

        switch channel {
        case ChannelNumber.consumer:
            _ = machine.channelClosed(.consumer)
            shared.liveConsumerIncarnation.store(0, ordering: .releasing)
            content.resetConsumer()
        case ChannelNumber.publisher:
            content.resetPublisher()
            let error = AMQPError(
                code: .channelClosedByServer, message: "the broker closed the publishing channel before confirming the publish",
                serverReply: reply, endpoint: session.endpoint.description
            )
            for pending in machine.channelClosed(.publisher) {
                pending.continuation.resume(throwing: error)
            }
        default:
            _ = machine.channelClosed(.topology)
        }
    }

    private func openChannel(_ channel: amqp_channel_t) throws {
        try rpc(channel, "opening channel \(channel)") { state in
            amqp_channel_open(state, channel)
        } extract: { _ in () }
    }

    private func ensureTopologyChannel() throws {
        _ = try currentSession()
        guard machine.needsOpening(.topology) else {
            return
        }
        try openChannel(ChannelNumber.topology)
        machine.channelOpened(.topology)
    }

    private func ensurePublisherChannel() throws {
        _ = try currentSession()
        guard machine.needsOpening(.publisher) else {
            return
        }
        try openChannel(ChannelNumber.publisher)
        machine.channelOpened(.publisher)
        try rpc(ChannelNumber.publisher, "enabling publisher confirms") { state in
            amqp_confirm_select(state, ChannelNumber.publisher)
        } extract: { _ in () }
    }

    /// Opens the consumer channel if needed, then applies the recorded
    /// prefetch and restarts every recorded consumer with its tag. A consumer
    /// that cannot be restarted (its queue is gone, ...) is finished with
    /// the error; if that closed the channel, the round starts over.
    private func ensureConsumerChannel() throws {
        let session = try currentSession()
        var rounds = 0
        while machine.needsOpening(.consumer) {
            rounds += 1
            guard rounds <= 16 else {
                throw ConnectionLost(error: AMQPError(
                    code: .libraryError, message: "cannot re-establish the consumer channel",
                    endpoint: session.endpoint.description
                ))
            }
            try openChannel(ChannelNumber.consumer)
            let incarnation = machine.channelOpened(.consumer)
            perConsumerPrefetchApplied = false
            shared.liveConsumerIncarnation.store(incarnation, ordering: .releasing)
            content.resetConsumer()
            do {
                if let prefetch = topology.prefetch {
                    try basicQosRPC(count: prefetch.count, global: prefetch.global)
                }
            } catch let error as AMQPError {
                logger.error("Cannot restore the prefetch count", metadata: ["amqp.error": "\(error)"])
                continue
            }
            for consumer in topology.orderedConsumers {
                guard machine.isOpen(.consumer) else {
                    break
                }
                do {
                    try startConsumer(consumer)
                } catch let error as AMQPError {
                    logger.error(
                        "Cannot restart a consumer; finishing it",
                        metadata: ["amqp.consumer_tag": "\(consumer.tag)", "amqp.queue": "\(consumer.queue)", "amqp.error": "\(error)"]
                    )
                    topology.removeConsumer(tag: consumer.tag)
                    consumer.continuation.finish(throwing: error)
                }
            }
        }
    }

    private func exchangeDeclareRPC(_ declaration: ExchangeDeclaration, passive: Bool) throws {
        try ensureTopologyChannel()
        try rpc(ChannelNumber.topology, "declaring exchange '\(declaration.name)'") { state in
            amqp_exchange_declare(
                state, ChannelNumber.topology, scratch.bytes(declaration.name), scratch.bytes(declaration.type.rawValue),
                passive.amqpBoolean, declaration.durable.amqpBoolean, declaration.autoDelete.amqpBoolean,
                declaration.internal.amqpBoolean, declaration.arguments.cTable(in: scratch)
            )
        } extract: { _ in () }
    }

    private func queueDeclareRPC(_ declaration: QueueDeclaration, passive: Bool) throws -> AMQPQueueDeclareResult {
        try ensureTopologyChannel()
        let what = declaration.name.isEmpty ? "declaring a server-named queue" : "declaring queue '\(declaration.name)'"
        return try rpc(ChannelNumber.topology, what) { state in
            amqp_queue_declare(
                state, ChannelNumber.topology, scratch.bytes(declaration.name), passive.amqpBoolean,
                declaration.durable.amqpBoolean, declaration.exclusive.amqpBoolean, declaration.autoDelete.amqpBoolean,
                declaration.arguments.cTable(in: scratch)
            )
        } extract: { ok in
            AMQPQueueDeclareResult(name: ok.queue.string, messageCount: ok.message_count, consumerCount: ok.consumer_count)
        }
    }

    private func queueBindRPC(_ binding: QueueBinding) throws {
        try ensureTopologyChannel()
        try rpc(ChannelNumber.topology, "binding queue '\(binding.queue)' to exchange '\(binding.exchange)' with routing key '\(binding.routingKey)'") { state in
            amqp_queue_bind(
                state, ChannelNumber.topology, scratch.bytes(binding.queue), scratch.bytes(binding.exchange),
                scratch.bytes(binding.routingKey), binding.arguments.cTable(in: scratch)
            )
        } extract: { _ in () }
    }

    private func basicQosRPC(count: UInt16, global: Bool) throws {
        try rpc(ChannelNumber.consumer, "setting the prefetch count to \(count)") { state in
            amqp_basic_qos(state, ChannelNumber.consumer, 0, count, global.amqpBoolean)
        } extract: { _ in () }
    }

    /// basic.consume, after a passive declare on the topology channel: a
    /// missing queue then fails there (404) instead of closing the consumer
    /// channel and interrupting the other consumers.
    private func startConsumer(_ consumer: ConsumerRegistration) throws {
        var check = QueueDeclaration(name: consumer.queue, durable: false, exclusive: false, autoDelete: false, arguments: [:])
        check.serverNamed = false
        _ = try queueDeclareRPC(check, passive: true)
        if let prefetch = consumer.prefetch {
            try basicQosRPC(count: prefetch, global: false)
            perConsumerPrefetchApplied = true
        } else if perConsumerPrefetchApplied {
            try basicQosRPC(count: topology.prefetch?.count ?? 0, global: topology.prefetch?.global ?? false)
            perConsumerPrefetchApplied = false
        }
        try rpc(ChannelNumber.consumer, "consuming from queue '\(consumer.queue)' as '\(consumer.tag)'") { state in
            amqp_basic_consume(
                state, ChannelNumber.consumer, scratch.bytes(consumer.queue), scratch.bytes(consumer.tag),
                0, 0, consumer.exclusive.amqpBoolean, consumer.arguments.cTable(in: scratch)
            )
        } extract: { _ in () }
    }

    // MARK: Frames

    /// Reads and dispatches the frames available without waiting. The tiny
    /// (1 µs) timeout makes librabbitmq check the heartbeat deadlines, which
    /// it skips for a zero timeout.
    /// Returns true when it stopped at `limit` (more frames may be readable).
    private func pumpFrames(limit: Int) throws -> Bool {
        let state = try currentSession().state
        var frame = amqp_frame_t()
        var count = 0
        while count < limit {
            var timeout = timeval(tv_sec: 0, tv_usec: 1)
            let status = amqp_simple_wait_frame_noblock(state, &frame, &timeout)
            if status == RabbitMQStatus.timeout {
                return false
            }
            guard status == RabbitMQStatus.ok else {
                let what = status == AMQP_STATUS_HEARTBEAT_TIMEOUT.rawValue ? "waiting for the broker's heartbeat" : "reading from the broker"
                throw ConnectionLost(error: libraryFailure(status, what))
            }
            count += 1
            try dispatch(frame)
            amqp_maybe_release_buffers_on_channel(state, frame.channel)
        }
        return true
    }

    private func dispatch(_ frame: amqp_frame_t) throws {
        switch Int32(frame.frame_type) {
        case AMQP_FRAME_METHOD:
            try dispatchMethod(frame.payload.method, on: frame.channel)
        case AMQP_FRAME_HEADER:
            try contentHeader(
                frame.payload.properties.decoded?.assumingMemoryBound(to: amqp_basic_properties_t.self).pointee,
                bodySize: frame.payload.properties.body_size, on: frame.channel
            )
        case AMQP_FRAME_BODY:
            try contentBody(frame.payload.body_fragment, on: frame.channel)
        default:
            break
        }
    }

    private func dispatchMethod(_ method: amqp_method_t, on channel: amqp_channel_t) throws {
        guard let decoded = method.decoded else {
            return
        }
        switch (method.id, channel) {
        case (AMQP_BASIC_DELIVER_METHOD, ChannelNumber.consumer):
            let deliver = decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
            machine.delivered(deliver.delivery_tag)
            content.deliverStarted(ContentAssembler.DeliveryStart(
                consumerTag: deliver.consumer_tag.string, deliveryTag: deliver.delivery_tag,
                redelivered: deliver.redelivered != 0, exchange: deliver.exchange.string,
                routingKey: deliver.routing_key.string, connectionGeneration: generation,
                channelIncarnation: machine.consumerIncarnation
            ))
        case (AMQP_BASIC_ACK_METHOD, ChannelNumber.publisher):
            let ack = decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            machine.confirmed(sequence: ack.delivery_tag, multiple: ack.multiple != 0) { pending in
                if let returned = pending.returned {
                    pending.continuation.resume(returning: .returned(replyCode: returned.replyCode, replyText: returned.replyText))
                } else {
                    pending.continuation.resume(returning: .acknowledged)
                }
            }
        case (AMQP_BASIC_NACK_METHOD, ChannelNumber.publisher):
            let nack = decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            let endpoint = session?.endpoint.description
            machine.confirmed(sequence: nack.delivery_tag, multiple: nack.multiple != 0) { pending in
                pending.continuation.resume(throwing: AMQPError(
                    code: .publishNacked, message: "the broker did not take the message (basic.nack)", endpoint: endpoint
                ))
            }
        case (AMQP_BASIC_RETURN_METHOD, ChannelNumber.publisher):
            let returned = decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            content.returnStarted(replyCode: returned.reply_code, replyText: returned.reply_text.string)
        case (AMQP_BASIC_CANCEL_METHOD, ChannelNumber.consumer):
            let cancel = decoded.assumingMemoryBound(to: amqp_basic_cancel_t.self).pointee
            let tag = cancel.consumer_tag.string
            if let consumer = topology.removeConsumer(tag: tag) {
                logger.warning("The broker cancelled a consumer", metadata: ["amqp.consumer_tag": "\(tag)", "amqp.queue": "\(consumer.queue)"])
                consumer.continuation.finish(throwing: AMQPError(
                    code: .consumerCancelled,
                    message: "the broker cancelled consumer '\(tag)' of queue '\(consumer.queue)' (queue deleted, or failover)",
                    endpoint: session?.endpoint.description
                ))
            }
            if cancel.nowait == 0, let session {
                var cancelOK = amqp_basic_cancel_ok_t(consumer_tag: cancel.consumer_tag)
                let status = amqp_send_method(session.state, channel, AMQP_BASIC_CANCEL_OK_METHOD, &cancelOK)
                guard status == RabbitMQStatus.ok else {
                    throw ConnectionLost(error: libraryFailure(status, "answering basic.cancel"))
                }
            }
        case (AMQP_CHANNEL_CLOSE_METHOD, _):
            let close = decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            let reply = AMQPError.ServerReply(
                scope: .channel, replyCode: close.reply_code, replyText: close.reply_text.string,
                classID: close.class_id, methodID: close.method_id
            )
            try channelClosed(channel, by: reply)
        case (AMQP_CONNECTION_CLOSE_METHOD, 0):
            let close = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            throw connectionClosedByServer(close, during: "")
        case (AMQP_CONNECTION_BLOCKED_METHOD, 0):
            let blocked = decoded.assumingMemoryBound(to: amqp_connection_blocked_t.self).pointee
            machine.setBlocked(true)
            logger.warning("The broker blocks publishing on this connection", metadata: ["amqp.reason": "\(blocked.reason.string)"])
        case (AMQP_CONNECTION_UNBLOCKED_METHOD, 0):
            machine.setBlocked(false)
            logger.info("The broker unblocked publishing on this connection")
        default:
            logger.debug("Ignoring an unexpected method", metadata: ["amqp.channel": "\(channel)", "amqp.method": "\(method.id)"])
        }
    }

    private static func role(of channel: amqp_channel_t) -> ContentAssembler.Role {
        switch channel {
        case ChannelNumber.consumer: .consumer
        case ChannelNumber.publisher: .publisher
        default: .other
        }
    }

    private func contentHeader(_ properties: amqp_basic_properties_t?, bodySize: UInt64, on channel: amqp_channel_t) throws {
        let role = Self.role(of: channel)
        let outcome = content.header(
            on: role, properties: role == .consumer ? properties.map(AMQPMessageProperties.init) : nil,
            publishSequence: role == .publisher ? properties?.publishSequence : nil, bodySize: bodySize
        )
        try handle(outcome, kind: "content header", on: channel)
    }

    private func contentBody(_ fragment: amqp_bytes_t, on channel: amqp_channel_t) throws {
        try handle(content.body(on: Self.role(of: channel), fragment.rawBuffer), kind: "content body", on: channel)
    }

    private func handle(_ outcome: ContentAssembler.Outcome, kind: String, on channel: amqp_channel_t) throws {
        switch outcome {
        case .incomplete:
            break
        case .ignored:
            logger.debug("Ignoring an unexpected \(kind)", metadata: ["amqp.channel": "\(channel)"])
        case .delivery(let delivery):
            try deliver(delivery)
        case .returned(let returned):
            recordReturn(returned)
        }
    }

    private func deliver(_ delivery: AMQPDelivery) throws {
        if let consumer = topology.consumers[delivery.consumerTag], case .enqueued = consumer.continuation.yield(delivery) {
            return
        }
        // Nobody listens any more (the consumer is being cancelled): hand the
        // message back to the broker for another consumer.
        try execute(.acknowledge(Acknowledgement(
            kind: .reject(requeue: true), deliveryTag: delivery.deliveryTag, channelIncarnation: delivery.channelIncarnation
        )))
    }

    private func recordReturn(_ returned: ContentAssembler.Returned) {
        guard let sequence = returned.sequence,
              machine.returned(sequence: sequence, replyCode: returned.replyCode, replyText: returned.replyText)
        else {
            logger.warning(
                "A returned message matches no pending publish",
                metadata: ["amqp.reply_code": "\(returned.replyCode)", "amqp.reply_text": "\(returned.replyText)"]
            )
            return
        }
    }

    // MARK: Connecting

    private func connect() {
        let endpoints = configuration.endpoints
        var failure: AMQPError?
        for offset in 0..<endpoints.count {
            if offset > 0, shared.stopRequested {
                return
            }
            let index = (nextEndpointIndex + offset) % endpoints.count
            let endpoint = endpoints[index]
            do {
                let opened = try RabbitMQLogin(configuration: configuration, scratch: scratch).open(endpoint)
                let session = Session(
                    handle: opened.handle, endpoint: endpoint, endpointIndex: index,
                    heartbeatSeconds: opened.heartbeatSeconds, socket: opened.socket
                )
                self.session = session
                machine.connected()
                generation += 1
                logger.info(
                    "Connected to the broker",
                    metadata: ["amqp.endpoint": "\(endpoint)", "amqp.heartbeat": "\(session.heartbeatSeconds)", "amqp.generation": "\(generation)"]
                )
                try recoverTopology()
                schedule.reset()
                lastFailure = nil
                shared.markConnected(generation: generation)
                return
            } catch {
                let amqpError = (error as? ConnectionLost)?.error ?? (error as? AMQPError)
                    ?? AMQPError(code: .connectionFailed, message: "\(error)", endpoint: endpoint.description)
                if session != nil {
                    dropSession(amqpError)
                }
                failure = amqpError
                logger.warning("Cannot connect to the broker", metadata: ["amqp.endpoint": "\(endpoint)", "amqp.error": "\(amqpError)"])
            }
        }
        lastFailure = failure
        let delay = schedule.nextDelay(using: &random)
        nextAttempt = .now + delay
        shared.markDisconnected(error: failure)
        logger.info("Retrying the connection", metadata: ["amqp.retry_in": "\(delay)"])
    }

    /// Replays everything recorded, in order: exchanges, queues, bindings,
    /// prefetch, consumers. Failures other than a lost connection are logged
    /// (and a consumer that cannot restart is finished with its error).
    private func recoverTopology() throws {
        try ensurePublisherChannel()
        try ensureTopologyChannel()
        for exchange in topology.exchanges {
            do {
                try exchangeDeclareRPC(exchange, passive: false)
            } catch let error as AMQPError {
                logger.error("Cannot re-declare an exchange", metadata: ["amqp.exchange": "\(exchange.name)", "amqp.error": "\(error)"])
            }
        }
        for queue in topology.queues {
            do {
                if queue.serverNamed {
                    var fresh = queue
                    fresh.name = ""
                    let result = try queueDeclareRPC(fresh, passive: false)
                    topology.renameQueue(from: queue.name, to: result.name)
                } else {
                    _ = try queueDeclareRPC(queue, passive: false)
                }
            } catch let error as AMQPError {
                logger.error("Cannot re-declare a queue", metadata: ["amqp.queue": "\(queue.name)", "amqp.error": "\(error)"])
            }
        }
        for binding in topology.bindings {
            do {
                try queueBindRPC(binding)
            } catch let error as AMQPError {
                logger.error(
                    "Cannot re-bind a queue",
                    metadata: ["amqp.queue": "\(binding.queue)", "amqp.exchange": "\(binding.exchange)", "amqp.error": "\(error)"]
                )
            }
        }
        try ensureConsumerChannel()
        if !topology.consumerOrder.isEmpty || !topology.queues.isEmpty {
            logger.info(
                "Restored the topology",
                metadata: [
                    "amqp.exchanges": "\(topology.exchanges.count)", "amqp.queues": "\(topology.queues.count)",
                    "amqp.bindings": "\(topology.bindings.count)", "amqp.consumers": "\(topology.consumerOrder.count)",
                ]
            )
        }
    }

    /// Forgets the current connection (destroying it) and fails what was in flight.
    private func dropSession(_ error: AMQPError) {
        guard let session else {
            return
        }
        nextEndpointIndex = (session.endpointIndex + 1) % max(configuration.endpoints.count, 1)
        self.session = nil
        shared.liveConsumerIncarnation.store(0, ordering: .releasing)
        content.resetConsumer()
        content.resetPublisher()
        let lost = AMQPError(
            code: .connectionLost, message: "the connection was lost before the broker confirmed the publish",
            endpoint: session.endpoint.description, underlying: error
        )
        for pending in machine.connectionLost(now: .now) {
            pending.continuation.resume(throwing: lost)
        }
    }

    private func handleConnectionLoss(_ error: AMQPError) {
        logger.warning("The connection to the broker was lost", metadata: ["amqp.error": "\(error)"])
        dropSession(error)
        lastFailure = error
        shared.markDisconnected(error: error)
        nextAttempt = .now
    }

    private func shutDown() {
        if let session {
            logger.info("Closing the connection to the broker", metadata: ["amqp.endpoint": "\(session.endpoint)"])
            _ = amqp_connection_close(session.state, Int32(AMQP_REPLY_SUCCESS))
            self.session = nil
            shared.liveConsumerIncarnation.store(0, ordering: .releasing)
        }
        let error = AMQPError(code: .shutDown, message: "the connection was shut down")
        let remaining = shared.markStopped()
        let (confirms, kept) = machine.shutDown()
        for pending in confirms {
            pending.continuation.resume(throwing: error)
        }
        for command in kept {
            command.fail(error)
        }
        for command in incoming + remaining {
            command.fail(error)
        }
        incoming.removeAll()
        for consumer in topology.removeAllConsumers() {
            consumer.continuation.finish()
        }
    }
}

extension Duration {
    var timevalValue: timeval {
        let (seconds, attoseconds) = components
        return timeval(tv_sec: Int(max(seconds, 0)), tv_usec: Int(max(attoseconds, 0) / 1_000_000_000_000))
    }

    /// Milliseconds for poll(), rounded up so that a short wait does not spin.
    var pollMilliseconds: Int32 {
        let (seconds, attoseconds) = components
        guard seconds >= 0, attoseconds >= 0 || seconds > 0 else {
            return 0
        }
        let milliseconds = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: max(milliseconds, 0))
    }
}
