import AMQPClient
import Logging
import OsloMessaging
import Synchronization

/// What the worker needs from the message bus, and nothing more: requests
/// in, acknowledgements, forwarding, engine casts and call replies. The
/// RabbitMQ implementation is ``RPCWorkerTransport``; unit tests use
/// ``InMemoryWorkerTransport``.
public protocol WorkerTransport: Sendable {
    /// The transport's long-running work (moving deliveries into the
    /// sequence ``startConsuming(capacity:)`` returns), as a child task of
    /// the worker: run it beside the consumption, before or after
    /// `startConsuming`. Returns once consuming has stopped (or when the
    /// calling task is cancelled, which stops consuming).
    func run() async
    /// Starts consuming the executor's queues (concurrency = `capacity`).
    func startConsuming(capacity: Int) async throws -> RPCIncomingSequence
    /// Stops consuming; the sequence ends once it returned what it holds.
    func stopConsuming() async
    func acknowledge(_ incoming: RPCIncoming)
    /// basic.reject: `requeue` gives it back for another consumer.
    func reject(_ incoming: RPCIncoming, requeue: Bool)
    /// Whether the delivery's channel is still open (see ``RPCServer/isCurrent(_:)``).
    func isCurrent(_ incoming: RPCIncoming) -> Bool
    /// Forwards the delivery byte for byte to `topic`, mandatory, confirmed.
    func forward(_ incoming: RPCIncoming, toTopic topic: String) async throws -> RPCPublishOutcome
    /// A mandatory, confirmed cast (results and heartbeats to the engine).
    func cast(_ request: RPCRequest, topic: String) async throws -> RPCPublishOutcome
    /// The reply of a call (a synchronous run-action).
    func reply(to request: RPCRequest, with reply: RPCReply) async throws
}

extension WorkerTransport {
    /// Nothing runs in the background (e.g. an in-memory transport).
    public func run() async {}
}

/// The worker's transport on RabbitMQ: an ``RPCServer`` on the executor
/// topic (the listener connection) and an ``RPCClient`` for the engine (the
/// sender connection, also used for replies and forwarding). ``run()`` runs
/// the server's ``RPCServer/run()``; the client only casts, which needs no
/// `run()`.
public final class RPCWorkerTransport: WorkerTransport {
    let settings: WorkerSettings
    let listener: AMQPConnection
    let sender: AMQPConnection
    let logger: Logger
    private let server = Mutex(ServerSlot())
    let client: RPCClient

    /// The started server, and ``run()`` waiting for it.
    private struct ServerSlot {
        var server: RPCServer?
        var runWaiter: CheckedContinuation<RPCServer?, Never>?
    }

    public init(settings: WorkerSettings, listener: AMQPConnection, sender: AMQPConnection, logger: Logger) {
        self.settings = settings
        self.listener = listener
        self.sender = sender
        self.logger = logger
        self.client = RPCClient(
            connection: sender, exchange: settings.controlExchange, options: settings.topology,
            responseTimeout: settings.responseTimeout, logger: logger
        )
    }

    public func startConsuming(capacity: Int) async throws -> RPCIncomingSequence {
        let prefetch = UInt16(clamping: capacity)
        let server = RPCServer(
            connection: listener, replyConnection: sender,
            target: RPCTarget(exchange: settings.controlExchange, topic: settings.executorTopic, server: settings.host),
            options: settings.topology,
            // The topic queue fills the slots; the server and fanout queues
            // (requests addressed to this host only) hold at most one each,
            // so unacknowledged deliveries stay within capacity + 2 instead
            // of 3 × capacity.
            prefetch: prefetch, secondaryPrefetch: 1,
            logger: logger
        )
        let incoming = try await server.start()
        let runWaiter = self.server.withLock { slot in
            slot.server = server
            defer { slot.runWaiter = nil }
            return slot.runWaiter
        }
        runWaiter?.resume(returning: server)
        return incoming
    }

    /// Waits for ``startConsuming(capacity:)`` to start the server, then
    /// runs it until consuming stops. Returns at once when cancelled first.
    public func run() async {
        let server = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<RPCServer?, Never>) in
                let ready = self.server.withLock { slot -> RPCServer?? in
                    if let server = slot.server {
                        return .some(server)
                    }
                    if Task.isCancelled {
                        return .some(nil)
                    }
                    slot.runWaiter = continuation
                    return nil
                }
                if let ready {
                    continuation.resume(returning: ready)
                }
            }
        } onCancel: {
            let waiter = self.server.withLock { slot in
                defer { slot.runWaiter = nil }
                return slot.runWaiter
            }
            waiter?.resume(returning: nil)
        }
        await server?.run()
    }

    public func stopConsuming() async {
        await server.withLock { $0.server }?.stop()
    }

    public func acknowledge(_ incoming: RPCIncoming) {
        listener.ack(incoming.delivery)
    }

    public func reject(_ incoming: RPCIncoming, requeue: Bool) {
        listener.reject(incoming.delivery, requeue: requeue)
    }

    public func isCurrent(_ incoming: RPCIncoming) -> Bool {
        listener.isCurrent(incoming.delivery)
    }

    public func forward(_ incoming: RPCIncoming, toTopic topic: String) async throws -> RPCPublishOutcome {
        guard let server = server.withLock({ $0.server }) else {
            throw AMQPError(code: .notConnected, message: "not consuming")
        }
        return try await server.forward(incoming, toTopic: topic)
    }

    public func cast(_ request: RPCRequest, topic: String) async throws -> RPCPublishOutcome {
        try await client.cast(request, topic: topic, mandatory: true)
    }

    public func reply(to request: RPCRequest, with reply: RPCReply) async throws {
        guard let server = server.withLock({ $0.server }) else {
            throw AMQPError(code: .notConnected, message: "not consuming")
        }
        try await server.reply(to: request, with: reply)
    }
}
