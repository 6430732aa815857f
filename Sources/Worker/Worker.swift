import AMQPClient
import ActionKit
import Logging
import MistralProtocol
import OrderedJSON
import OsloMessaging
import ServiceLifecycle
import Synchronization

/// The executor: consumes Mistral's `run_action` requests, runs the Swift
/// actions it ships, relays the others (router mode) or fails them
/// (swift-only mode), reports heartbeats and sends results to the engine.
///
/// Delivery (DESIGN §4): a request that is not safe to rerun is acknowledged
/// when its action starts (at-most-once, as Mistral's executor); a safe-rerun
/// request only once its result is confirmed by the broker (at-least-once),
/// or after `max_unacked_time` at the latest. Deliveries wait unacknowledged
/// only while a slot is taken, so in-flight work is bounded by the
/// concurrency (= prefetch count) and nothing queues up in memory.
///
/// On graceful shutdown the worker stops consuming, lets running actions
/// finish for the grace period, then cancels them: a cancelled safe-rerun
/// request goes back to the queue for another worker; any other gets an
/// error result, so the engine does not wait for a heartbeat timeout.
public final class Worker: Service {
    let settings: WorkerSettings
    let router: ActionRouter
    let listener: AMQPConnection
    let sender: AMQPConnection
    let services: ActionServices
    let logger: Logger
    let running = RunningActions()
    let recentIDs = RecentUniqueIDs(capacity: 16)
    let startSignal: AsyncStream<Void>
    let startSignalContinuation: AsyncStream<Void>.Continuation
    let statistics = Mutex(WorkerStatistics())

    public init(
        settings: WorkerSettings,
        registry: ActionRegistry,
        codeSourceIDs: Set<String>,
        listener: AMQPConnection,
        sender: AMQPConnection,
        services: ActionServices = ActionServices(),
        logger: Logger
    ) {
        self.settings = settings
        self.router = ActionRouter(registry: registry, codeSourceIDs: codeSourceIDs)
        self.listener = listener
        self.sender = sender
        self.services = services
        self.logger = logger
        (startSignal, startSignalContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Counters since start.
    public var counters: WorkerStatistics { statistics.withLock { $0 } }

    public func run() async throws {
        let server = RPCServer(
            connection: listener,
            replyConnection: sender,
            target: RPCTarget(exchange: settings.controlExchange, topic: settings.executorTopic, server: settings.host),
            options: settings.topology,
            prefetch: UInt16(settings.concurrency),
            logger: logger
        )
        let client = RPCClient(
            connection: sender,
            exchange: settings.controlExchange,
            options: settings.topology,
            responseTimeout: settings.responseTimeout,
            logger: logger
        )
        // RabbitMQ may not be reachable yet (a daemon starting with the host):
        // keep trying until it is, or until the worker is told to stop.
        var incoming: RPCIncomingSequence?
        var delay = Duration.seconds(1)
        while incoming == nil {
            do {
                incoming = try await server.start()
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { return }
                logger.warning("cannot consume the executor topic yet; retrying", metadata: [
                    "error": "\(error)", "retry_in": "\(delay)",
                ])
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(30))
            }
        }
        guard let incoming else { return }
        var modeDescription = "swift-only"
        if case .router(let fallback) = settings.mode { modeDescription = "router, fallback topic \(fallback)" }
        logger.info("worker consuming", metadata: [
            "oslo.exchange": "\(settings.controlExchange)",
            "oslo.topic": "\(settings.executorTopic)",
            "oslo.server": "\(settings.host)",
            "worker.mode": "\(modeDescription)",
            "worker.concurrency": "\(settings.concurrency)",
            "worker.actions": "\(router.registry.descriptors.count)",
        ])
        let context = HandlingContext(server: server, client: client)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                // Graceful shutdown (SIGTERM/SIGINT through the ServiceGroup):
                // stop consuming; the processing loop then drains.
                try? await gracefulShutdown()
                self.logger.info("shutting down: no new requests; finishing running actions", metadata: [
                    "worker.running": "\(self.running.count)",
                    "worker.grace_period": "\(self.settings.shutdownGracePeriod)",
                ])
                await server.stop()
            }
            if let interval = settings.heartbeatInterval {
                group.addTask { await self.reportStarts(client: client) }
                group.addTask { await self.reportPeriodically(every: interval, client: client) }
            }
            await self.process(incoming, context: context)
            group.cancelAll()
        }
        startSignalContinuation.finish()
        let totals = counters
        logger.info("worker stopped", metadata: [
            "worker.completed": "\(totals.completed)", "worker.relayed": "\(totals.relayed)",
            "worker.failed": "\(totals.failed)",
        ])
    }

    struct HandlingContext: Sendable {
        let server: RPCServer
        let client: RPCClient
    }

    enum ChildResult: Sendable {
        case handled
        case graceExpired
    }

    /// Keeps at most `concurrency` requests in hand; drains on shutdown.
    func process(_ incoming: RPCIncomingSequence, context: HandlingContext) async {
        await withTaskGroup(of: ChildResult.self) { group in
            var inFlight = 0
            do {
                for try await message in incoming {
                    while inFlight >= settings.concurrency {
                        _ = await group.next()
                        inFlight -= 1
                    }
                    inFlight += 1
                    group.addTask {
                        await self.handle(message, context: context)
                        return .handled
                    }
                }
            } catch {
                logger.error("the request consumer stopped", metadata: ["error": "\(error)"])
            }
            guard inFlight > 0 else { return }
            let grace = settings.shutdownGracePeriod
            group.addTask {
                try? await Task.sleep(for: grace)
                return .graceExpired
            }
            while inFlight > 0, let result = await group.next() {
                switch result {
                case .handled:
                    inFlight -= 1
                case .graceExpired:
                    logger.warning("grace period over: cancelling running actions", metadata: ["worker.running": "\(inFlight)"])
                    group.cancelAll()
                }
            }
            group.cancelAll()
        }
    }

    // MARK: - One request

    func handle(_ message: RPCIncoming, context: HandlingContext) async {
        let request: RPCRequest
        switch message.message {
        case .failure(let error):
            if case .router(let fallbackTopic) = settings.mode {
                // Python's executor may read what we cannot (its json is more
                // lenient): hand the message over untouched.
                logger.warning("relaying a message this worker cannot read to the fallback topic", metadata: [
                    "error": "\(error)", "amqp.body_size": "\(message.delivery.body.count)",
                ])
                await relay(message, name: "(unreadable message)", fallbackTopic: fallbackTopic, failureTarget: nil, context: context)
                return
            }
            context.server.acknowledge(message)
            count(\.failed)
            logger.error("dropped an unreadable message", metadata: [
                "error": "\(error)", "amqp.routing_key": "\(message.delivery.routingKey)",
                "amqp.body_size": "\(message.delivery.body.count)",
            ])
            return
        case .success(let decoded):
            request = decoded
        }
        if let uniqueID = request.uniqueID, !recentIDs.insert(uniqueID) {
            context.server.acknowledge(message)
            logger.warning("dropped a duplicate message", metadata: ["oslo.unique_id": "\(uniqueID)"])
            return
        }
        guard request.method == RunActionRequest.method else {
            context.server.acknowledge(message)
            count(\.failed)
            logger.error("unsupported RPC method", metadata: ["oslo.method": "\(request.method)"])
            if request.isCall {
                await reply(
                    to: request,
                    failure: RemoteFailure(
                        className: "NoSuchMethod", module: "oslo_messaging.rpc.dispatcher",
                        message: "Endpoint does not support RPC method \(request.method)"
                    ),
                    context: context
                )
            }
            return
        }
        let runRequest: RunActionRequest
        do {
            runRequest = try RunActionRequest(arguments: request.arguments)
        } catch {
            if case .router(let fallbackTopic) = settings.mode {
                logger.warning("relaying a run_action request this worker cannot read to the fallback topic", metadata: [
                    "error": "\(error)", "oslo.unique_id": "\(request.uniqueID ?? "-")",
                ])
                let executionID = (try? request.mistralArgument("action_ex_id"))??.stringValue
                await relay(
                    message, name: "(unreadable run_action)", fallbackTopic: fallbackTopic,
                    failureTarget: (request, executionID), context: context
                )
                return
            }
            context.server.acknowledge(message)
            count(\.failed)
            let text = FailureMessages.malformedRequest(detail: error.description)
            let executionID = (try? request.mistralArgument("action_ex_id"))??.stringValue
            logger.error("malformed run_action", metadata: ["error": "\(error)", "action.execution_id": "\(executionID ?? "-")"])
            await deliver(.failure(text), actionExecutionID: executionID, request: request, context: context)
            return
        }
        switch router.route(runRequest.action) {
        case .swift(let descriptor, let input):
            await execute(descriptor, input: input, runRequest: runRequest, request: request, message: message, context: context)
        case .foreign(let name):
            await handleForeign(name: name, runRequest: runRequest, request: request, message: message, context: context)
        }
    }

    func execute(
        _ descriptor: ActionDescriptor,
        input: JSONObject,
        runRequest: RunActionRequest,
        request: RPCRequest,
        message: RPCIncoming,
        context: HandlingContext
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
        if let requestID = request.context.requestID { actionLoggerBuilder[metadataKey: "oslo.request_id"] = "\(requestID)" }

        // Mistral's guard: a redelivered request that is not safe to rerun is not run.
        if request.context.redelivered && !runRequest.safeRerun {
            context.server.acknowledge(message)
            actionLoggerBuilder.warning("not rerunning a redelivered request (safe-rerun is false)")
            await deliver(.failure(FailureMessages.notRerunnable(action: actionName)), actionExecutionID: executionID, request: request, context: context)
            return
        }
        let acknowledgeLate = runRequest.safeRerun && executionID != nil
        let acknowledged = Mutex(false)
        let acknowledgeOnce: @Sendable () -> Bool = {
            let first = acknowledged.withLock { done in
                defer { done = true }
                return !done
            }
            if first { context.server.acknowledge(message) }
            return first
        }
        if !acknowledgeLate { _ = acknowledgeOnce() }
        if let executionID, settings.heartbeatInterval != nil {
            running.started(executionID)
            startSignalContinuation.yield()
        }
        defer { if let executionID { running.finished(executionID) } }

        let actionLogger = actionLoggerBuilder
        let actionContext = ActionContext(
            actionName: actionName, security: request.context, execution: execution,
            logger: actionLogger, services: services
        )
        let clock = ContinuousClock()
        let started = clock.now
        actionLogger.debug("running action")
        let maxUnacked = settings.maxUnackedTime
        let outcome = await withTaskGroup(of: ActionRunner.Outcome?.self) { group in
            group.addTask {
                await ActionRunner.run(descriptor, input: input, context: actionContext, timeout: runRequest.timeout)
            }
            if acknowledgeLate {
                group.addTask {
                    // Never hold the delivery past RabbitMQ's consumer timeout.
                    guard (try? await Task.sleep(for: maxUnacked)) != nil else { return nil }
                    if acknowledgeOnce() {
                        actionLogger.warning("safe-rerun action still running after max_unacked_time; acknowledged its request early")
                    }
                    return nil
                }
            }
            var outcome = ActionRunner.Outcome.cancelled
            for await result in group {
                if let result {
                    outcome = result
                    group.cancelAll()
                }
            }
            return outcome
        }
        let elapsed = clock.now - started
        let result: ActionResult
        switch outcome {
        case .completed(let completed):
            result = completed
        case .timedOut(let timedOut):
            result = timedOut
        case .cancelled:
            if acknowledgeLate && acknowledged.withLock({ !$0 }) {
                // Shutdown before the end: give the request back for another worker.
                acknowledged.withLock { $0 = true }
                context.server.reject(message, requeue: true)
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
        await deliver(result, actionExecutionID: executionID, request: request, context: context)
        if acknowledgeLate { _ = acknowledgeOnce() }
    }

    func handleForeign(name: String, runRequest: RunActionRequest, request: RPCRequest, message: RPCIncoming, context: HandlingContext) async {
        switch settings.mode {
        case .swiftOnly:
            context.server.acknowledge(message)
            count(\.failed)
            logger.warning("refused an action this worker does not implement (swift-only mode)", metadata: ["action.class": "\(name)"])
            await deliver(.failure(FailureMessages.swiftOnly(action: name)), actionExecutionID: runRequest.actionExecutionID, request: request, context: context)
        case .router(let fallbackTopic):
            await relay(
                message, name: name, fallbackTopic: fallbackTopic,
                failureTarget: (request, runRequest.actionExecutionID), context: context
            )
        }
    }

    /// Publishes a request byte for byte to the fallback topic, where a
    /// Python executor answers the engine (or the caller's reply queue)
    /// itself. When no queue is bound there, the engine is told through
    /// `failureTarget` (the request and its action execution id), if known.
    func relay(
        _ message: RPCIncoming, name: String, fallbackTopic: String,
        failureTarget: (request: RPCRequest, actionExecutionID: String?)?, context: HandlingContext
    ) async {
        let delivery = message.delivery
        do {
            // Byte for byte: the Python executor answers the engine (or the
            // caller's reply queue) itself.
            let outcome = try await sender.publish(
                body: delivery.body, exchange: settings.controlExchange, routingKey: fallbackTopic,
                properties: delivery.properties, mandatory: true
            )
            context.server.acknowledge(message)
            switch outcome {
            case .acknowledged:
                count(\.relayed)
                logger.debug("relayed a request to the fallback topic", metadata: ["action.class": "\(name)", "oslo.topic": "\(fallbackTopic)"])
            case .returned(let code, let text):
                count(\.failed)
                logger.error("could not relay a request: no queue bound to the fallback topic", metadata: [
                    "action.class": "\(name)", "oslo.topic": "\(fallbackTopic)", "amqp.reply": "\(code) \(text)",
                ])
                if let failureTarget {
                    await deliver(
                        .failure(FailureMessages.unroutable(action: name, fallbackTopic: fallbackTopic)),
                        actionExecutionID: failureTarget.actionExecutionID, request: failureTarget.request, context: context
                    )
                }
            }
        } catch {
            // Not confirmed: the relay may not have happened. Give the request
            // back to the queue (after a pause, so a broken sender does not spin).
            logger.warning("relay not confirmed; returning the request to the queue", metadata: [
                "action.class": "\(name)", "error": "\(error)",
            ])
            try? await Task.sleep(for: .seconds(1))
            context.server.reject(message, requeue: true)
        }
    }

    // MARK: - Results

    /// Sends a result: `on_action_complete` to the engine for a named action
    /// execution (retried until the broker confirms it), or the reply of a
    /// synchronous call.
    func deliver(_ result: ActionResult, actionExecutionID: String?, request: RPCRequest, context: HandlingContext) async {
        if let actionExecutionID {
            await sendCompletion(result, actionExecutionID: actionExecutionID, requestContext: request.context, client: context.client)
        } else if request.isCall {
            do {
                let reply = try RPCReply(mistralResult: try result.serialized(), messageID: request.messageID ?? "")
                try await context.server.reply(to: request, with: reply)
            } catch {
                logger.error("could not reply to a synchronous run-action", metadata: ["error": "\(error)"])
            }
        } else {
            logger.warning("a run_action cast without action_ex_id: its result has nowhere to go")
        }
    }

    func sendCompletion(_ result: ActionResult, actionExecutionID: String, requestContext: RequestContext, client: RPCClient) async {
        let completion: RPCRequest
        do {
            completion = try RPCRequest(
                method: EngineMethods.onActionComplete,
                mistralArguments: try EngineMethods.onActionCompleteArguments(actionExecutionID: actionExecutionID, result: result),
                context: requestContext
            )
        } catch {
            // Only a non-finite number in the result can fail to encode.
            logger.error("could not encode a result; sending an error instead", metadata: ["error": "\(error)"])
            await sendCompletion(.failure("the action's result could not be encoded as JSON: \(error)"), actionExecutionID: actionExecutionID, requestContext: requestContext, client: client)
            return
        }
        var delay = Duration.milliseconds(200)
        var attempt = 1
        while true {
            do {
                try await client.cast(completion, topic: settings.engineTopic)
                return
            } catch {
                if Task.isCancelled {
                    logger.error("result not sent: the worker stopped while RabbitMQ was unreachable; the engine will fail the action when its heartbeats stop", metadata: [
                        "action.execution_id": "\(actionExecutionID)", "error": "\(error)",
                    ])
                    return
                }
                logger.warning("sending a result failed; retrying", metadata: [
                    "action.execution_id": "\(actionExecutionID)", "error": "\(error)", "attempt": "\(attempt)",
                ])
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
                attempt += 1
            }
        }
    }

    func reply(to request: RPCRequest, failure: RemoteFailure, context: HandlingContext) async {
        do {
            try await context.server.reply(to: request, with: RPCReply(failure: failure, messageID: request.messageID ?? ""))
        } catch {
            logger.error("could not send a failure reply", metadata: ["error": "\(error)"])
        }
    }

    // MARK: - Heartbeats

    /// Reports newly started actions, coalescing starts that come together.
    func reportStarts(client: RPCClient) async {
        for await _ in startSignal {
            // Let starts that arrive together share one message.
            try? await Task.sleep(for: .milliseconds(20))
            let ids = running.takeNewlyStarted()
            if !ids.isEmpty { await sendHeartbeat(ids, client: client) }
            if Task.isCancelled { return }
        }
    }

    /// Reports every running action every `check_interval`.
    func reportPeriodically(every interval: Duration, client: RPCClient) async {
        while true {
            do { try await Task.sleep(for: interval) } catch { return }
            let ids = running.all
            if !ids.isEmpty { await sendHeartbeat(ids, client: client) }
        }
    }

    func sendHeartbeat(_ ids: [String], client: RPCClient) async {
        do {
            let request = try RPCRequest(
                method: EngineMethods.reportRunningActions,
                mistralArguments: EngineMethods.reportRunningActionsArguments(actionExecutionIDs: ids),
                context: RequestContext.mistralAdmin(requestID: MessageID.generateRequestID())
            )
            try await client.cast(request, topic: settings.engineTopic)
            logger.trace("reported running actions", metadata: ["heartbeat.count": "\(ids.count)"])
        } catch {
            logger.warning("could not report running actions", metadata: ["error": "\(error)", "heartbeat.count": "\(ids.count)"])
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
}

/// The last few `_unique_id`s seen, as oslo's RPC server keeps to drop
/// messages delivered twice.
final class RecentUniqueIDs: Sendable {
    private let state: Mutex<(ids: [String], next: Int)>
    private let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        self.state = Mutex(([], 0))
    }

    /// Records `id`; false when it was among the recent ones.
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
    init(json: JSONObject) {
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
