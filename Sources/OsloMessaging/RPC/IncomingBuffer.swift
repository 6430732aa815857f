import Synchronization

/// The single-reader FIFO behind ``RPCIncomingSequence``.
///
/// Unlike `AsyncThrowingStream`, a waiting `next()` does not end when its
/// task is cancelled: it calls `onCancel` (the server's stop request) and
/// keeps delivering what was already received until the producer finishes.
/// A stream would drop its buffered deliveries on cancellation, leaving them
/// unacknowledged on the channel until the connection closes.
final class IncomingBuffer<Element: Sendable>: Sendable {
    private struct State {
        var elements: [Element] = []
        var head = 0
        var waiter: UnsafeContinuation<Element?, any Error>?
        var finished = false
        var failure: (any Error)?
    }

    private let state = Mutex(State())
    private let onCancel: @Sendable () -> Void

    init(onCancel: @escaping @Sendable () -> Void) {
        self.onCancel = onCancel
    }

    /// Adds an element (wakes the reader). Returns `false` after `finish`.
    @discardableResult
    func append(_ element: Element) -> Bool {
        let outcome = state.withLock { state -> AppendOutcome<Element> in
            if state.finished {
                return .rejected
            }
            if let waiter = state.waiter {
                state.waiter = nil
                return .handOver(waiter)
            }
            state.elements.append(element)
            return .buffered
        }
        switch outcome {
        case .rejected:
            return false
        case .buffered:
            return true
        case .handOver(let waiter):
            waiter.resume(returning: element)
            return true
        }
    }

    /// Ends the sequence after the buffered elements, with `failure` if given.
    func finish(throwing failure: (any Error)? = nil) {
        let waiter = state.withLock { state -> UnsafeContinuation<Element?, any Error>? in
            guard !state.finished else {
                return nil
            }
            state.finished = true
            state.failure = failure
            guard let waiter = state.waiter else {
                return nil
            }
            // The waiter gets the failure now; later calls just end.
            state.waiter = nil
            state.failure = nil
            return waiter
        }
        if let failure {
            waiter?.resume(throwing: failure)
        } else {
            waiter?.resume(returning: nil)
        }
    }

    /// The next element; waits for one. Cancellation of the waiting task
    /// calls `onCancel` but does not end the wait (see the type's comment).
    func next() async throws -> Element? {
        let onCancel = self.onCancel
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Element?, any Error>) in
                let outcome = state.withLock { state -> NextOutcome<Element> in
                    if state.head < state.elements.count {
                        let element = state.elements[state.head]
                        state.head += 1
                        if state.head == state.elements.count {
                            state.elements.removeAll(keepingCapacity: true)
                            state.head = 0
                        }
                        return .element(element)
                    }
                    if state.finished {
                        // Report a failure once; afterwards the sequence just ends.
                        let failure = state.failure
                        state.failure = nil
                        return .end(failure)
                    }
                    precondition(state.waiter == nil, "only one task may iterate an RPCIncomingSequence")
                    state.waiter = continuation
                    return .wait
                }
                switch outcome {
                case .element(let element): continuation.resume(returning: element)
                case .end(nil): continuation.resume(returning: nil)
                case .end(let failure?): continuation.resume(throwing: failure)
                case .wait: break
                }
            }
        } onCancel: {
            onCancel()
        }
    }
}

private enum AppendOutcome<Element: Sendable> {
    case rejected
    case buffered
    case handOver(UnsafeContinuation<Element?, any Error>)
}

private enum NextOutcome<Element: Sendable> {
    case element(Element)
    case end((any Error)?)
    case wait
}
