/// One `claim` call.
struct ClaimRequest: Sendable {
    let id: UInt64
    let actionExecutionIDs: [String]
}

/// The claim calls waiting for the database and the batching loop's wake-up,
/// as a plain value: each method changes the state and returns what must be
/// resumed, which the caller resumes after leaving the lock. Generic over
/// the waiters (continuations in the store, plain values in tests).
///
/// Calls queue while a statement is in flight and go together in the next
/// one; an idle loop is woken by the first call, so a lone call waits for
/// nothing but its own statement.
struct ClaimQueue<Continuation, LoopWaiter> {
    typealias Request = ClaimRequest

    enum Phase: Equatable {
        /// `run()` has not started: calls queue up for it.
        case notStarted
        case running
        /// Graceful shutdown: queued calls are still served, new ones refused.
        case draining
        /// `run()` ended: every call is refused.
        case stopped
    }

    private(set) var phase = Phase.notStarted
    private var pending: [Request] = []
    private var waiting: [UInt64: Continuation] = [:]
    private var inFlight: Set<UInt64> = []
    private var loopWaiter: LoopWaiter?
    private var lastRequestID: UInt64 = 0
    let maximumBatchSize: Int

    init(maximumBatchSize: Int) {
        self.maximumBatchSize = max(1, maximumBatchSize)
    }

    var pendingCount: Int { pending.count }

    mutating func makeRequestID() -> UInt64 {
        lastRequestID &+= 1
        return lastRequestID
    }

    enum EnqueueAction {
        case none
        case wakeLoop(LoopWaiter)
        case fail(Continuation, any Error)
    }

    /// Queues a call, unless the store no longer takes any or the caller was cancelled.
    mutating func enqueue(_ request: Request, continuation: Continuation, isCancelled: Bool) -> EnqueueAction {
        if isCancelled {
            return .fail(continuation, CancellationError())
        }
        switch phase {
        case .draining, .stopped:
            return .fail(continuation, StartClaimsError(code: .notRunning, message: "the start-claims store is stopping or stopped; nothing was claimed"))
        case .notStarted, .running:
            pending.append(request)
            waiting[request.id] = continuation
            if let loopWaiter {
                self.loopWaiter = nil
                return .wakeLoop(loopWaiter)
            }
            return .none
        }
    }

    enum NextAction {
        /// Run these calls in one statement.
        case batch([Request])
        /// Nothing queued: park until a call comes.
        case wait
        /// The loop is done.
        case stop
    }

    /// The next calls to send, in arrival order, with at most
    /// `maximumBatchSize` ids together (a single larger call goes alone).
    mutating func nextBatch() -> NextAction {
        guard !pending.isEmpty, phase != .stopped else {
            return phase == .running || phase == .notStarted ? .wait : .stop
        }
        var count = 0
        var taken = 0
        for request in pending {
            if taken > 0 && count + request.actionExecutionIDs.count > maximumBatchSize { break }
            count += request.actionExecutionIDs.count
            taken += 1
        }
        let batch = Array(pending.prefix(taken))
        pending.removeFirst(taken)
        for request in batch { inFlight.insert(request.id) }
        return .batch(batch)
    }

    /// Parks the loop; false when there is work (or an end) already, so it must not wait.
    mutating func park(_ continuation: LoopWaiter) -> Bool {
        guard pending.isEmpty, phase == .running || phase == .notStarted else { return false }
        loopWaiter = continuation
        return true
    }

    /// The statement for this call is done: its waiter, unless it left.
    mutating func complete(_ requestID: UInt64) -> Continuation? {
        inFlight.remove(requestID)
        return waiting.removeValue(forKey: requestID)
    }

    /// The caller was cancelled: its waiter, to resume with CancellationError.
    /// A call whose statement is in flight may still be recorded.
    mutating func abandon(_ requestID: UInt64) -> Continuation? {
        if let index = pending.firstIndex(where: { $0.id == requestID }) {
            pending.remove(at: index)
        }
        return waiting.removeValue(forKey: requestID)
    }

    /// `run()` started; false if it had started before (one loop per store).
    mutating func start() -> Bool {
        guard phase == .notStarted else { return false }
        phase = .running
        return true
    }

    /// Graceful shutdown: serve what is queued, refuse new calls.
    mutating func drain() -> LoopWaiter? {
        if phase == .running || phase == .notStarted { phase = .draining }
        defer { loopWaiter = nil }
        return loopWaiter
    }

    /// The end: every waiter (queued or in flight) and the parked loop.
    mutating func stop() -> (waiters: [Continuation], loop: LoopWaiter?) {
        phase = .stopped
        let waiters = Array(waiting.values)
        waiting.removeAll()
        pending.removeAll()
        inFlight.removeAll()
        defer { loopWaiter = nil }
        return (waiters, loopWaiter)
    }
}

/// How one batch's ids map to its calls: each distinct id (compared byte for
/// byte, as PostgreSQL compares text) is claimed for the first call that
/// names it; a later call in the same batch naming it sees it as claimed
/// before, since the first call's action starts first.
struct BatchPlan {
    /// The distinct ids to insert, in order.
    private(set) var ids: [String] = []
    /// Per call: the ids it claims itself, and the ids an earlier call of the batch claims.
    private(set) var owned: [[[UInt8]]] = []
    private(set) var claimedEarlierInBatch: [Set<String>] = []

    init(_ requests: [ClaimQueue.Request]) {
        var owner: [[UInt8]: Int] = [:]
        for (index, request) in requests.enumerated() {
            var mine: [[UInt8]] = []
            var earlier: Set<String> = []
            for id in request.actionExecutionIDs {
                let key = Array(id.utf8)
                if let first = owner[key] {
                    if first != index { earlier.insert(id) }
                } else {
                    owner[key] = index
                    mine.append(key)
                    ids.append(id)
                }
            }
            owned.append(mine)
            claimedEarlierInBatch.append(earlier)
        }
    }

    /// What each call gets back, given the ids the INSERT added (the others
    /// were there before).
    func results(inserted: Set<[UInt8]>) -> [Set<String>] {
        owned.indices.map { index in
            var before = claimedEarlierInBatch[index]
            for key in owned[index] where !inserted.contains(key) {
                before.insert(String(decoding: key, as: UTF8.self))
            }
            return before
        }
    }
}
