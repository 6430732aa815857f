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
        state.withLock { state in
            guard let count = state.running[id] else { return }
            if count <= 1 { state.running[id] = nil } else { state.running[id] = count - 1 }
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
