import Synchronization

/// The action executions this worker is running, for heartbeats.
///
/// Mistral's engine fails a running action whose last heartbeat is older
/// than `check_interval × max_missed_heartbeats`; a new one is protected by
/// `first_heartbeat_timeout` (an hour) until its first heartbeat. Like the
/// Python executor, the worker reports each action as it starts and then all
/// running actions every `check_interval`. Starts close together are sent in
/// one message (coalesced), which changes nothing for the engine: it only
/// stamps `last_heartbeat` for each id it receives.
public final class RunningActions: Sendable {
    struct State {
        var running: [String: Int] = [:]
        var newlyStarted: [String] = []
        /// Tasks waiting for an id to finish, by id.
        var waiters: [String: [Int: CheckedContinuation<Void, Never>]] = [:]
        var nextWaiter = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Records a started action execution; it is included in the next start report.
    public func started(_ id: String) {
        state.withLock { state in
            state.running[id, default: 0] += 1
            state.newlyStarted.append(id)
        }
    }

    /// Records a finished action execution.
    public func finished(_ id: String) {
        let waiting = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard let count = state.running[id] else { return [] }
            if count > 1 {
                state.running[id] = count - 1
                return []
            }
            state.running[id] = nil
            return state.waiters.removeValue(forKey: id).map { Array($0.values) } ?? []
        }
        for continuation in waiting { continuation.resume() }
    }

    /// Whether `id` is running here (its result not yet sent).
    public func contains(_ id: String) -> Bool {
        state.withLock { $0.running[id] != nil }
    }

    /// Returns once `id` is no longer running here (at once if it is not),
    /// or when the calling task is cancelled.
    public func waitUntilFinished(_ id: String) async {
        let key = state.withLock { state -> Int in
            defer { state.nextWaiter &+= 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    guard state.running[id] != nil, !Task.isCancelled else { return true }
                    state.waiters[id, default: [:]][key] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
                let removed = state.waiters[id]?.removeValue(forKey: key)
                if state.waiters[id]?.isEmpty == true { state.waiters[id] = nil }
                return removed
            }
            continuation?.resume()
        }
    }

    /// Ids started since the last call that are still running.
    public func takeNewlyStarted() -> [String] {
        state.withLock { state in
            let ids = state.newlyStarted.filter { state.running[$0] != nil }
            state.newlyStarted.removeAll(keepingCapacity: true)
            var seen = Set<String>()
            return ids.filter { seen.insert($0).inserted }
        }
    }

    /// Every running id, sorted.
    public var all: [String] {
        state.withLock { $0.running.keys.sorted() }
    }

    public var count: Int {
        state.withLock { $0.running.count }
    }
}
