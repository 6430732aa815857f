import ActionCatalog
import ActionKit
import Logging
import MistralProtocol
import OrderedJSON
import OsloConfig
import OsloMessaging
import ServiceLifecycle
import Synchronization
import Testing
@testable import Worker

// MARK: - The state machine alone

@Suite("Delivery state machine: which delivery starts, waits or goes back")
struct DeliveryStateMachineTests {
    let now = ContinuousClock.now

    @Test("at most `capacity` run; the others wait in order and start as slots free")
    func capacity() {
        var machine = DeliveryStateMachine<Int>(capacity: 2, holdLimit: .seconds(60))
        #expect(machine.received(1, isCurrent: true, now: now) == .start(1))
        #expect(machine.received(2, isCurrent: true, now: now) == .start(2))
        #expect(machine.received(3, isCurrent: true, now: now) == .wait)
        #expect(machine.received(4, isCurrent: true, now: now) == .wait)
        #expect(machine.running == 2 && machine.waitingCount == 2)
        #expect(machine.finished(isCurrent: { _ in true }) == [.start(3)])
        #expect(machine.finished(isCurrent: { _ in true }) == [.start(4)])
        #expect(machine.finished(isCurrent: { _ in true }) == [])
        #expect(machine.running == 1)
    }

    @Test("a delivery from a closed channel is never started, on arrival or from the waiting line")
    func staleNeverStarts() {
        var machine = DeliveryStateMachine<Int>(capacity: 1, holdLimit: .seconds(60))
        #expect(machine.received(1, isCurrent: false, now: now) == .forget(1))
        #expect(machine.received(2, isCurrent: true, now: now) == .start(2))
        #expect(machine.received(3, isCurrent: true, now: now) == .wait)
        #expect(machine.received(4, isCurrent: true, now: now) == .wait)
        // The channel of 3 closed while it waited: 4 starts instead.
        #expect(machine.finished(isCurrent: { $0 != 3 }) == [.forget(3), .start(4)])
    }

    @Test("after shutdown nothing starts: waiting deliveries and later arrivals go back")
    func shutdown() {
        var machine = DeliveryStateMachine<Int>(capacity: 1, holdLimit: .seconds(60))
        #expect(machine.received(1, isCurrent: true, now: now) == .start(1))
        #expect(machine.received(2, isCurrent: true, now: now) == .wait)
        #expect(machine.received(3, isCurrent: true, now: now) == .wait)
        #expect(machine.shutdownRequested() == [.giveBack(2), .giveBack(3)])
        #expect(machine.received(4, isCurrent: true, now: now) == .giveBack(4))
        #expect(!machine.isDrained)
        #expect(machine.finished(isCurrent: { _ in true }) == [])
        #expect(machine.isDrained)
    }

    @Test("a delivery never waits past the hold limit (under RabbitMQ's consumer_timeout)")
    func holdLimit() {
        var machine = DeliveryStateMachine<Int>(capacity: 1, holdLimit: .seconds(60))
        _ = machine.received(1, isCurrent: true, now: now)
        _ = machine.received(2, isCurrent: true, now: now)
        _ = machine.received(3, isCurrent: true, now: now + .seconds(30))
        #expect(machine.nextExpiry == now + .seconds(60))
        #expect(machine.expire(now: now + .seconds(59), isCurrent: { _ in true }) == [])
        #expect(machine.expire(now: now + .seconds(60), isCurrent: { _ in true }) == [.giveBack(2)])
        #expect(machine.expire(now: now + .seconds(95), isCurrent: { _ in true }) == [.giveBack(3)])
        #expect(machine.waitingCount == 0 && machine.running == 1)
    }
}

@Suite("Delivery rules: acknowledgements and redeliveries")
struct DeliveryRulesTests {
    @Test("safe-rerun requests are acknowledged after their result; others at start unless starts are claimed")
    func acknowledgement() {
        #expect(DeliveryRules.acknowledgement(safeRerun: true, hasResultTarget: true, claimsEnabled: false) == .afterResult)
        #expect(DeliveryRules.acknowledgement(safeRerun: false, hasResultTarget: true, claimsEnabled: false) == .atStart)
        #expect(DeliveryRules.acknowledgement(safeRerun: false, hasResultTarget: true, claimsEnabled: true) == .afterResult)
        #expect(DeliveryRules.acknowledgement(safeRerun: true, hasResultTarget: false, claimsEnabled: true) == .atStart)
    }

    @Test("a redelivered request that is not safe to rerun runs only if it never started")
    func redelivery() {
        #expect(DeliveryRules.start(safeRerun: false, redelivered: true, claim: .firstStart) == .run)
        #expect(DeliveryRules.start(safeRerun: false, redelivered: true, claim: .startedBefore) == .skipStartedBefore)
        #expect(DeliveryRules.start(safeRerun: false, redelivered: false, claim: .startedBefore) == .skipStartedBefore)
        #expect(DeliveryRules.start(safeRerun: false, redelivered: true, claim: .unavailable) == .retryClaim)
        #expect(DeliveryRules.start(safeRerun: false, redelivered: false, claim: .unavailable) == .run)
        #expect(DeliveryRules.start(safeRerun: false, redelivered: true, claim: .disabled) == .failNotRerunnable)
        #expect(DeliveryRules.start(safeRerun: false, redelivered: false, claim: .disabled) == .run)
        #expect(DeliveryRules.start(safeRerun: true, redelivered: true, claim: .startedBefore) == .run)
    }

    @Test("backoff doubles up to its maximum and resets")
    func backoff() {
        var backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(1))
        #expect([backoff.next(), backoff.next(), backoff.next(), backoff.next()] == [.milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1)])
        backoff.reset()
        #expect(backoff.next() == .milliseconds(200))
    }
}

// MARK: - The worker on the in-memory transport

/// Start claims in memory.
final class MemoryStartClaims: ActionStartClaims {
    let claimed = Mutex<Set<String>>([])
    let failuresLeft = Mutex(0)

    init(claimed: Set<String> = [], failures: Int = 0) {
        self.claimed.withLock { $0 = claimed }
        failuresLeft.withLock { $0 = failures }
    }

    func claim(_ actionExecutionIDs: [String]) async throws -> Set<String> {
        let fail = failuresLeft.withLock { left in
            defer { left = max(0, left - 1) }
            return left > 0
        }
        if fail { throw CancellationError() }
        return claimed.withLock { claimed in
            let before = Set(actionExecutionIDs).intersection(claimed)
            claimed.formUnion(actionExecutionIDs)
            return before
        }
    }
}

struct WorkerHarness {
    let transport = InMemoryWorkerTransport()
    let worker: Worker
    static let registry = try! ActionCatalog.registry()

    init(
        concurrency: Int = 4, mode: WorkerSettings.Mode? = nil, claims: (any ActionStartClaims)? = nil,
        grace: Duration = .seconds(30), heartbeats: Duration? = nil,
        status: WorkerStatus = WorkerStatus(), metrics: WorkerMetrics = WorkerMetrics(), maxUnacked: Duration? = nil
    ) {
        var settings = WorkerSettings(configuration: Configuration())
        settings.concurrency = concurrency
        if let maxUnacked { settings.maxUnackedTime = maxUnacked }
        settings.heartbeatInterval = heartbeats
        settings.shutdownGracePeriod = grace
        if let mode { settings.mode = mode }
        worker = Worker(
            settings: settings, registry: Self.registry, codeSourceIDs: [], transport: transport,
            claims: claims, status: status, metrics: metrics, logger: Logger(label: "worker-test")
        )
    }

    static func runAction(
        _ name: String, input: JSONObject = [:], executionID: String?, safeRerun: Bool = false, timeout: Double? = nil,
        uniqueID: String = MessageID.generate()
    ) -> RPCRequest {
        let className = name.hasPrefix("python.") ? name : ActionRegistry.stubClassName(for: name)
        let data = JSON.object(input).pythonText
        let serialData = #"{"cls_name": "\#(className)", "cls_attrs": {}, "data": \#(data), "code_source_id": "c", "namespace": ""}"#
        let action = JSON.object(["__serial_key": "mistral.actions.dynamic_action.DynamicAction", "__serial_data": .string(serialData)])
        return try! RPCRequest(
            method: "run_action",
            mistralArguments: [
                "action": action, "action_ex_id": executionID.map(JSON.string) ?? .null,
                "safe_rerun": .bool(safeRerun), "exec_ctx": [:], "timeout": timeout.map(JSON.double) ?? .null,
            ],
            context: RequestContext(), uniqueID: uniqueID
        )
    }

    /// The results sent for `executionID`, in order.
    func results(_ executionID: String) -> [JSON] {
        transport.casts(method: "on_action_complete").compactMap { request in
            guard Self.executionID(of: request) == executionID else { return nil }
            return (try? request.mistralArgument("result")) ?? JSON.null
        }
    }

    static func executionID(of request: RPCRequest) -> String? {
        (try? request.mistralArgument("action_ex_id"))??.stringValue
    }

    func waitForResult(_ executionID: String) async {
        await transport.waitUntil { events in
            events.contains { event in
                guard case .cast("on_action_complete", _, let body) = event,
                      let request = try? RPCRequest(decodingBody: body) else { return false }
                return Self.executionID(of: request) == executionID
            }
        }
    }
}

@Suite("The worker's delivery promises, on an in-memory transport", .timeLimit(.minutes(2)))
struct WorkerDeliveryTests {
    @Test("a waiting request whose channel closed is never started; a fresh one is")
    func staleWaitingRequestNeverStarts() async throws {
        let harness = WorkerHarness(concurrency: 1)
        async let running: Void = harness.worker.run()
        await harness.transport.waitUntilConsuming()
        let first = try harness.transport.deliver(WorkerHarness.runAction("debug.sleep", input: ["seconds": 1000], executionID: "A", timeout: 0.5))
        // A has started (acknowledged at start: not safe to rerun, no claims).
        await harness.transport.waitUntil { $0.contains(.acknowledged(deliveryTag: first)) }
        try harness.transport.deliver(WorkerHarness.runAction("debug.echo", input: ["output": "b"], executionID: "B"))
        // B waits for A's slot (or is not even taken in): either way its channel closes before it could start.
        harness.transport.closeChannel()
        try harness.transport.deliver(WorkerHarness.runAction("debug.echo", input: ["output": "c"], executionID: "C"))
        await harness.waitForResult("C")
        #expect(harness.results("B").isEmpty, "a stale delivery was started")
        #expect(harness.results("A").count == 1, "\(harness.transport.events)")
        harness.transport.endConsuming()
        try await running
        #expect(harness.results("B").isEmpty)
    }

    @Test("the AMQP redelivered flag: a started request is not run again; one that never started runs")
    func redeliveredWithClaims() async throws {
        let claims = MemoryStartClaims(claimed: ["started"])
        let harness = WorkerHarness(claims: claims)
        async let running: Void = harness.worker.run()
        await harness.transport.waitUntilConsuming()
        let startedTag = try harness.transport.deliver(
            WorkerHarness.runAction("debug.echo", input: ["output": "again"], executionID: "started"), redelivered: true
        )
        try harness.transport.deliver(WorkerHarness.runAction("debug.echo", input: ["output": "first"], executionID: "fresh"), redelivered: true)
        await harness.waitForResult("fresh")
        await harness.transport.waitUntil { $0.contains(.acknowledged(deliveryTag: startedTag)) }
        #expect(harness.results("fresh").first?.pythonText.contains("first") == true)
        #expect(harness.results("started").isEmpty, "a request that had started ran again")
        #expect(harness.worker.counters.skipped == 1)
        harness.transport.endConsuming()
        try await running
    }

    @Test("a skipped redelivery reports the action running once, so the engine's heartbeat check covers a worker that died")
    func skippedRedeliveryHeartbeats() async throws {
        let harness = WorkerHarness(claims: MemoryStartClaims(claimed: ["orphan"]), heartbeats: .seconds(3600))
        async let running: Void = harness.worker.run()
        await harness.transport.waitUntilConsuming()
        try harness.transport.deliver(WorkerHarness.runAction("debug.echo", input: ["output": "x"], executionID: "orphan"), redelivered: true)
        await harness.transport.waitUntil { events in
            events.contains { event in
                guard case .cast("report_running_actions", _, let body) = event,
                      let request = try? RPCRequest(decodingBody: body) else { return false }
                return (try? request.mistralArgument("action_ex_ids"))??.arrayValue == [.string("orphan")]
            }
        }
        #expect(harness.results("orphan").isEmpty)
        harness.transport.endConsuming()
        try await running
    }

    @Test("relays the broker refuses slow down together (one backoff), and it resets once a relay goes through")
    func relayBackoff() async throws {
        let harness = WorkerHarness(mode: .router(fallbackTopic: "python_executor"))
        async let running: Void = harness.worker.run()
        await harness.transport.waitUntilConsuming()
        harness.transport.scriptForwards([.nacked, .nacked])
        let first = try harness.transport.deliver(WorkerHarness.runAction("python.std.http", executionID: "R1"))
        await harness.transport.waitUntil { $0.contains(.rejected(deliveryTag: first, requeue: true)) }
        let second = try harness.transport.deliver(WorkerHarness.runAction("python.std.http", executionID: "R2"))
        await harness.transport.waitUntil { $0.contains(.rejected(deliveryTag: second, requeue: true)) }
        #expect(harness.worker.relayBackoff.withLock { $0.current } == .milliseconds(800), "two failures: the next pause is the third step")
        let third = try harness.transport.deliver(WorkerHarness.runAction("python.std.http", executionID: "R3"))
        await harness.transport.waitUntil { $0.contains(.acknowledged(deliveryTag: third)) }
        #expect(harness.worker.relayBackoff.withLock { $0.current } == .milliseconds(200))
        harness.transport.endConsuming()
        try await running
    }

    @Test("without claims, the AMQP redelivered flag alone fails a request that is not safe to rerun")
    func redeliveredWithoutClaims() async throws {
        let harness = WorkerHarness()
        async let running: Void = harness.worker.run()
        await harness.transport.waitUntilConsuming()
        try harness.transport.deliver(WorkerHarness.runAction("debug.echo", input: ["output": "x"], executionID: "R"), redelivered: true)
        await harness.waitForResult("R")
        let result = try #require(harness.results("R").first)
        #expect(result.pythonText.contains("cannot be re-run safely"), "\(result.pythonText)")
        harness.transport.endConsuming()
        try await running
    }

    @Test("a redelivered request whose claim cannot be read waits for the database, then runs once")
    func claimRetried() async throws {
        let claims = MemoryStartClaims(failures: 1)
        let harness = WorkerHarness(claims: claims)
        async let running: Void = harness.worker.run()
        await harness.transport.waitUntilConsuming()
        try harness.transport.deliver(WorkerHarness.runAction("debug.echo", input: ["output": "x"], executionID: "W"), redelivered: true)
        await harness.waitForResult("W")
        #expect(harness.results("W").first?.pythonText.contains("x") == true, "\(harness.results("W"))")
        harness.transport.endConsuming()
        try await running
    }

    @Test("a relay the broker did not confirm goes back to the queue and is relayed when it comes again")
    func requeuedRelayIsNotADuplicate() async throws {
        let harness = WorkerHarness(mode: .router(fallbackTopic: "python_executor"))
        async let running: Void = harness.worker.run()
        await harness.transport.waitUntilConsuming()
        harness.transport.scriptForwards([.nacked])
        let request = WorkerHarness.runAction("python.std.http", executionID: "P", uniqueID: "same-unique-id")
        let first = try harness.transport.deliver(request)
        await harness.transport.waitUntil { $0.contains(.rejected(deliveryTag: first, requeue: true)) }
        let second = try harness.transport.deliver(request, redelivered: true)
        await harness.transport.waitUntil { $0.contains(.acknowledged(deliveryTag: second)) }
        #expect(harness.transport.events.contains(.forwarded(deliveryTag: second, topic: "python_executor")))
        #expect(!harness.transport.events.contains(.acknowledged(deliveryTag: first)))
        harness.transport.endConsuming()
        try await running
    }

    @Test("a completion the broker returns or nacks is retried until the engine's queue takes it; then acknowledged")
    func completionRetried() async throws {
        let harness = WorkerHarness()
        async let running: Void = harness.worker.run()
        await harness.transport.waitUntilConsuming()
        harness.transport.scriptCasts([.returned, .nacked, .returned])
        let tag = try harness.transport.deliver(WorkerHarness.runAction("debug.echo", input: ["output": "kept"], executionID: "E", safeRerun: true))
        await harness.waitForResult("E")
        await harness.transport.waitUntil { $0.contains(.acknowledged(deliveryTag: tag)) }
        let events = harness.transport.events
        #expect(events.filter { $0 == .castFailed(method: "on_action_complete") }.count == 3)
        // Safe to rerun: acknowledged only after the result was taken.
        let resultIndex = try #require(events.firstIndex { if case .cast("on_action_complete", _, _) = $0 { true } else { false } })
        let ackIndex = try #require(events.firstIndex(of: .acknowledged(deliveryTag: tag)))
        #expect(resultIndex < ackIndex)
        #expect(harness.results("E").first?.pythonText.contains("kept") == true)
        harness.transport.endConsuming()
        try await running
    }

    @Test("a result too large for the broker becomes a clear error result at once")
    func oversizedResult() async throws {
        let harness = WorkerHarness()
        async let running: Void = harness.worker.run()
        await harness.transport.waitUntilConsuming()
        harness.transport.scriptCasts([.preconditionFailed("PRECONDITION_FAILED - message size 2000185 is larger than configured max size 1048576")])
        try harness.transport.deliver(WorkerHarness.runAction("debug.echo", input: ["output": "big"], executionID: "O"))
        await harness.waitForResult("O")
        let result = try #require(harness.results("O").first)
        #expect(result.pythonText.contains("larger than RabbitMQ accepts"), "\(result.pythonText)")
        #expect(result.pythonText.contains("configured max size 1048576"))
        #expect(harness.transport.events.filter { $0 == .castFailed(method: "on_action_complete") }.count == 1)
        harness.transport.endConsuming()
        try await running
    }

    @Test("after SIGTERM no new action starts: waiting requests go back; the running one is cancelled after the grace period")
    func shutdownStartsNothing() async throws {
        let harness = WorkerHarness(concurrency: 1, grace: .milliseconds(300))
        let group = ServiceGroup(services: [harness.worker], logger: Logger(label: "group"))
        async let running: Void = group.run()
        await harness.transport.waitUntilConsuming()
        try harness.transport.deliver(WorkerHarness.runAction("debug.sleep", input: ["seconds": 1000], executionID: "long"))
        let waiting = try harness.transport.deliver(WorkerHarness.runAction("debug.echo", input: ["output": "w"], executionID: "waiting"))
        let waitingSafe = try harness.transport.deliver(WorkerHarness.runAction("debug.echo", input: ["output": "s"], executionID: "safe", safeRerun: true))
        // The long action has started once its start is acknowledged (not safe to rerun, no claims).
        await harness.transport.waitUntil { $0.contains(.acknowledged(deliveryTag: 1)) }
        await group.triggerGracefulShutdown()
        try await running
        let events = harness.transport.events
        #expect(events.contains(.rejected(deliveryTag: waiting, requeue: true)))
        #expect(events.contains(.rejected(deliveryTag: waitingSafe, requeue: true)))
        #expect(harness.results("waiting").isEmpty && harness.results("safe").isEmpty, "a request started after SIGTERM")
        let long = try #require(harness.results("long").first)
        #expect(long.pythonText.contains("shut down"), "\(long.pythonText)")
        #expect(events.contains(.stoppedConsuming))
    }
}
