import AMQPClient
import ActionKit
import Logging
import MistralProtocol
import OrderedJSON
import OsloMessaging
import ServiceLifecycle
import Synchronization

/// Durable records of action starts (see ``DeliveryRules``): a request the
/// broker redelivers after its acknowledgement was lost is recognized as
/// started and not run again.
public protocol ActionStartClaims: Sendable {
    /// Records that these action executions start now. Returns those among
    /// them that were recorded before (started earlier, by any worker).
    /// Throws when the records cannot be reached.
    func claim(_ actionExecutionIDs: [String]) async throws -> Set<String>
}

/// The executor: consumes Mistral's `run_action` requests, runs the Swift
/// actions it ships, relays the others (router mode) or fails them
/// (swift-only mode), reports heartbeats and sends results to the engine.
///
/// The parts: a ``WorkerTransport`` (RabbitMQ, or in memory in unit tests);
/// the ``DeliveryStateMachine`` that decides which delivery starts, waits or
/// goes back; ``DeliveryRules`` for acknowledgements and redeliveries; the
/// request handling in this type (decode, route, run, relay); the
/// ``ResultPublisher`` and the ``HeartbeatReporter``.
///
/// Delivery (DESIGN §4, README "Delivery guarantees"): with start claims
/// (the default when a database is configured) every request is
/// acknowledged once its result is confirmed, and a redelivered request
/// that had started is not run again; without claims a request that is not
/// safe to rerun is acknowledged when it starts (at most once) and a
/// redelivered one is failed as Mistral's executor does. Safe-rerun
/// requests are acknowledged after their result (at least once). Nothing is
/// held unacknowledged past `max_unacked_time`.
///
/// On graceful shutdown (SIGTERM) nothing starts any more: waiting
/// deliveries go back to the queue at once, running actions get the grace
/// period, then are cancelled: a cancelled safe-rerun request goes back to
/// the queue for another worker; any other gets an error result, so the
/// engine does not wait for a heartbeat timeout.
public final class Worker: Service {
    let settings: WorkerSettings
    let router: ActionRouter
    let transport: any WorkerTransport
    let claims: (any ActionStartClaims)?
    let services: ActionServices
    let logger: Logger
    let running = RunningActions()
    let earlyAcknowledgements = EarlyAcknowledgements()
    let recentIDs = RecentUniqueIDs(capacity: 16)
    let startSignal: AsyncStream<Void>
    let startSignalContinuation: AsyncStream<Void>.Continuation
    let statistics = Mutex(WorkerStatistics())
    let publisher: ResultPublisher
    let relayBackoff = Mutex(Backoff(initial: .milliseconds(200), maximum: .seconds(30)))
    /// What it is doing (`/readyz`, systemd's READY/STATUS/WATCHDOG/STOPPING).
    public let status: WorkerStatus
    public let metrics: WorkerMetrics

    /// A worker on RabbitMQ: `listener` consumes, `sender` publishes.
    public convenience init(
        settings: WorkerSettings,
        registry: ActionRegistry,
        codeSourceIDs: Set<String>,
        listener: AMQPConnection,
        sender: AMQPConnection,
        claims: (any ActionStartClaims)? = nil,
        services: ActionServices = ActionServices(),
        status: WorkerStatus = WorkerStatus(),
        metrics: WorkerMetrics = WorkerMetrics(),
        logger: Logger
    ) {
        self.init(
            settings: settings, registry: registry, codeSourceIDs: codeSourceIDs,
            transport: RPCWorkerTransport(settings: settings, listener: listener, sender: sender, logger: logger),
            claims: claims, services: services, status: status, metrics: metrics, logger: logger
        )
    }

    public init(
        settings: WorkerSettings,
        registry: ActionRegistry,
        codeSourceIDs: Set<String>,
        transport: any WorkerTransport,
        claims: (any ActionStartClaims)? = nil,
        services: ActionServices = ActionServices(),
        status: WorkerStatus = WorkerStatus(),
        metrics: WorkerMetrics = WorkerMetrics(),
        logger: Logger
    ) {
        self.settings = settings
        self.status = status
        self.metrics = metrics
        self.router = ActionRouter(registry: registry, codeSourceIDs: codeSourceIDs)
        self.transport = transport
        self.claims = claims
        self.services = services
        self.logger = logger
        self.publisher = ResultPublisher(transport: transport, engineTopic: settings.engineTopic, metrics: metrics, logger: logger)
        (startSignal, startSignalContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Counters since start.
    public var counters: WorkerStatistics { statistics.withLock { $0 } }

    public func run() async throws {
        // RabbitMQ may not be reachable yet (a daemon starting with the host):
        // keep trying until it is, or until the worker is told to stop.
        var incoming: RPCIncomingSequence?
        var backoff = Backoff.reconnecting
        status.enter(.waitingForBroker)
        while incoming == nil {
            do {
                incoming = try await transport.startConsuming(capacity: settings.concurrency)
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully {
                    status.enter(.stopped)
                    return
                }
                status.enter(.waitingForBroker, detail: "\(error)")
                let delay = backoff.next()
                logger.warning("cannot consume the executor topic yet; retrying", metadata: [
                    "error": "\(error)", "retry_in": "\(delay)",
                ])
                // SIGTERM ends the wait at once.
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
            }
        }
        guard let incoming else {
            status.enter(.stopped)
            return
        }
        var modeDescription = "swift-only"
        if case .router(let fallback) = settings.mode { modeDescription = "router, fallback topic \(fallback)" }
        logger.info("worker consuming", metadata: [
            "oslo.exchange": "\(settings.controlExchange)",
            "oslo.topic": "\(settings.executorTopic)",
            "oslo.server": "\(settings.host)",
            "worker.mode": "\(modeDescription)",
            "worker.concurrency": "\(settings.concurrency)",
            "worker.actions": "\(router.registry.descriptors.count)",
            "worker.start_claims": "\(claims != nil)",
        ])
        status.slots(running: 0, capacity: settings.concurrency)
        metrics.slots(used: 0, capacity: settings.concurrency)
        status.enter(.consuming)
        await withTaskGroup(of: Void.self) { group in
            // The transport's own long-running work (the RPC server's consumers).
            group.addTask { await self.transport.run() }
            if let interval = settings.heartbeatInterval {
                let reporter = HeartbeatReporter(
                    transport: transport, engineTopic: settings.engineTopic, interval: interval,
                    running: running, startSignal: startSignal, metrics: metrics, logger: logger
                )
                group.addTask { await reporter.run() }
            }
            await self.process(incoming)
            group.cancelAll()
        }
        startSignalContinuation.finish()
        status.enter(.stopped)
        let totals = counters
        logger.info("worker stopped", metadata: [
            "worker.completed": "\(totals.completed)", "worker.relayed": "\(totals.relayed)",
            "worker.failed": "\(totals.failed)", "worker.returned": "\(totals.returned)",
        ])
    }

    // MARK: - The delivery loop

    enum LoopEvent: Sendable {
        case delivery(RPCIncoming)
        case consumerEnded((any Error)?)
        case finished
        case shutdown
        case graceExpired
        case tick
        /// Time to tell systemd the loop is alive (and the slots).
        case statusTick
    }

    /// One loop owns the slots (``DeliveryStateMachine``): deliveries,
    /// finished requests, SIGTERM, the grace timer and the hold-limit timer
    /// all come to it as events; requests run as child tasks.
    func process(_ incoming: RPCIncomingSequence) async {
        let (events, eventSink) = AsyncStream.makeStream(of: LoopEvent.self)
        var machine = DeliveryStateMachine<UInt64>(capacity: settings.concurrency, holdLimit: settings.maxUnackedTime)
        var held: [UInt64: RPCIncoming] = [:]
        var nextID: UInt64 = 0
        var consumerEnded = false
        var shutdownStarted = false
        let transport = self.transport
        let isCurrent: (UInt64) -> Bool = { id in held[id].map { transport.isCurrent($0) } ?? false }

        // Discarding: a finished request's task is freed at once (a plain
        // task group keeps every finished child until it is awaited).
        await withDiscardingTaskGroup { group in
            group.addTask {
                do {
                    for try await message in incoming { eventSink.yield(.delivery(message)) }
                    eventSink.yield(.consumerEnded(nil))
                } catch {
                    eventSink.yield(.consumerEnded(error))
                }
            }
            group.addTask {
                // Graceful shutdown (SIGTERM/SIGINT through the ServiceGroup).
                try? await gracefulShutdown()
                eventSink.yield(.shutdown)
            }
            let tickEvery = min(settings.maxUnackedTime / 4, .seconds(30))
            group.addTask {
                while (try? await Task.sleep(for: tickEvery)) != nil { eventSink.yield(.tick) }
            }
            // WATCHDOG=1 comes from this loop's events: a hung loop stops it.
            let watchdog = status.notifier.watchdogInterval
            if let statusEvery = watchdog ?? (status.notifier.isEnabled ? .seconds(5) : nil) {
                group.addTask {
                    while (try? await Task.sleep(for: statusEvery)) != nil { eventSink.yield(.statusTick) }
                }
            }

            func perform(_ actions: [DeliveryStateMachine<UInt64>.Action]) {
                for action in actions { perform(action) }
            }
            func perform(_ action: DeliveryStateMachine<UInt64>.Action) {
                switch action {
                case .wait:
                    break
                case .start(let id):
                    guard let message = held[id] else { return }
                    group.addTask {
                        await self.handle(message)
                        eventSink.yield(.finished)
                    }
                    held[id] = nil
                case .giveBack(let id):
                    if let message = held.removeValue(forKey: id) {
                        transport.reject(message, requeue: true)
                        count(\.returned)
                        metrics.returnedToQueue()
                    }
                case .forget(let id):
                    if held.removeValue(forKey: id) != nil {
                        logger.info("not starting a request whose channel closed; the broker redelivers it")
                    }
                }
            }
            func beginShutdown(_ reason: String) {
                guard !shutdownStarted else { return }
                shutdownStarted = true
                let actions = machine.shutdownRequested()
                status.slots(running: machine.running, capacity: settings.concurrency)
                status.enter(.draining)
                logger.info("\(reason): no new requests; finishing running actions", metadata: [
                    "worker.running": "\(machine.running)", "worker.returned_to_queue": "\(actions.count)",
                    "worker.grace_period": "\(settings.shutdownGracePeriod)",
                ])
                perform(actions)
                let grace = settings.shutdownGracePeriod
                group.addTask {
                    await transport.stopConsuming()
                    // The grace period counts from the stop request.
                    if (try? await Task.sleep(for: grace)) != nil { eventSink.yield(.graceExpired) }
                }
            }

            var reportedRunning = 0
            for await event in events {
                switch event {
                case .delivery(let message):
                    nextID += 1
                    held[nextID] = message
                    perform(machine.received(nextID, isCurrent: transport.isCurrent(message), now: .now))
                case .finished:
                    perform(machine.finished(isCurrent: isCurrent))
                case .tick:
                    // Acknowledged between one tick before max_unacked_time and
                    // max_unacked_time: never later (RabbitMQ's consumer_timeout).
                    for entry in earlyAcknowledgements.acknowledge(startedBy: .now - (settings.maxUnackedTime - tickEvery)) {
                        entry.logger.warning("action still running near max_unacked_time; acknowledged its request early", metadata: [
                            "worker.max_unacked_time": "\(settings.maxUnackedTime)",
                        ])
                    }
                    let actions = machine.expire(now: .now, isCurrent: isCurrent)
                    if actions.contains(where: { if case .giveBack = $0 { true } else { false } }) {
                        logger.warning("requests waited for a free slot longer than max_unacked_time; returned them to the queue", metadata: [
                            "worker.returned_to_queue": "\(actions.count)",
                        ])
                    }
                    perform(actions)
                case .shutdown:
                    beginShutdown("shutting down")
                case .consumerEnded(let error):
                    consumerEnded = true
                    if let error {
                        logger.error("the request consumer stopped", metadata: ["error": "\(error)"])
                    }
                    beginShutdown("the request consumer ended")
                case .graceExpired:
                    if machine.running > 0 {
                        logger.warning("grace period over: cancelling running actions", metadata: ["worker.running": "\(machine.running)"])
                    }
                    // Cancels the running requests (and the helper loops).
                    group.cancelAll()
                case .statusTick:
                    status.refresh(watchdog: watchdog != nil)
                }
                if machine.running != reportedRunning {
                    reportedRunning = machine.running
                    status.slots(running: reportedRunning, capacity: settings.concurrency)
                    metrics.slots(used: reportedRunning, capacity: settings.concurrency)
                }
                if consumerEnded && machine.isDrained { break }
            }
            group.cancelAll()
        }
    }

    // MARK: - Acknowledgements

    /// Acknowledges a delivery once; remembers its `_unique_id` only now.
    final class DeliveryHandle: Sendable {
        let message: RPCIncoming
        let transport: any WorkerTransport
        let uniqueID: String?
        let recentIDs: RecentUniqueIDs
        private let done = Mutex(false)

        init(message: RPCIncoming, transport: any WorkerTransport, uniqueID: String?, recentIDs: RecentUniqueIDs) {
            self.message = message
            self.transport = transport
            self.uniqueID = uniqueID
            self.recentIDs = recentIDs
        }

        private func first() -> Bool {
            done.withLock { done in
                defer { done = true }
                return !done
            }
        }

        var isSettled: Bool { done.withLock { $0 } }

        /// Acknowledges (once); true if this call did it.
        @discardableResult
        func acknowledge() -> Bool {
            guard first() else { return false }
            transport.acknowledge(message)
            if let uniqueID { recentIDs.insert(uniqueID) }
            return true
        }

        /// Gives it back to the queue (once); true if this call did it.
        @discardableResult
        func giveBack() -> Bool {
            guard first() else { return false }
            transport.reject(message, requeue: true)
            return true
        }
    }

    // MARK: - One request

    func handle(_ message: RPCIncoming) async {
        let request: RPCRequest
        switch message.message {
        case .failure(let error):
            let handle = DeliveryHandle(message: message, transport: transport, uniqueID: nil, recentIDs: recentIDs)
            if case .router(let fallbackTopic) = settings.mode {
                // Python's executor may read what we cannot (its json is more
                // lenient): hand the message over untouched.
                logger.warning("relaying a message this worker cannot read to the fallback topic", metadata: [
                    "error": "\(error)", "amqp.body_size": "\(message.delivery.body.count)",
                ])
                await relay(handle, name: "(unreadable message)", label: WorkerMetrics.unknownAction, fallbackTopic: fallbackTopic, failureTarget: nil)
                return
            }
            handle.acknowledge()
            count(\.failed)
            metrics.request(action: WorkerMetrics.unknownAction, outcome: .unreadable)
            logger.error("dropped an unreadable message", metadata: [
                "error": "\(error)", "amqp.routing_key": "\(message.delivery.routingKey)",
                "amqp.body_size": "\(message.delivery.body.count)",
            ])
            return
        case .success(let decoded):
            request = decoded
        }
        let handle = DeliveryHandle(message: message, transport: transport, uniqueID: request.uniqueID, recentIDs: recentIDs)
        if let uniqueID = request.uniqueID, recentIDs.contains(uniqueID) {
            handle.acknowledge()
            metrics.request(action: WorkerMetrics.unknownAction, outcome: .skipped)
            logger.warning("dropped a duplicate message", metadata: ["oslo.unique_id": "\(uniqueID)"])
            return
        }
        guard request.method == RunActionRequest.method else {
            handle.acknowledge()
            count(\.failed)
            metrics.request(action: WorkerMetrics.unknownAction, outcome: .rejected)
            logger.error("unsupported RPC method", metadata: ["oslo.method": "\(request.method)"])
            if request.isCall {
                await reply(
                    to: request,
                    failure: RemoteFailure(
                        className: "NoSuchMethod", module: "oslo_messaging.rpc.dispatcher",
                        message: "Endpoint does not support RPC method \(request.method)"
                    )
                )
            }
            return
        }
        let runRequest: RunActionRequest
        do {
            runRequest = try RunActionRequest(arguments: request.arguments)
        } catch {
            let executionID = (try? request.mistralArgument("action_ex_id"))??.stringValue
            if case .router(let fallbackTopic) = settings.mode {
                logger.warning("relaying a run_action request this worker cannot read to the fallback topic", metadata: [
                    "error": "\(error)", "oslo.unique_id": "\(request.uniqueID ?? "-")",
                ])
                await relay(
                    handle, name: "(unreadable run_action)", label: WorkerMetrics.unknownAction, fallbackTopic: fallbackTopic,
                    failureTarget: (request, executionID)
                )
                return
            }
            handle.acknowledge()
            count(\.failed)
            metrics.request(action: WorkerMetrics.unknownAction, outcome: .unreadable)
            let text = FailureMessages.malformedRequest(detail: error.description)
            logger.error("malformed run_action", metadata: ["error": "\(error)", "action.execution_id": "\(executionID ?? "-")"])
            await deliver(.failure(text), action: "(unreadable run_action)", actionExecutionID: executionID, request: request)
            return
        }
        switch router.route(runRequest.action) {
        case .swift(let descriptor, let input):
            await execute(descriptor, input: input, runRequest: runRequest, request: request, handle: handle)
        case .foreign(let name):
            switch settings.mode {
            case .swiftOnly:
                handle.acknowledge()
                count(\.failed)
                metrics.request(action: WorkerMetrics.otherAction, outcome: .rejected)
                logger.warning("refused an action this worker does not implement (swift-only mode)", metadata: ["action.class": "\(name)"])
                await deliver(.failure(FailureMessages.swiftOnly(action: name)), action: name, actionExecutionID: runRequest.actionExecutionID, request: request)
            case .router(let fallbackTopic):
                await relay(
                    handle, name: name, label: WorkerMetrics.otherAction, fallbackTopic: fallbackTopic,
                    failureTarget: (request, runRequest.actionExecutionID)
                )
            }
        }
    }

    /// Asks the claim store whether the action execution started before
    /// (recording its start now), retrying while a redelivered request needs
    /// the answer.
    func claimStart(executionID: String?, safeRerun: Bool, redelivered: Bool, logger: Logger) async -> DeliveryRules.Start {
        guard !safeRerun else { return .run }
        guard let claims, let executionID else {
            return DeliveryRules.start(safeRerun: false, redelivered: redelivered, claim: .disabled)
        }
        var backoff = Backoff.reconnecting
        while true {
            let claim: DeliveryRules.Claim
            do {
                claim = try await claims.claim([executionID]).contains(executionID) ? .startedBefore : .firstStart
            } catch {
                claim = .unavailable
                logger.warning("cannot record the action's start in the database", metadata: [
                    "error": "\(error)", "amqp.redelivered": "\(redelivered)",
                ])
            }
            let decision = DeliveryRules.start(safeRerun: false, redelivered: redelivered, claim: claim)
            guard decision == .retryClaim, !Task.isCancelled else { return decision }
            try? await Task.sleep(for: backoff.next())
        }
    }

    func execute(
        _ descriptor: ActionDescriptor,
        input: JSONObject,
        runRequest: RunActionRequest,
        request: RPCRequest,
        handle: DeliveryHandle
    ) async {
        let actionName = descriptor.qualifiedName(prefix: settings.actionPrefix)
        let executionID = runRequest.actionExecutionID
        var actionLoggerBuilder = logger
        actionLoggerBuilder[metadataKey: "action.name"] = "\(actionName)"
        if let executionID { actionLoggerBuilder[metadataKey: "action.execution_id"] = "\(executionID)" }
        let execution = ExecutionContext(json: runRequest.executionContext)
        if let workflowExecutionID = execution.workflowExecutionID {
            actionLoggerBuilder[metadataKey: "workflow.execution_id"] = "\(workflowExecutionID)"
        }
        if let taskExecutionID = execution.taskExecutionID {
            actionLoggerBuilder[metadataKey: "task.execution_id"] = "\(taskExecutionID)"
        }
        // oslo.request_id, mistral.root_execution_id (the context's
        // root_execution_id), user and project: set once for the whole action.
        for (key, value) in request.context.loggingMetadata { actionLoggerBuilder[metadataKey: key] = value }
        let actionLogger = actionLoggerBuilder

        let redelivered = handle.message.delivery.redelivered || request.context.redelivered
        switch await claimStart(executionID: executionID, safeRerun: runRequest.safeRerun, redelivered: redelivered, logger: actionLogger) {
        case .run, .retryClaim:
            break
        case .skipStartedBefore:
            count(\.skipped)
            metrics.request(action: actionName, outcome: .skipped)
            await settleStartedBefore(handle, executionID: executionID, logger: actionLogger)
            return
        case .failNotRerunnable:
            handle.acknowledge()
            count(\.failed)
            metrics.request(action: actionName, outcome: .rejected)
            actionLogger.warning("not rerunning a redelivered request (safe-rerun is false)")
            await deliver(.failure(FailureMessages.notRerunnable(action: actionName)), action: actionName, actionExecutionID: executionID, request: request)
            return
        }
        let acknowledgement = DeliveryRules.acknowledgement(
            safeRerun: runRequest.safeRerun, hasResultTarget: executionID != nil, claimsEnabled: claims != nil
        )
        if acknowledgement == .atStart { handle.acknowledge() }
        // Tracked even without heartbeats: a redelivered copy of this
        // request waits for it (see settleStartedBefore).
        if let executionID {
            running.started(executionID)
            if settings.heartbeatInterval != nil { startSignalContinuation.yield() }
        }
        defer { if let executionID { running.finished(executionID) } }

        let actionContext = ActionContext(
            actionName: actionName, security: request.context, execution: execution,
            logger: actionLogger, services: services
        )
        let clock = ContinuousClock()
        let started = clock.now
        actionLogger.debug("running action")
        // A request acknowledged only after its result is acknowledged early
        // if its action runs for nearly max_unacked_time (the worker's tick,
        // see EarlyAcknowledgements).
        if acknowledgement == .afterResult { earlyAcknowledgements.watch(handle, logger: actionLogger) }
        let outcome = await ActionRunner.run(descriptor, input: input, context: actionContext, timeout: runRequest.timeout)
        if acknowledgement == .afterResult { earlyAcknowledgements.stopWatching(handle) }
        let elapsed = clock.now - started
        metrics.actionDuration(action: actionName, elapsed)
        let result: ActionResult
        switch outcome {
        case .completed(let completed):
            result = completed
            metrics.request(action: actionName, outcome: completed.isError ? .failed : .succeeded)
        case .timedOut(let timedOut):
            result = timedOut
            metrics.request(action: actionName, outcome: .timedOut)
        case .cancelled:
            metrics.request(action: actionName, outcome: .cancelled)
            if runRequest.safeRerun && handle.giveBack() {
                // Shutdown before the end: give the request back for another worker.
                count(\.returned)
                actionLogger.warning("action cancelled by shutdown; its safe-rerun request was returned to the queue")
                return
            }
            result = .failure(FailureMessages.shutdown(action: actionName))
        }
        if result.isError { count(\.failed) } else { count(\.completed) }
        actionLogger.info(result.isError ? "action failed" : "action succeeded", metadata: [
            "action.duration_ms": "\(elapsed.milliseconds)",
            "action.error": result.isError ? "\(Self.summary(of: result.error))" : nil,
        ].compactMapValues { $0 })
        if await deliver(result, action: actionName, actionExecutionID: executionID, request: request) {
            handle.acknowledge()
        } else if handle.giveBack() {
            // The worker stopped before the broker took the result: the
            // request goes back, and whoever gets it finds the start claim
            // (or, safe to rerun, runs it again) instead of it being lost.
            count(\.returned)
        }
    }

    /// Publishes a request byte for byte to the fallback topic, where a
    /// Python executor answers the engine (or the caller's reply queue)
    /// itself. When no queue is bound there, the engine is told through
    /// `failureTarget` (the request and its action execution id), if known.
    /// When the broker does not confirm the publish, the request goes back
    /// to the queue (after a pause, so that a broken sender does not spin)
    /// and is not remembered as seen: it is relayed again, never dropped.
    func relay(
        _ handle: DeliveryHandle, name: String, label: String, fallbackTopic: String,
        failureTarget: (request: RPCRequest, actionExecutionID: String?)?
    ) async {
        do {
            let clock = ContinuousClock()
            let started = clock.now
            let outcome = try await transport.forward(handle.message, toTopic: fallbackTopic)
            metrics.publishConfirmed(after: clock.now - started)
            relayBackoff.withLock { $0.reset() }
            handle.acknowledge()
            switch outcome {
            case .acknowledged:
                count(\.relayed)
                metrics.request(action: label, outcome: .relayed)
                logger.debug("relayed a request to the fallback topic", metadata: ["action.class": "\(name)", "oslo.topic": "\(fallbackTopic)"])
            case .returned(let code, let text):
                count(\.failed)
                metrics.request(action: label, outcome: .rejected)
                metrics.relayReturned()
                logger.error("could not relay a request: no queue bound to the fallback topic", metadata: [
                    "action.class": "\(name)", "oslo.topic": "\(fallbackTopic)", "amqp.reply": "\(code) \(text)",
                ])
                if let failureTarget {
                    await deliver(
                        .failure(FailureMessages.unroutable(action: name, fallbackTopic: fallbackTopic)),
                        action: name, actionExecutionID: failureTarget.actionExecutionID, request: failureTarget.request
                    )
                }
            }
        } catch {
            logger.warning("relay not confirmed; returning the request to the queue", metadata: [
                "action.class": "\(name)", "error": "\(error)",
            ])
            // One backoff for every relay of this worker: while the fallback
            // queue refuses (full, or the broker blocks), relays slow down
            // together instead of spinning through the queue.
            let pause = relayBackoff.withLock { $0.next() }
            try? await Task.sleep(for: pause)
            if handle.giveBack() {
                count(\.returned)
                metrics.returnedToQueue()
            }
        }
    }

    /// A redelivered request whose action started before (its start claim
    /// says so) and must not run again. Its delivery is acknowledged only
    /// once someone will answer the engine, so that a worker dying in
    /// between leaves it in the queue rather than losing it:
    ///
    /// - when this worker runs that action itself (its channel closed and
    ///   the broker gave the request back to it), once the running one's
    ///   result is sent;
    /// - otherwise (another worker runs it, or the one that did died), once
    ///   a heartbeat for it reached the engine: the worker that started it
    ///   may have died before its first heartbeat, and this one starts the
    ///   engine's heartbeat check, which fails the action within
    ///   check_interval × max_missed_heartbeats unless that worker still
    ///   reports it (instead of first_heartbeat_timeout, an hour).
    ///
    /// On shutdown the delivery goes back to the queue.
    func settleStartedBefore(_ handle: DeliveryHandle, executionID: String?, logger: Logger) async {
        if let executionID, running.contains(executionID) {
            logger.info("a redelivered copy of a request this worker is running; acknowledged once its result is sent")
            await running.waitUntilFinished(executionID)
            // Stopping: its result may not have gone out; given back, the
            // copy costs at most one harmless heartbeat elsewhere.
            if Task.isCancelled { handle.giveBack() } else { handle.acknowledge() }
            return
        }
        logger.warning("not running a redelivered request again: it started before (safe-rerun is false); the worker running it, or the engine's heartbeat check, completes it")
        guard let executionID, settings.heartbeatInterval != nil else {
            handle.acknowledge()
            return
        }
        var backoff = Backoff.reconnecting
        while await !heartbeatOnce(executionID) {
            guard !Task.isCancelled, (try? await Task.sleep(for: backoff.next())) != nil else {
                handle.giveBack()
                return
            }
        }
        handle.acknowledge()
    }

    /// Reports one running action to the engine (see ``settleStartedBefore(_:executionID:logger:)``);
    /// true once the engine's queue took the report.
    func heartbeatOnce(_ executionID: String) async -> Bool {
        let reporter = HeartbeatReporter(
            transport: transport, engineTopic: settings.engineTopic, interval: .seconds(1),
            running: running, startSignal: AsyncStream { $0.finish() }, metrics: metrics, logger: logger
        )
        return await reporter.send([executionID])
    }

    // MARK: - Results

    /// Sends a result: `on_action_complete` to the engine for a named action
    /// execution (see ``ResultPublisher``), or the reply of a synchronous call.
    /// False only when a completion was abandoned because the worker stops.
    @discardableResult
    func deliver(_ result: ActionResult, action: String, actionExecutionID: String?, request: RPCRequest) async -> Bool {
        if let actionExecutionID {
            return await publisher.sendCompletion(
                result, action: action, actionExecutionID: actionExecutionID, context: request.context
            ) != .abandoned
        } else if request.isCall {
            do {
                let reply = try RPCReply(mistralResult: try result.serialized(), messageID: request.messageID ?? "")
                try await transport.reply(to: request, with: reply)
            } catch {
                logger.error("could not reply to a synchronous run-action", metadata: ["error": "\(error)"])
            }
        } else {
            logger.warning("a run_action cast without action_ex_id: its result has nowhere to go")
        }
        return true
    }

    func reply(to request: RPCRequest, failure: RemoteFailure) async {
        do {
            try await transport.reply(to: request, with: RPCReply(failure: failure, messageID: request.messageID ?? ""))
        } catch {
            logger.error("could not send a failure reply", metadata: ["error": "\(error)"])
        }
    }

    // MARK: - Helpers

    func count(_ counter: WritableKeyPath<WorkerStatistics, Int>) {
        statistics.withLock { $0[keyPath: counter] += 1 }
    }

    static func summary(of error: JSON) -> String {
        let text = error.stringValue ?? error.pythonText
        return text.count > 300 ? String(text.prefix(297)) + "..." : text
    }
}

/// What a worker did since it started.
public struct WorkerStatistics: Sendable, Equatable {
    public var completed = 0
    public var failed = 0
    public var relayed = 0
    /// Deliveries given back to the queue unstarted (shutdown, a relay not
    /// confirmed, a wait past max_unacked_time, a cancelled safe-rerun action).
    public var returned = 0
    /// Redelivered requests not run again because they had started before.
    public var skipped = 0
}

/// The last few `_unique_id`s acknowledged, as oslo's RPC server keeps to
/// drop messages delivered twice. An id is remembered only once its
/// delivery is acknowledged: a request given back to the queue (a relay
/// that failed, a shutdown) is not a duplicate when it comes again.
final class RecentUniqueIDs: Sendable {
    private let state: Mutex<(ids: [String], next: Int)>
    private let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        self.state = Mutex(([], 0))
    }

    /// Whether `id` is among the recent ones.
    func contains(_ id: String) -> Bool {
        state.withLock { $0.ids.contains(id) }
    }

    /// Records `id`; false when it was among the recent ones.
    @discardableResult
    func insert(_ id: String) -> Bool {
        state.withLock { state in
            if state.ids.contains(id) { return false }
            if state.ids.count < capacity {
                state.ids.append(id)
            } else {
                state.ids[state.next] = id
                state.next = (state.next + 1) % capacity
            }
            return true
        }
    }
}

extension ExecutionContext {
    package init(json: JSONObject) {
        self.init(
            workflowExecutionID: json["workflow_execution_id"]?.stringValue,
            taskExecutionID: json["task_execution_id"]?.stringValue,
            actionExecutionID: json["action_execution_id"]?.stringValue,
            workflowName: json["workflow_name"]?.stringValue,
            callbackURL: json["callback_url"]?.stringValue
        )
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
