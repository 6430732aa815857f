import Synchronization

/// A count that tasks raise and others wait for: the way a test learns that
/// something happened (a handler ran, a request arrived, a line was logged)
/// without sleeping or polling.
public final class AsyncCounter: Sendable {
    private struct Waiter {
        var target: Int
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var count: Int
        var nextWaiter = 0
        var waiters: [Int: Waiter] = [:]
    }

    private let state: Mutex<State>

    public init(_ initial: Int = 0) {
        state = Mutex(State(count: initial))
    }

    public var value: Int { state.withLock { $0.count } }

    /// Adds `amount` and wakes the waiters whose count is reached; returns the new count.
    @discardableResult
    public func increment(by amount: Int = 1) -> Int {
        let (count, reached) = state.withLock { state -> (Int, [CheckedContinuation<Void, any Error>]) in
            state.count += amount
            let count = state.count
            let reached = state.waiters.filter { $0.value.target <= count }
            for id in reached.keys {
                state.waiters[id] = nil
            }
            return (count, reached.values.map(\.continuation))
        }
        for continuation in reached {
            continuation.resume()
        }
        return count
    }

    /// Waits until the count is at least `target`, failing with
    /// ``TestTimeout`` after `limit` (a guard against a hang).
    public func wait(untilAtLeast target: Int, limit: Duration = .seconds(60), _ what: String = "a count") async throws {
        if value >= target {
            return
        }
        try await withTimeout(limit, "\(what) to reach \(target) (it is \(value))") {
            try await self.waitWithoutLimit(untilAtLeast: target)
        }
    }

    /// Waits until `condition` holds, checking it again each time the count
    /// moves (no polling): for state that the code which raises this counter
    /// changes first. Fails with ``TestTimeout`` after `limit`.
    public func waitUntil(
        _ what: String, limit: Duration = .seconds(60), _ condition: @escaping @Sendable () -> Bool
    ) async throws {
        try await withTimeout(limit, what) {
            while true {
                // Read the count before the condition: a change between the
                // two leaves the count past `seen`, so the wait returns at once.
                let seen = self.value
                if condition() {
                    return
                }
                try await self.waitWithoutLimit(untilAtLeast: seen + 1)
            }
        }
    }

    /// Waits without a limit; cancellation ends the wait with `CancellationError`.
    private func waitWithoutLimit(untilAtLeast target: Int) async throws {
        let id = state.withLock { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let ready = state.withLock { state -> Result<Void, any Error>? in
                    if state.count >= target {
                        return .success(())
                    }
                    // The cancellation handler may have run before this
                    // waiter was registered; it found nothing to resume.
                    if Task.isCancelled {
                        return .failure(CancellationError())
                    }
                    state.waiters[id] = Waiter(target: target, continuation: continuation)
                    return nil
                }
                if let ready {
                    continuation.resume(with: ready)
                }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }
}

/// A one-time event: raised once by one task, awaited by others (a latch).
public final class Signal: Sendable {
    private let counter = AsyncCounter()

    public init() {}

    /// Raises the signal; later raises change nothing.
    public func raise() {
        if counter.value == 0 {
            counter.increment()
        }
    }

    public var isRaised: Bool { counter.value > 0 }

    /// Waits until the signal is raised, failing with ``TestTimeout`` after
    /// `limit` (a guard against a hang).
    public func wait(limit: Duration = .seconds(60), _ what: String = "a signal") async throws {
        try await counter.wait(untilAtLeast: 1, limit: limit, what)
    }
}
