import Synchronization

/// Runs an async operation once and remembers its result, without a task
/// of its own: the first caller runs it in its own task, callers arriving
/// meanwhile wait for that run.
///
/// A failure is not remembered: the waiting callers get it and the next
/// caller runs the operation again. A run ended by its caller's
/// cancellation is not shared, though: the next waiting caller runs the
/// operation itself. A waiting caller that is cancelled stops waiting
/// (`CancellationError`).
final class AsyncOnce<Value: Sendable>: Sendable {
    private enum Wake {
        case value(Value)
        case failure(any Error)
        case run
    }

    private struct State {
        enum Phase {
            case idle, running, done(Value)
        }

        var phase = Phase.idle
        /// Callers waiting for the running operation, oldest first.
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Wake, Never>)] = []
        var nextWaiterID: UInt64 = 0
    }

    private let state = Mutex(State())

    init() {}

    /// The remembered value, or the value of `operation` run now (or by the
    /// caller already running it).
    func value(_ operation: () async throws -> Value) async throws -> Value {
        let id = state.withLock { state in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        let wake = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Wake, Never>) in
                let immediate = state.withLock { state -> Wake? in
                    switch state.phase {
                    case .done(let value):
                        return .value(value)
                    case .idle:
                        state.phase = .running
                        return .run
                    case .running:
                        if Task.isCancelled {
                            return .failure(CancellationError())
                        }
                        state.waiters.append((id, continuation))
                        return nil
                    }
                }
                if let immediate {
                    continuation.resume(returning: immediate)
                }
            }
        } onCancel: {
            let continuation = state.withLock { state in
                state.waiters.firstIndex { $0.id == id }.map { state.waiters.remove(at: $0).continuation }
            }
            continuation?.resume(returning: .failure(CancellationError()))
        }
        switch wake {
        case .value(let value):
            return value
        case .failure(let error):
            throw error
        case .run:
            break
        }
        do {
            let value = try await operation()
            let waiters = state.withLock { state in
                state.phase = .done(value)
                defer { state.waiters.removeAll() }
                return state.waiters
            }
            for waiter in waiters {
                waiter.continuation.resume(returning: .value(value))
            }
            return value
        } catch {
            let cancelled = Task.isCancelled
            let wakes = state.withLock { state -> [(CheckedContinuation<Wake, Never>, Wake)] in
                if cancelled, !state.waiters.isEmpty {
                    // Our cancellation is ours alone: the next caller runs it.
                    return [(state.waiters.removeFirst().continuation, .run)]
                }
                state.phase = .idle
                defer { state.waiters.removeAll() }
                return state.waiters.map { ($0.continuation, .failure(error)) }
            }
            for (continuation, wake) in wakes {
                continuation.resume(returning: wake)
            }
            throw error
        }
    }

    /// Forgets the remembered value if `shouldForget` says so: the next
    /// caller runs the operation again.
    func forget(if shouldForget: (Value) -> Bool) {
        state.withLock { state in
            if case .done(let value) = state.phase, shouldForget(value) {
                state.phase = .idle
            }
        }
    }
}
