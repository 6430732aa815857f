@testable import AMQPClient
import Testing

/// A publish whose caller waits in a task until the command's continuation is resumed.
private struct PendingPublish {
    let command: Command
    let task: Task<AMQPPublishOutcome, any Error>

    static func make(_ routingKey: String) async throws -> PendingPublish {
        let (stream, yielder) = AsyncStream.makeStream(of: Command.self)
        let request = PublishRequest(body: [], exchange: "", routingKey: routingKey, properties: AMQPMessageProperties(), mandatory: false)
        let task = Task {
            try await withUnsafeThrowingContinuation { yielder.yield(.publish(request, $0)) }
        }
        var iterator = stream.makeAsyncIterator()
        let command = try #require(await iterator.next())
        return PendingPublish(command: command, task: task)
    }

    var continuation: UnsafeContinuation<AMQPPublishOutcome, any Error>? {
        if case .publish(_, let continuation) = command {
            return continuation
        }
        return nil
    }

    enum Ending: Equatable {
        case success(AMQPPublishOutcome)
        case failure(AMQPError.Code?)
    }

    /// How the caller's wait ended: the outcome, or the error's code.
    func result() async -> Ending {
        do {
            return .success(try await task.value)
        } catch {
            return .failure((error as? AMQPError)?.code)
        }
    }
}

private func routingKey(of command: Command?) -> String? {
    if case .publish(let request, _)? = command {
        return request.routingKey
    }
    return nil
}

private func ack(_ tag: UInt64, incarnation: UInt64 = 1, _ kind: Acknowledgement.Kind = .ack(multiple: false)) -> Command {
    .acknowledge(Acknowledgement(kind: kind, deliveryTag: tag, channelIncarnation: incarnation))
}

@Suite("Connection state machine")
struct ConnectionStateMachineTests {
    let start = ContinuousClock.now

    func makeMachine() -> ConnectionStateMachine {
        ConnectionStateMachine(disconnectedOperationTimeout: .seconds(10))
    }

    @Test("while disconnected commands wait; a sweep drops acks, cancels consumers locally and fails what ran past its deadline")
    func disconnectedCommandsWaitThenExpire() async throws {
        var machine = makeMachine()
        let early = try await PendingPublish.make("early")
        let late = try await PendingPublish.make("late")
        guard case .waiting = machine.decide(early.command, now: start) else {
            Issue.record("a publish waits for a connection")
            return
        }
        _ = machine.decide(ack(3), now: start)
        _ = machine.decide(.cancelConsumer(tag: "c1", nil), now: start)
        _ = machine.decide(late.command, now: start + .seconds(5))
        #expect(machine.earliestDeadline == start + .seconds(10))
        #expect(!machine.needsOpening(.publisher), "no channel to open without a connection")

        let first = machine.sweep(now: start + .seconds(1))
        #expect(first.count == 2, "the ack is dropped and the cancel done locally; the publishes keep waiting")
        var dropped: [UInt64] = []
        var cancelled: [String] = []
        for action in first {
            switch action {
            case .dropAcknowledgement(let tag): dropped.append(tag)
            case .cancelConsumerLocally(let tag, _): cancelled.append(tag)
            case .fail: Issue.record("nothing is past its deadline yet")
            }
        }
        #expect(dropped == [3] && cancelled == ["c1"])

        let second = machine.sweep(now: start + .seconds(10))
        #expect(second.count == 1)
        for case .fail(let command) in second {
            #expect(routingKey(of: command) == "early")
            command.fail(AMQPError(code: .notConnected, message: "test"))
        }
        #expect(await early.result() == .failure(.notConnected))

        machine.connected()
        let released = machine.nextKeptCommand()
        let nothing = machine.nextKeptCommand()
        #expect(routingKey(of: released) == "late", "a connection releases what still waits")
        #expect(nothing == nil)
        late.continuation?.resume(returning: .acknowledged)
        #expect(await late.result() == .success(.acknowledged))
    }

    @Test("publishes are held while the broker blocks the connection and run in order once it unblocks")
    func blockedPublishesAreHeld() async throws {
        var machine = makeMachine()
        machine.connected()
        machine.setBlocked(true)
        let one = try await PendingPublish.make("one")
        let two = try await PendingPublish.make("two")
        guard case .held = machine.decide(one.command, now: start), case .held = machine.decide(two.command, now: start) else {
            Issue.record("publishes are held while blocked")
            return
        }
        guard case .execute = machine.decide(.cancelConsumer(tag: "c1", nil), now: start) else {
            Issue.record("other operations still run")
            return
        }
        let whileBlocked = machine.nextKeptCommand()
        #expect(whileBlocked == nil, "nothing runs while blocked")
        #expect(!machine.hasRunnableWork)
        machine.setBlocked(false)
        #expect(machine.hasRunnableWork)
        let keptone = machine.nextKeptCommand()
        #expect(routingKey(of: keptone) == "one")
        let kepttwo = machine.nextKeptCommand()
        #expect(routingKey(of: kepttwo) == "two")
        for publish in [one, two] {
            publish.continuation?.resume(returning: .acknowledged)
        }
    }

    @Test("a lost connection fails the unconfirmed publishes and re-queues the held ones ahead of those waiting")
    func connectionLossFailsConfirmsAndRequeuesHeld() async throws {
        var machine = makeMachine()
        let waited = try await PendingPublish.make("waited")
        _ = machine.decide(waited.command, now: start)
        machine.connected()
        machine.channelOpened(.publisher)
        let sent = try await PendingPublish.make("sent")
        guard case .execute = machine.decide(sent.command, now: start) else {
            Issue.record("a publish on a live connection runs")
            return
        }
        #expect(machine.nextPublishSequence == 1)
        machine.published(try #require(sent.continuation))
        #expect(machine.nextPublishSequence == 2)
        machine.setBlocked(true)
        let held = try await PendingPublish.make("held")
        _ = machine.decide(held.command, now: start)

        let lost = machine.connectionLost(now: start + .seconds(1))
        #expect(lost.count == 1)
        for pending in lost {
            pending.continuation.resume(throwing: AMQPError(code: .connectionLost, message: "test"))
        }
        #expect(await sent.result() == .failure(.connectionLost))
        #expect(!machine.isConnected && !machine.isBlocked)
        #expect(machine.earliestDeadline == start + .seconds(10), "the waited publish keeps its own deadline")

        machine.connected()
        #expect(machine.nextPublishSequence == 1, "a new channel numbers its publishes from 1")
        let keptheld = machine.nextKeptCommand()
        #expect(routingKey(of: keptheld) == "held")
        let keptwaited = machine.nextKeptCommand()
        #expect(routingKey(of: keptwaited) == "waited")
        for publish in [held, waited] {
            publish.continuation?.resume(returning: .acknowledged)
        }
    }

    @Test("confirms settle in order; a return marks its publish; a closed publisher channel fails only the unconfirmed")
    func confirmsAndPublisherChannelClose() async throws {
        var machine = makeMachine()
        machine.connected()
        #expect(machine.needsOpening(.publisher) && machine.needsOpening(.consumer) && machine.needsOpening(.topology))
        machine.channelOpened(.publisher)
        #expect(!machine.needsOpening(.publisher) && machine.needsOpening(.consumer))
        var publishes: [PendingPublish] = []
        for index in 1...4 {
            let publish = try await PendingPublish.make("p\(index)")
            publishes.append(publish)
            machine.published(try #require(publish.continuation))
        }
        let matched = machine.returned(sequence: 2, replyCode: 312, replyText: "NO_ROUTE")
        let unmatched = machine.returned(sequence: 9, replyCode: 312, replyText: "NO_ROUTE")
        #expect(matched && !unmatched)
        var settled: [String] = []
        machine.confirmed(sequence: 2, multiple: true) { pending in
            settled.append(pending.returned == nil ? "ack" : "returned")
            pending.continuation.resume(returning: .acknowledged)
        }
        #expect(settled == ["ack", "returned"])
        let lost = machine.channelClosed(.publisher)
        #expect(lost.count == 2)
        for pending in lost {
            pending.continuation.resume(throwing: AMQPError(code: .channelClosedByServer, message: "test"))
        }
        #expect(machine.needsOpening(.publisher))
        #expect(await publishes[0].result() == .success(.acknowledged))
        #expect(await publishes[3].result() == .failure(.channelClosedByServer))
    }

    @Test("single acks batch up and leave before anything else on the consumer channel, never covering an unacked tag")
    func acksBatchAndFlushInOrder() throws {
        var machine = makeMachine()
        machine.connected()
        let incarnation = machine.channelOpened(.consumer)
        #expect(incarnation == 1)
        for tag in 1...5 {
            machine.delivered(UInt64(tag))
        }
        for tag: UInt64 in [2, 1, 4] {
            guard case .batched = machine.decide(ack(tag), now: start) else {
                Issue.record("a single ack waits for the turn's others")
                return
            }
        }
        #expect(machine.hasRunnableWork, "batched acks must be flushed before sleeping")
        guard case .acknowledge(let frames) = machine.decide(ack(3, .reject(requeue: true)), now: start) else {
            Issue.record("a reject is sent at once")
            return
        }
        #expect(frames == [.ack(tag: 2, multiple: true), .ack(tag: 4, multiple: false), .reject(tag: 3, requeue: true)])

        _ = machine.decide(ack(5), now: start)
        guard case .execute(_, let acksFirst) = machine.decide(.cancelConsumer(tag: "c1", nil), now: start) else {
            Issue.record("a cancel runs")
            return
        }
        #expect(acksFirst == [.ack(tag: 5, multiple: false)])
        let leftover = machine.flushAcks()
        #expect(leftover.isEmpty)
    }

    @Test("acks of an earlier channel incarnation, or of a closed channel, are dropped")
    func staleAcksAreDropped() {
        var machine = makeMachine()
        machine.connected()
        guard case .dropStaleAcknowledgement = machine.decide(ack(1), now: start) else {
            Issue.record("no consumer channel yet")
            return
        }
        machine.channelOpened(.consumer)
        machine.delivered(1)
        machine.delivered(2)
        _ = machine.decide(ack(1), now: start)
        _ = machine.channelClosed(.consumer)
        let afterClose = machine.flushAcks()
        #expect(afterClose.isEmpty, "acks of the closed channel are not sent")
        let second = machine.channelOpened(.consumer)
        #expect(second == 2)
        guard case .dropStaleAcknowledgement(let tag) = machine.decide(ack(2, incarnation: 1), now: start) else {
            Issue.record("a delivery of incarnation 1 cannot be acked on incarnation 2")
            return
        }
        #expect(tag == 2)
        machine.delivered(1)
        _ = machine.decide(ack(1, incarnation: 2), now: start)
        let flushed = machine.flushAcks()
        #expect(flushed == [.ack(tag: 1, multiple: false)])
    }

    @Test("shutdown hands back every unconfirmed publish and every kept command")
    func shutDownReturnsEverything() async throws {
        var machine = makeMachine()
        let waited = try await PendingPublish.make("waited")
        _ = machine.decide(waited.command, now: start)
        machine.connected()
        let sent = try await PendingPublish.make("sent")
        machine.published(try #require(sent.continuation))
        machine.setBlocked(true)
        let held = try await PendingPublish.make("held")
        _ = machine.decide(held.command, now: start)
        let (confirms, kept) = machine.shutDown()
        #expect(confirms.count == 1)
        #expect(kept.map(routingKey(of:)) == ["held", "waited"])
        let error = AMQPError(code: .shutDown, message: "test")
        confirms.forEach { $0.continuation.resume(throwing: error) }
        kept.forEach { $0.fail(error) }
        for publish in [waited, sent, held] {
            #expect(await publish.result() == .failure(.shutDown))
        }
        #expect(!machine.hasQueuedCommands)
    }
}
