import AMQPClient
import OsloMessaging
import OrderedJSON
import Synchronization

/// A ``WorkerTransport`` in memory, for unit tests of the worker's delivery
/// rules: the test delivers request bodies, closes "the channel", scripts
/// what the broker answers to casts and forwards, and reads back every
/// acknowledgement, rejection, forward, cast and reply in order. Waiting
/// for an event is signal-based (``waitUntil(_:)``), never timed.
public final class InMemoryWorkerTransport: WorkerTransport {
    public enum Event: Equatable, Sendable {
        case acknowledged(deliveryTag: UInt64)
        case rejected(deliveryTag: UInt64, requeue: Bool)
        case forwarded(deliveryTag: UInt64, topic: String)
        case cast(method: String, topic: String, body: [UInt8])
        case castFailed(method: String)
        /// A cast answered `.held`: it waits for ``releaseHeldCasts()``.
        case castHeld(method: String)
        case replied(messageID: String)
        case startedConsuming(capacity: Int)
        case stoppedConsuming
    }

    /// What the "broker" answers to the next cast or forward.
    public enum Answer: Sendable {
        case acknowledged
        case returned
        case nacked
        /// The broker closed the publishing channel: 406 with this text.
        case preconditionFailed(String)
        /// The publish waits (as on a blocked connection) until the test
        /// calls ``releaseHeldCasts()``, then is acknowledged. Casts only.
        case held
    }

    private struct State {
        var events: [Event] = []
        var nextTag: UInt64 = 1
        var staleTags: Set<UInt64> = []
        var source: RPCIncomingSequence.Source?
        var castAnswers: [Answer] = []
        var forwardAnswers: [Answer] = []
        var heldCasts: [CheckedContinuation<Void, Never>] = []
        var releasedHeld = false
        var waiters: [(condition: @Sendable ([Event]) -> Bool, continuation: CheckedContinuation<Void, Never>)] = []
        var capacity = 0
    }

    private let state = Mutex(State())

    public init() {}

    // MARK: Test side

    /// Delivers a request body as the broker would; returns its delivery tag.
    @discardableResult
    public func deliver(_ body: [UInt8], redelivered: Bool = false, queue: RPCQueueKind = .topic) -> UInt64 {
        let (tag, source) = state.withLock { state in
            defer { state.nextTag += 1 }
            return (state.nextTag, state.source)
        }
        let delivery = AMQPDelivery(body: body, routingKey: "executor", redelivered: redelivered, deliveryTag: tag)
        let message = Result { () throws(OsloCodecError) -> RPCRequest in try RPCRequest(decodingBody: body) }
        source?.yield(RPCIncoming(delivery: delivery, queue: queue, message: message))
        return tag
    }

    /// Delivers an oslo request.
    @discardableResult
    public func deliver(_ request: RPCRequest, redelivered: Bool = false) throws -> UInt64 {
        deliver(try request.encodedBody(), redelivered: redelivered)
    }

    /// The consumer channel closes: every delivery so far can no longer be
    /// acknowledged (the broker would redeliver them).
    public func closeChannel() {
        state.withLock { state in
            state.staleTags.formUnion(1 ..< state.nextTag)
        }
    }

    /// The connection ends: the request sequence ends.
    public func endConsuming() {
        state.withLock { $0.source }?.finish()
    }

    /// Answers for the next casts, in order (then: acknowledged).
    public func scriptCasts(_ answers: [Answer]) {
        state.withLock { $0.castAnswers.append(contentsOf: answers) }
    }

    /// Answers for the next forwards, in order (then: acknowledged).
    public func scriptForwards(_ answers: [Answer]) {
        state.withLock { $0.forwardAnswers.append(contentsOf: answers) }
    }

    /// Lets every held cast (and every later `.held` one) go through.
    public func releaseHeldCasts() {
        let held = state.withLock { state in
            state.releasedHeld = true
            defer { state.heldCasts.removeAll() }
            return state.heldCasts
        }
        for continuation in held { continuation.resume() }
    }

    public var events: [Event] { state.withLock { $0.events } }

    /// The capacity the worker consumed with.
    public var capacity: Int { state.withLock { $0.capacity } }

    /// The bodies of the casts the broker took, decoded.
    public func casts(method: String) -> [RPCRequest] {
        events.compactMap { event in
            guard case .cast(method, _, let body) = event else { return nil }
            return try? RPCRequest(decodingBody: body)
        }
    }

    /// Returns once the worker consumes.
    public func waitUntilConsuming() async {
        await waitUntil { events in
            events.contains { if case .startedConsuming = $0 { true } else { false } }
        }
    }

    /// Returns once `condition` holds for the events so far (it runs under
    /// the transport's lock: it must not call the transport).
    public func waitUntil(_ condition: @escaping @Sendable ([Event]) -> Bool) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let satisfied = state.withLock { state -> Bool in
                if condition(state.events) { return true }
                state.waiters.append((condition, continuation))
                return false
            }
            if satisfied { continuation.resume() }
        }
    }

    private func record(_ event: Event) {
        let ready = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.events.append(event)
            var ready: [CheckedContinuation<Void, Never>] = []
            state.waiters.removeAll { waiter in
                guard waiter.condition(state.events) else { return false }
                ready.append(waiter.continuation)
                return true
            }
            return ready
        }
        for continuation in ready { continuation.resume() }
    }

    // MARK: WorkerTransport

    public func startConsuming(capacity: Int) async throws -> RPCIncomingSequence {
        let (sequence, source) = RPCIncomingSequence.makeSource()
        state.withLock { state in
            state.source = source
            state.capacity = capacity
        }
        record(.startedConsuming(capacity: capacity))
        return sequence
    }

    public func stopConsuming() async {
        record(.stoppedConsuming)
        state.withLock { $0.source }?.finish()
    }

    public func acknowledge(_ incoming: RPCIncoming) {
        guard isCurrent(incoming) else { return }
        record(.acknowledged(deliveryTag: incoming.delivery.deliveryTag))
    }

    public func reject(_ incoming: RPCIncoming, requeue: Bool) {
        guard isCurrent(incoming) else { return }
        record(.rejected(deliveryTag: incoming.delivery.deliveryTag, requeue: requeue))
    }

    public func isCurrent(_ incoming: RPCIncoming) -> Bool {
        state.withLock { !$0.staleTags.contains(incoming.delivery.deliveryTag) }
    }

    public func forward(_ incoming: RPCIncoming, toTopic topic: String) async throws -> RPCPublishOutcome {
        let answer = state.withLock { $0.forwardAnswers.isEmpty ? .acknowledged : $0.forwardAnswers.removeFirst() }
        let outcome = try Self.outcome(of: answer)
        if outcome == .acknowledged {
            record(.forwarded(deliveryTag: incoming.delivery.deliveryTag, topic: topic))
        }
        return outcome
    }

    public func cast(_ request: RPCRequest, topic: String) async throws -> RPCPublishOutcome {
        let answer = state.withLock { $0.castAnswers.isEmpty ? .acknowledged : $0.castAnswers.removeFirst() }
        if case .held = answer {
            record(.castHeld(method: request.method))
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.releasedHeld { return true }
                    state.heldCasts.append(continuation)
                    return false
                }
                if now { continuation.resume() }
            }
        }
        do {
            let outcome = try Self.outcome(of: answer)
            if outcome == .acknowledged {
                record(.cast(method: request.method, topic: topic, body: try request.encodedBody()))
            } else {
                record(.castFailed(method: request.method))
            }
            return outcome
        } catch {
            record(.castFailed(method: request.method))
            throw error
        }
    }

    public func reply(to request: RPCRequest, with reply: RPCReply) async throws {
        record(.replied(messageID: request.messageID ?? ""))
    }

    private static func outcome(of answer: Answer) throws -> RPCPublishOutcome {
        switch answer {
        case .acknowledged, .held:
            return .acknowledged
        case .returned:
            return .returned(replyCode: 312, replyText: "NO_ROUTE")
        case .nacked:
            throw AMQPError(code: .publishNacked, message: "the broker nacked the publish")
        case .preconditionFailed(let text):
            throw AMQPError(
                code: .channelClosedByServer, message: "the broker closed the publishing channel before confirming the publish",
                serverReply: AMQPError.ServerReply(scope: .channel, replyCode: 406, replyText: text, classID: 60, methodID: 40)
            )
        }
    }
}
