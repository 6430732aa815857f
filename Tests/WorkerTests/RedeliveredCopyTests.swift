import Logging
import MistralActionsTestSupport
import OrderedJSON
import OsloMessaging
import ServiceLifecycle
import Testing
@testable import Worker

/// A redelivered request whose action started before is acknowledged only
/// once someone will answer the engine for it, so that a worker dying in
/// between leaves it in the queue. (A fault run lost an action this way: a
/// worker whose connection broke got its own running requests back,
/// acknowledged the copies at once, and was killed before its results went
/// out; nothing was left to tell the engine.)
@Suite("Redelivered copies of started actions", .timeLimit(.minutes(2)))
struct RedeliveredCopyTests {
    static func index(of event: InMemoryWorkerTransport.Event, in events: [InMemoryWorkerTransport.Event]) -> Int? {
        events.firstIndex(of: event)
    }

    static func firstCast(_ method: String, in events: [InMemoryWorkerTransport.Event]) -> Int? {
        events.firstIndex { if case .cast(method, _, _) = $0 { true } else { false } }
    }

    @Test("a copy of a request this worker is running is acknowledged only after the running one's result is sent")
    func copyWaitsForTheRunningOne() async throws {
        let harness = WorkerHarness(claims: MemoryStartClaims())
        async let running: Void = harness.worker.run()
        await harness.transport.waitUntilConsuming()
        // The result of the first run cannot go out yet (broker blocked).
        harness.transport.scriptCasts([.held])
        let original = try harness.transport.deliver(WorkerHarness.runAction("debug.echo", input: ["output": "once"], executionID: "A"))
        await harness.transport.waitUntil { $0.contains(.castHeld(method: "on_action_complete")) }
        // The channel breaks; the broker gives the request back to the same worker.
        harness.transport.closeChannel()
        let copy = try harness.transport.deliver(
            WorkerHarness.runAction("debug.echo", input: ["output": "once"], executionID: "A"), redelivered: true
        )
        try await eventually("the copy was recognised as started before") { harness.worker.counters.skipped == 1 }
        var events = harness.transport.events
        #expect(!events.contains(.acknowledged(deliveryTag: copy)), "the copy was acknowledged while the result was still unsent")
        #expect(!events.contains(.rejected(deliveryTag: copy, requeue: true)))
        harness.transport.releaseHeldCasts()
        await harness.transport.waitUntil { $0.contains(.acknowledged(deliveryTag: copy)) }
        events = harness.transport.events
        let result = try #require(Self.firstCast("on_action_complete", in: events))
        let copyAck = try #require(Self.index(of: .acknowledged(deliveryTag: copy), in: events))
        #expect(result < copyAck)
        #expect(harness.results("A").count == 1, "the action ran or answered twice")
        #expect(!events.contains(.acknowledged(deliveryTag: original)) || original < copy)
        harness.transport.endConsuming()
        try await running
    }

    @Test("a copy of an action that started elsewhere is acknowledged only once its heartbeat reached the engine")
    func copyWaitsForItsHeartbeat() async throws {
        let harness = WorkerHarness(claims: MemoryStartClaims(claimed: ["B"]), heartbeats: .seconds(3600))
        async let running: Void = harness.worker.run()
        await harness.transport.waitUntilConsuming()
        harness.transport.scriptCasts([.returned, .nacked])
        let copy = try harness.transport.deliver(
            WorkerHarness.runAction("debug.echo", input: ["output": "x"], executionID: "B"), redelivered: true
        )
        await harness.transport.waitUntil { $0.contains(.acknowledged(deliveryTag: copy)) }
        let events = harness.transport.events
        #expect(events.filter { $0 == .castFailed(method: "report_running_actions") }.count == 2)
        let report = try #require(Self.firstCast("report_running_actions", in: events))
        let ack = try #require(Self.index(of: .acknowledged(deliveryTag: copy), in: events))
        #expect(report < ack, "acknowledged before the engine heard of the action")
        #expect(harness.results("B").isEmpty, "a request that had started ran again")
        harness.transport.endConsuming()
        try await running
    }

    @Test("a result the worker could not send before it stopped: the request goes back to the queue instead of being acknowledged")
    func abandonedResultGivesTheRequestBack() async throws {
        let harness = WorkerHarness(claims: MemoryStartClaims(), grace: .milliseconds(200))
        let group = ServiceGroup(services: [harness.worker], logger: Logger(label: "group"))
        async let running: Void = group.run()
        await harness.transport.waitUntilConsuming()
        // The engine's queue is gone for good: every completion comes back.
        harness.transport.scriptCasts(Array(repeating: .returned, count: 10_000))
        let tag = try harness.transport.deliver(WorkerHarness.runAction("debug.echo", input: ["output": "lost?"], executionID: "C"))
        await harness.transport.waitUntil { $0.contains(.castFailed(method: "on_action_complete")) }
        await group.triggerGracefulShutdown()
        try await running
        let events = harness.transport.events
        #expect(events.contains(.rejected(deliveryTag: tag, requeue: true)), "\(events)")
        #expect(!events.contains(.acknowledged(deliveryTag: tag)))
        #expect(harness.results("C").isEmpty)
    }
}
