import CLibPQ
import Dispatch
import Synchronization

/// libpq's cancel key for one server session (`PGcancel *`): what PQcancel
/// needs to ask the server to stop that session's running statement.
final class LibPQCancelToken: @unchecked Sendable {
    // @unchecked Sendable: the pointer never changes, libpq documents PQcancel
    // as safe to call from any thread (even a signal handler) while the
    // connection is in use, and deinit frees the object exactly once, when no
    // thread can still be using it.

    private let cancel: OpaquePointer

    init?(_ handle: OpaquePointer) {
        guard let cancel = PQgetCancel(handle) else { return nil }
        self.cancel = cancel
    }

    deinit {
        PQfreeCancel(cancel)
    }

    /// Sends the cancel request: blocking (it opens a connection to the server
    /// and waits for it to be processed), so never called on the cooperative pool.
    func sendCancelRequest() {
        var errorBuffer = [CChar](repeating: 0, count: 256)
        _ = PQcancel(cancel, &errorBuffer, Int32(errorBuffer.count))
    }
}

/// Connects a task's cancellation to one statement on the connection queue.
///
/// The task may be cancelled before the statement starts (then it is not
/// sent), while it runs (then a cancel request goes to the server from a
/// global queue), or after it ended (nothing happens). `finish()` waits for a
/// cancel request in flight so that it cannot stop the next statement.
final class QueryCancellation: Sendable {
    private struct State {
        var cancelled = false
        var finished = false
        var running: LibPQCancelToken?
    }

    private let state = Mutex(State())
    private let requestsInFlight = DispatchGroup()

    /// On the connection queue, just before sending: false if the task was cancelled already.
    func begin(with token: LibPQCancelToken?) -> Bool {
        state.withLock { state in
            guard !state.cancelled else { return false }
            state.running = token
            return true
        }
    }

    /// From the task's cancellation handler, on any thread.
    func cancel() {
        let token: LibPQCancelToken? = state.withLock { state in
            state.cancelled = true
            guard !state.finished, let token = state.running else { return nil }
            requestsInFlight.enter()
            return token
        }
        guard let token else { return }
        DispatchQueue.global().async {
            token.sendCancelRequest()
            self.requestsInFlight.leave()
        }
    }

    /// On the connection queue, once the statement returned: whether the task
    /// was cancelled meanwhile.
    func finish() -> Bool {
        let cancelled = state.withLock { state in
            state.finished = true
            state.running = nil
            return state.cancelled
        }
        requestsInFlight.wait()
        return cancelled
    }
}
