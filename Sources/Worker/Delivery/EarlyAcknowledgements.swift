import Logging
import Synchronization

/// The requests acknowledged only after their result (start claims on, or
/// safe to rerun) whose action is running. The worker's periodic tick
/// acknowledges those running for nearly `max_unacked_time`, so that
/// RabbitMQ's `consumer_timeout` never closes the channel under a long
/// action. One table for the worker rather than a sleeping task per action:
/// nearly every action ends long before, and a timer per action cost a task,
/// a timer and its cancellation each time.
final class EarlyAcknowledgements: Sendable {
    struct Entry: Sendable {
        let handle: Worker.DeliveryHandle
        let started: ContinuousClock.Instant
        let logger: Logger
    }

    private let entries = Mutex<[ObjectIdentifier: Entry]>([:])

    /// The action of `handle`'s request started now.
    func watch(_ handle: Worker.DeliveryHandle, logger: Logger) {
        let entry = Entry(handle: handle, started: .now, logger: logger)
        entries.withLock { $0[ObjectIdentifier(handle)] = entry }
    }

    /// Its action ended: from now on its request waits for the result to be
    /// sent, however long that takes (acknowledged early, a lost worker
    /// would leave the engine without a result).
    func stopWatching(_ handle: Worker.DeliveryHandle) {
        _ = entries.withLock { $0.removeValue(forKey: ObjectIdentifier(handle)) }
    }

    var count: Int { entries.withLock { $0.count } }

    /// Acknowledges the requests whose action started at or before
    /// `deadline` and is still running; returns those this call
    /// acknowledged.
    func acknowledge(startedBy deadline: ContinuousClock.Instant) -> [Entry] {
        let due = entries.withLock { entries -> [Entry] in
            let due = entries.values.filter { $0.started <= deadline }
            for entry in due { entries.removeValue(forKey: ObjectIdentifier(entry.handle)) }
            return due
        }
        // Outside the lock: acknowledging hands the ack to the connection.
        return due.filter { $0.handle.acknowledge() }
    }
}
