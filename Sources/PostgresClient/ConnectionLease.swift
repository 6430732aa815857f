import Synchronization

/// First-come, first-served exclusive use of a connection by one task at a
/// time: a transaction holds it from BEGIN to COMMIT so that statements of
/// other tasks cannot land inside it; single statements hold it briefly.
final class ConnectionLease: Sendable {
    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var isHeld = false
        var waiters: [Waiter] = []
        var nextWaiterID: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Waits for the lease. With `cancellable`, a cancelled task stops waiting
    /// with CancellationError; without, it waits regardless (cleanup such as
    /// ROLLBACK or releasing a lock must run even in a cancelled task).
    func acquire(cancellable: Bool) async throws {
        let acquired = state.withLock { state in
            guard !state.isHeld else { return false }
            state.isHeld = true
            return true
        }
        if acquired { return }
        if !cancellable {
            try await withCheckedThrowingContinuation { continuation in
                enqueueOrTake(continuation, id: nil, cancellable: false)
            }
            return
        }
        let id = state.withLock { state in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                enqueueOrTake(continuation, id: id, cancellable: true)
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    private func enqueueOrTake(_ continuation: CheckedContinuation<Void, any Error>, id: UInt64?, cancellable: Bool) {
        enum Outcome { case acquired, cancelled, waiting }
        let outcome = state.withLock { state -> Outcome in
            // Checked under the lock: a cancellation handler that ran before
            // this waiter was queued found nothing to remove.
            if cancellable && Task.isCancelled { return .cancelled }
            if !state.isHeld {
                state.isHeld = true
                return .acquired
            }
            state.waiters.append(Waiter(id: id ?? 0, continuation: continuation))
            return .waiting
        }
        switch outcome {
        case .acquired: continuation.resume()
        case .cancelled: continuation.resume(throwing: CancellationError())
        case .waiting: break
        }
    }

    /// Hands the lease to the longest waiter, or frees it.
    func release() {
        let next = state.withLock { state -> Waiter? in
            guard !state.waiters.isEmpty else {
                state.isHeld = false
                return nil
            }
            return state.waiters.removeFirst()  // stays held: ownership passes to the waiter
        }
        next?.continuation.resume()
    }
}
