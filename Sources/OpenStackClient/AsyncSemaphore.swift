import Synchronization

/// A counting semaphore for tasks: at most `permits` holders at a time,
/// the others wait in arrival order without blocking a thread. A waiter
/// whose task is cancelled leaves the queue and gets `CancellationError`.
final class AsyncSemaphore: Sendable {
    private struct State {
        var permits: Int
        var waiters = WaitQueue<Bool>()
    }

    private let state: Mutex<State>

    init(permits: Int) {
        state = Mutex(State(permits: max(1, permits)))
    }

    /// Waits for a permit. Every successful call needs one ``release()``.
    func acquire() async throws {
        try Task.checkCancellation()
        let id: UInt64? = state.withLock { state in
            if state.permits > 0 && state.waiters.isEmpty {
                state.permits -= 1
                return nil
            }
            return state.waiters.reserve()
        }
        guard let id else { return }
        let acquired = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                if let outcome = state.withLock({ $0.waiters.attach(id, continuation) }) {
                    continuation.resume(returning: outcome)
                }
            }
        } onCancel: {
            state.withLock { $0.waiters.cancel(id, false) }?.resume()
        }
        guard acquired else { throw CancellationError() }
        if Task.isCancelled {
            // The permit arrived as the task was cancelled: pass it on.
            release()
            throw CancellationError()
        }
    }

    /// Returns a permit; the first waiter, if any, gets it.
    func release() {
        let resumption = state.withLock { state -> WaitQueue<Bool>.Resumption? in
            if let handedOver = state.waiters.settleFirst(true) { return handedOver }
            state.permits += 1
            return nil
        }
        resumption?.resume()
    }

    /// Runs `operation` holding a permit.
    func withPermit<Result: Sendable>(_ operation: () async throws -> Result) async throws -> Result {
        try await acquire()
        defer { release() }
        return try await operation()
    }
}
