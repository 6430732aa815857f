import Synchronization

/// Start claims kept in memory, for unit tests of the worker's logic: the
/// same answers as the PostgreSQL store (ids compared byte for byte, the
/// same ids refused), plus a switch that makes it unreachable.
public final class InMemoryStartClaims: StartClaimStore {
    private struct State {
        var claimed: [[UInt8]: String] = [:]
        var failure: (any Error & Sendable)?
        var calls = 0
    }

    private let state = Mutex(State())
    /// Recorded as the claims' worker (kept for symmetry with the PostgreSQL store).
    public let worker: String

    public init(worker: String = "in-memory", claimed: Set<String> = []) {
        self.worker = worker
        state.withLock { state in
            for id in claimed { state.claimed[Array(id.utf8)] = id }
        }
    }

    public func claim(_ actionExecutionIDs: [String]) async throws -> Set<String> {
        try StartClaimIDs.validate(actionExecutionIDs)
        return try state.withLock { state in
            state.calls &+= 1
            if let failure = state.failure { throw failure }
            var before: Set<String> = []
            var newInThisCall: Set<[UInt8]> = []
            for id in actionExecutionIDs {
                let key = Array(id.utf8)
                // An id repeated within one call was claimed by that call.
                if newInThisCall.contains(key) { continue }
                if state.claimed[key] != nil {
                    before.insert(id)
                } else {
                    state.claimed[key] = id
                    newInThisCall.insert(key)
                }
            }
            return before
        }
    }

    /// Makes every following claim throw `error` (nil: work again).
    public func setFailure(_ error: (any Error & Sendable)?) {
        state.withLock { $0.failure = error }
    }

    /// The ids claimed so far, ordered by their UTF-8 bytes (a list, not a
    /// set: `Set<String>` would merge canonically equivalent spellings such
    /// as "é" and "e\u{301}", which are two ids).
    public var claimedIDs: [String] {
        state.withLock { state in
            state.claimed.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map(\.value)
        }
    }

    /// How many times `claim` was called (also the calls that failed).
    public var claimCalls: Int {
        state.withLock { $0.calls }
    }
}
