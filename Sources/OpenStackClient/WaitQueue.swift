/// Tasks waiting for something, in arrival order; kept inside the lock of
/// its owner (``AsyncSemaphore``, ``SingleFlight``).
///
/// Waiting happens in two steps so that nothing is lost between them: a
/// waiter first *reserves* a place while its owner decides, under the lock,
/// that it must wait; then it *attaches* its continuation. An outcome that
/// arrives in between (or a cancellation) is kept in the place and handed
/// over on attach.
struct WaitQueue<Outcome: Sendable> {
    private enum Place {
        case reserved
        case waiting(CheckedContinuation<Outcome, Never>)
        case settled(Outcome)
    }

    /// A continuation to resume, outside the lock.
    struct Resumption {
        fileprivate let continuation: CheckedContinuation<Outcome, Never>?
        fileprivate let outcome: Outcome

        func resume() { continuation?.resume(returning: outcome) }
    }

    private var places: [UInt64: Place] = [:]
    /// The waiters not yet settled, first come first.
    private var order: [UInt64] = []
    private var nextID: UInt64 = 0

    var isEmpty: Bool { order.isEmpty }

    mutating func reserve() -> UInt64 {
        let id = nextID
        nextID += 1
        places[id] = .reserved
        order.append(id)
        return id
    }

    /// Stores the waiter's continuation, or returns the outcome it already has.
    mutating func attach(_ id: UInt64, _ continuation: CheckedContinuation<Outcome, Never>) -> Outcome? {
        switch places[id] {
        case .reserved:
            places[id] = .waiting(continuation)
            return nil
        case .settled(let outcome):
            places[id] = nil
            return outcome
        case .waiting, nil:
            preconditionFailure("a waiter attached twice")
        }
    }

    /// Settles the first waiter; nil when none waits.
    mutating func settleFirst(_ outcome: Outcome) -> Resumption? {
        guard !order.isEmpty else { return nil }
        return settle(order.removeFirst(), outcome)
    }

    mutating func settleAll(_ outcome: Outcome) -> [Resumption] {
        let ids = order
        order.removeAll()
        return ids.map { settle($0, outcome) }
    }

    /// Settles `id` with `outcome` if it is still waiting (a cancelled
    /// waiter leaves the queue); nil when it was already settled.
    mutating func cancel(_ id: UInt64, _ outcome: Outcome) -> Resumption? {
        guard let index = order.firstIndex(of: id) else { return nil }
        order.remove(at: index)
        return settle(id, outcome)
    }

    private mutating func settle(_ id: UInt64, _ outcome: Outcome) -> Resumption {
        switch places[id] {
        case .waiting(let continuation):
            places[id] = nil
            return Resumption(continuation: continuation, outcome: outcome)
        case .reserved:
            places[id] = .settled(outcome)
            return Resumption(continuation: nil, outcome: outcome)
        case .settled, nil:
            preconditionFailure("a waiter settled twice")
        }
    }
}
