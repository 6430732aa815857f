import MistralActionsTestSupport
import OrderedJSON
import OsloMessaging
import StartClaims
import Testing
@testable import Worker

/// A request acknowledged only after its result (start claims on) must not
/// stay unacknowledged past `max_unacked_time`, or RabbitMQ's
/// `consumer_timeout` closes the channel under a long action.
@Suite("Early acknowledgement of long actions", .timeLimit(.minutes(2)))
struct EarlyAcknowledgementTests {
    @Test("a long action's request is acknowledged near max_unacked_time, before its result, and once")
    func longActionAcknowledgedEarly() async throws {
        let harness = WorkerHarness(claims: MemoryStartClaims(), maxUnacked: .seconds(2))
        async let running: Void = harness.worker.run()
        await harness.transport.waitUntilConsuming()
        let started = ContinuousClock.now
        let tag = try harness.transport.deliver(WorkerHarness.runAction("debug.sleep", input: ["seconds": 6], executionID: "L"))
        await harness.transport.waitUntil { $0.contains(.acknowledged(deliveryTag: tag)) }
        let acknowledgedAfter = ContinuousClock.now - started
        // Not before one tick (max_unacked_time / 4) ahead of max_unacked_time.
        #expect(acknowledgedAfter >= .milliseconds(1500), "acknowledged after \(acknowledgedAfter)")
        #expect(harness.results("L").isEmpty, "the action had finished: no early acknowledgement was needed")
        // The action goes on and its result is sent; the request is not acknowledged again.
        try await eventually("the result was sent") { harness.results("L").count == 1 }
        #expect(harness.transport.events.filter { $0 == .acknowledged(deliveryTag: tag) }.count == 1)
        #expect(harness.worker.earlyAcknowledgements.count == 0)
        harness.transport.endConsuming()
        try await running
    }

    @Test("a short action's request is acknowledged after its result, not early")
    func shortActionAcknowledgedAfterResult() async throws {
        let harness = WorkerHarness(claims: MemoryStartClaims(), maxUnacked: .seconds(2))
        async let running: Void = harness.worker.run()
        await harness.transport.waitUntilConsuming()
        let tag = try harness.transport.deliver(WorkerHarness.runAction("debug.echo", input: ["output": "x"], executionID: "S"))
        await harness.transport.waitUntil { $0.contains(.acknowledged(deliveryTag: tag)) }
        let events = harness.transport.events
        let result = try #require(events.firstIndex { if case .cast("on_action_complete", _, _) = $0 { true } else { false } })
        let ack = try #require(events.firstIndex(of: .acknowledged(deliveryTag: tag)))
        #expect(result < ack)
        #expect(harness.worker.earlyAcknowledgements.count == 0)
        harness.transport.endConsuming()
        try await running
    }
}
