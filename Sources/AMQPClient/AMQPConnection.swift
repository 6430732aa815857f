#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import Synchronization
import SystemSupport

/// A connection to RabbitMQ that reconnects by itself.
///
/// The connection works while ``run()`` runs (start it in a task group or as
/// a service): `run()` connects to the configured endpoints in turn,
/// reconnects with backoff after any loss, and closes the connection
/// gracefully when its task is cancelled.
///
/// All librabbitmq calls happen on one dedicated OS thread owned by `run()`;
/// the methods here only hand operations to that thread and await the
/// outcome, so they never block Swift's cooperative thread pool.
///
/// Recovery: every exchange, queue, binding, prefetch and consumer set up
/// through this API is recorded and replayed after a reconnection, in that
/// order; consumers keep their tags and their ``AMQPConsumer`` sequences keep
/// yielding. Publishes awaiting a confirm when the connection breaks fail
/// with ``AMQPError/Code-swift.struct/connectionLost`` (retry them).
///
/// Operations issued while disconnected wait for the next connection, up to
/// ``AMQPConfiguration/disconnectedOperationTimeout`` (default 30 s), then
/// fail with ``AMQPError/Code-swift.struct/notConnected`` (whose `underlying`
/// is the last connection failure). Operations issued before `run()` starts
/// wait for it. A synchronous method that gets no reply within
/// ``AMQPConfiguration/rpcTimeout`` fails and the connection is re-established.
/// In-flight operations do not react to task cancellation: each ends with a
/// reply, a timeout or the loss of the connection.
public final class AMQPConnection: Sendable {
    public let configuration: AMQPConfiguration
    private let logger: Logger
    private let shared: ConnectionShared

    public init(configuration: AMQPConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.shared = ConnectionShared()
    }

    // MARK: Lifecycle

    /// Runs the connection until the calling task is cancelled, then closes
    /// it (connection.close) and returns. Connection failures are retried
    /// forever with backoff (see ``lastConnectionError``); `run()` throws only
    /// when it cannot start: it was called before, or the configuration
    /// cannot work (no endpoint, an unreadable TLS file).
    public func run() async throws {
        let started = shared.state.withLock { state in
            guard state.phase == .idle else {
                return false
            }
            state.phase = .running
            return true
        }
        guard started else {
            throw AMQPError(code: .alreadyRunning, message: "run() may be called only once per connection")
        }
        if let problem = configurationProblem() {
            for command in shared.markStopped() {
                command.fail(problem)
            }
            throw problem
        }

        let shared = self.shared
        let configuration = self.configuration
        let logger = self.logger
        await withTaskCancellationHandler {
            await withUnsafeContinuation { (finished: UnsafeContinuation<Void, Never>) in
                startDetachedThread(name: "amqp-connection") {
                    ConnectionLoop(shared: shared, configuration: configuration, logger: logger).run()
                    finished.resume()
                }
            }
        } onCancel: {
            shared.requestStop()
        }
    }

    private func configurationProblem() -> AMQPError? {
        if let reason = shared.wake.creationError {
            return AMQPError(code: .libraryError, message: "cannot create the wake-up pipe: \(reason)")
        }
        if configuration.endpoints.isEmpty {
            return AMQPError(code: .invalidConfiguration, message: "no endpoint to connect to")
        }
        if let tls = configuration.tls {
            for file in [tls.caCertificateFile, tls.clientCertificateFile, tls.clientKeyFile].compactMap({ $0 })
            where !FileManager.default.isReadableFile(atPath: file) {
                return AMQPError(code: .invalidConfiguration, message: "cannot read the TLS file '\(file)'")
            }
        }
        return nil
    }

    /// True while a connection is established.
    public var isConnected: Bool {
        shared.state.withLock { $0.connected }
    }

    /// Counts successful connections: 1 for the first, 2 after the first
    /// reconnection, ... (0 before the first).
    public var connectionGeneration: UInt64 {
        shared.state.withLock { $0.generation }
    }

    /// Why the last connection attempt failed or the last connection broke;
    /// `nil` once connected again.
    public var lastConnectionError: AMQPError? {
        shared.lastConnectionError
    }

    /// Waits until a connection is established (returns at once if it is).
    /// Throws `CancellationError` when the task is cancelled and
    /// ``AMQPError/Code-swift.struct/shutDown`` when `run()` ends.
    public func waitUntilConnected() async throws {
        let shared = self.shared
        let id = shared.makeWaiterID()
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
                shared.addConnectionWaiter(id: id, continuation)
            }
        } onCancel: {
            shared.cancelConnectionWaiter(id: id)
        }
    }

    /// Waits until a connection is established, at most `timeout`; then
    /// throws ``AMQPError/Code-swift.struct/notConnected`` with the last
    /// connection failure (e.g. an authentication failure) as `underlying`.
    public func waitUntilConnected(timeout: Duration) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await self.waitUntilConnected()
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw AMQPError(
                    code: .notConnected, message: "no connection to the broker within \(timeout)",
                    underlying: self.lastConnectionError
                )
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    // MARK: Topology

    /// exchange.declare. With `passive`, only checks that the exchange exists
    /// (404 otherwise) and is not recorded for recovery.
    public func declareExchange(
        name: String,
        type: AMQPExchangeType,
        durable: Bool = false,
        autoDelete: Bool = false,
        internal: Bool = false,
        passive: Bool = false,
        arguments: AMQPFieldTable = [:]
    ) async throws {
        let declaration = ExchangeDeclaration(
            name: name, type: type, durable: durable, autoDelete: autoDelete, internal: `internal`, arguments: arguments
        )
        try await submit { .declareExchange(declaration, passive: passive, $0) }
    }

    /// queue.declare. An empty `name` lets the broker choose one (returned).
    /// With `passive`, only checks that the queue exists (404 otherwise) and
    /// is not recorded for recovery. A queue that exists with other
    /// properties fails with 406 PRECONDITION_FAILED.
    @discardableResult
    public func declareQueue(
        name: String,
        durable: Bool = false,
        exclusive: Bool = false,
        autoDelete: Bool = false,
        passive: Bool = false,
        arguments: AMQPFieldTable = [:]
    ) async throws -> AMQPQueueDeclareResult {
        let declaration = QueueDeclaration(
            name: name, durable: durable, exclusive: exclusive, autoDelete: autoDelete, arguments: arguments
        )
        return try await submit { .declareQueue(declaration, passive: passive, $0) }
    }

    /// queue.bind.
    public func bindQueue(queue: String, exchange: String, routingKey: String, arguments: AMQPFieldTable = [:]) async throws {
        let binding = QueueBinding(queue: queue, exchange: exchange, routingKey: routingKey, arguments: arguments)
        try await submit { .bindQueue(binding, $0) }
    }

    /// queue.unbind (also forgets the binding for recovery).
    public func unbindQueue(queue: String, exchange: String, routingKey: String, arguments: AMQPFieldTable = [:]) async throws {
        let binding = QueueBinding(queue: queue, exchange: exchange, routingKey: routingKey, arguments: arguments)
        try await submit { .unbindQueue(binding, $0) }
    }

    /// queue.purge; returns the number of messages removed.
    @discardableResult
    public func purgeQueue(name: String) async throws -> UInt32 {
        try await submit { .purgeQueue(name: name, $0) }
    }

    /// queue.delete; returns the number of messages deleted with the queue.
    /// Its consumers are cancelled by the broker (their sequences end with
    /// ``AMQPError/Code-swift.struct/consumerCancelled``).
    @discardableResult
    public func deleteQueue(name: String, ifUnused: Bool = false, ifEmpty: Bool = false) async throws -> UInt32 {
        try await submit { .deleteQueue(name: name, ifUnused: ifUnused, ifEmpty: ifEmpty, $0) }
    }

    /// exchange.delete.
    public func deleteExchange(name: String, ifUnused: Bool = false) async throws {
        try await submit { .deleteExchange(name: name, ifUnused: ifUnused, $0) }
    }

    // MARK: Consuming

    /// basic.qos on the consumer channel: at most `count` unacknowledged
    /// deliveries per consumer (`global`: shared by all consumers of this
    /// connection). 0 means no limit. Applies to consumers started afterwards.
    public func setPrefetch(count: UInt16, global: Bool = false) async throws {
        try await submit { .setPrefetch(count: count, global: global, $0) }
    }

    /// Starts a consumer on `queue` (acknowledgements required). Iterate the
    /// returned sequence for deliveries and acknowledge each with ``ack(_:multiple:)``.
    ///
    /// The queue must exist (a missing queue fails with 404 without
    /// disturbing other consumers). `consumerTag` must be unique on this
    /// connection; by default one is generated. The sequence ends normally
    /// after ``AMQPConsumer/cancel()`` or when the connection shuts down, and
    /// with an error when the broker cancels the consumer. Cancelling the
    /// iterating task cancels the consumer.
    ///
    /// `prefetch`, when given, is this consumer's own limit of
    /// unacknowledged deliveries (basic.qos, not global, sent just before
    /// its basic.consume, and again after a reconnection); otherwise the
    /// limit of ``setPrefetch(count:global:)`` applies.
    public func consume(
        queue: String,
        consumerTag: String? = nil,
        exclusive: Bool = false,
        arguments: AMQPFieldTable = [:],
        prefetch: UInt16? = nil
    ) async throws -> AMQPConsumer {
        let tag = consumerTag ?? "mistral-actions.\(shared.consumerTagCounter.add(1, ordering: .relaxed).newValue)"
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: AMQPDelivery.self, throwing: (any Error).self)
        let shared = self.shared
        continuation.onTermination = { termination in
            if case .cancelled = termination {
                shared.submit(.cancelConsumer(tag: tag, nil))
            }
        }
        let registration = ConsumerRegistration(
            tag: tag, queue: queue, exclusive: exclusive, arguments: arguments, prefetch: prefetch,
            continuation: continuation
        )
        do {
            try await submit { .consume(registration, $0) }
        } catch {
            continuation.finish(throwing: error)
            throw error
        }
        return AMQPConsumer(tag: tag, queue: queue, stream: stream, connection: self)
    }

    /// basic.cancel: stops the consumer `tag`; its sequence ends.
    func cancelConsumer(tag: String) async throws {
        try await submit { .cancelConsumer(tag: tag, $0) }
    }

    /// Whether `delivery` can still be acknowledged: the consumer channel it
    /// arrived on is open. Once it is not, the broker has taken the message
    /// back and redelivers it (to this or another consumer), so it must not
    /// be acted on. A delivery no broker sent (``AMQPDelivery``'s public
    /// initializer) is never current.
    public func isCurrent(_ delivery: AMQPDelivery) -> Bool {
        let live = shared.liveConsumerIncarnation.load(ordering: .acquiring)
        return live != 0 && delivery.channelIncarnation == live
    }

    /// Acknowledges a delivery (basic.ack). Does not wait: the
    /// acknowledgement is sent in order with other operations. An
    /// acknowledgement of a delivery from an earlier connection or channel
    /// is dropped, as the broker redelivers that message anyway.
    public func ack(_ delivery: AMQPDelivery, multiple: Bool = false) {
        acknowledge(delivery, .ack(multiple: multiple))
    }

    /// Rejects one or (with `multiple`) all unacknowledged deliveries up to
    /// this one (basic.nack), requeueing them by default. Does not wait.
    public func nack(_ delivery: AMQPDelivery, multiple: Bool = false, requeue: Bool = true) {
        acknowledge(delivery, .nack(multiple: multiple, requeue: requeue))
    }

    /// Rejects a delivery (basic.reject), requeueing it by default. Does not wait.
    public func reject(_ delivery: AMQPDelivery, requeue: Bool = true) {
        acknowledge(delivery, .reject(requeue: requeue))
    }

    private func acknowledge(_ delivery: AMQPDelivery, _ kind: Acknowledgement.Kind) {
        shared.submit(.acknowledge(Acknowledgement(
            kind: kind, deliveryTag: delivery.deliveryTag, channelIncarnation: delivery.channelIncarnation
        )))
    }

    // MARK: Publishing

    /// Publishes a message and waits for the broker's confirm.
    ///
    /// Returns ``AMQPPublishOutcome/acknowledged`` when the broker took the
    /// message, or ``AMQPPublishOutcome/returned(replyCode:replyText:)`` when
    /// it was `mandatory` and unroutable (e.g. `312 NO_ROUTE`). Throws when
    /// the broker nacked it, or when the connection or the publishing channel
    /// broke before the confirm (e.g. 404 for a missing exchange): the
    /// message must then be considered not sent.
    ///
    /// A mandatory message carries the extra header `x-mistral-actions-seq`,
    /// which matches a return with its publish.
    public func publish(
        body: [UInt8],
        exchange: String = "",
        routingKey: String,
        properties: AMQPMessageProperties = AMQPMessageProperties(),
        mandatory: Bool = false
    ) async throws -> AMQPPublishOutcome {
        let request = PublishRequest(
            body: body, exchange: exchange, routingKey: routingKey, properties: properties, mandatory: mandatory
        )
        return try await withUnsafeThrowingContinuation { continuation in
            shared.submit(.publish(request, continuation))
        }
    }

    /// Publishes `body` (see ``publish(body:exchange:routingKey:properties:mandatory:)``).
    public func publish(
        body: Data,
        exchange: String = "",
        routingKey: String,
        properties: AMQPMessageProperties = AMQPMessageProperties(),
        mandatory: Bool = false
    ) async throws -> AMQPPublishOutcome {
        try await publish(
            body: [UInt8](body), exchange: exchange, routingKey: routingKey, properties: properties, mandatory: mandatory
        )
    }

    private func submit<T>(_ command: (UnsafeContinuation<T, any Error>) -> Command) async throws -> T {
        try await withUnsafeThrowingContinuation { continuation in
            shared.submit(command(continuation))
        }
    }
}

/// The deliveries of one consumer, as an async sequence.
///
/// Only one task may iterate it. The sequence ends after ``cancel()`` (or
/// when the connection shuts down) and throws
/// ``AMQPError/Code-swift.struct/consumerCancelled`` when the broker cancels
/// the consumer (e.g. its queue was deleted). It continues across
/// reconnections.
public struct AMQPConsumer: AsyncSequence, Sendable {
    public typealias Element = AMQPDelivery
    public typealias Failure = any Error

    public let tag: String
    public let queue: String
    private let stream: AsyncThrowingStream<AMQPDelivery, any Error>
    private let connection: AMQPConnection

    init(tag: String, queue: String, stream: AsyncThrowingStream<AMQPDelivery, any Error>, connection: AMQPConnection) {
        self.tag = tag
        self.queue = queue
        self.stream = stream
        self.connection = connection
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        public typealias Element = AMQPDelivery
        public typealias Failure = any Error

        var base: AsyncThrowingStream<AMQPDelivery, any Error>.AsyncIterator

        public mutating func next() async throws -> AMQPDelivery? {
            try await base.next()
        }

        public mutating func next(isolation actor: isolated (any Actor)?) async throws(any Error) -> AMQPDelivery? {
            try await base.next(isolation: actor)
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: stream.makeAsyncIterator())
    }

    /// Cancels the consumer (basic.cancel) and ends the sequence. Deliveries
    /// already received can still be acknowledged.
    public func cancel() async throws {
        try await connection.cancelConsumer(tag: tag)
    }
}
