import Synchronization

/// A value fetched once and shared: concurrent callers wait for the one
/// fetch in flight instead of starting their own, and later callers get
/// the stored value while it is usable.
///
/// A failed fetch is not stored; the callers waiting for it get its error.
/// When the fetching task is cancelled, a waiting caller takes over.
final class SingleFlight<Value: Sendable>: Sendable {
    private enum Phase {
        case empty
        case fetching
        case ready(Value)
    }

    private enum Outcome: Sendable {
        case value(Value)
        case failure(any Error)
        /// The fetching task was cancelled: try again.
        case retry
        case cancelled
    }

    private enum Step {
        case use(Value)
        case fetch
        case wait(UInt64)
    }

    private struct State {
        var phase: Phase = .empty
        var waiters = WaitQueue<Outcome>()
    }

    private let state = Mutex(State())

    init() {}

    /// The stored value if `isUsable` accepts it, else the result of a
    /// (shared) `fetch`.
    func value(
        isUsable: (Value) -> Bool = { _ in true },
        fetch: () async throws -> Value
    ) async throws -> Value {
        while true {
            try Task.checkCancellation()
            let step = state.withLock { state -> Step in
                switch state.phase {
                case .ready(let value) where isUsable(value):
                    return .use(value)
                case .empty, .ready:
                    state.phase = .fetching
                    return .fetch
                case .fetching:
                    return .wait(state.waiters.reserve())
                }
            }
            switch step {
            case .use(let value):
                return value
            case .fetch:
                let value: Value
                do {
                    value = try await fetch()
                } catch {
                    let cancelled = error is CancellationError || Task.isCancelled
                    let resumptions = state.withLock { state in
                        state.phase = .empty
                        return state.waiters.settleAll(cancelled ? .retry : .failure(error))
                    }
                    resumptions.forEach { $0.resume() }
                    throw error
                }
                let resumptions = state.withLock { state in
                    state.phase = .ready(value)
                    return state.waiters.settleAll(.value(value))
                }
                resumptions.forEach { $0.resume() }
                return value
            case .wait(let id):
                let outcome = await withTaskCancellationHandler {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
                        if let outcome = state.withLock({ $0.waiters.attach(id, continuation) }) {
                            continuation.resume(returning: outcome)
                        }
                    }
                } onCancel: {
                    state.withLock { $0.waiters.cancel(id, .cancelled) }?.resume()
                }
                switch outcome {
                case .value(let value): return value
                case .failure(let error): throw error
                case .retry: continue
                case .cancelled: throw CancellationError()
                }
            }
        }
    }

    /// Forgets the stored value if `predicate` accepts it (a fetch in
    /// flight is not affected).
    func invalidate(where predicate: (Value) -> Bool) {
        state.withLock { state in
            if case .ready(let value) = state.phase, predicate(value) {
                state.phase = .empty
            }
        }
    }
}
