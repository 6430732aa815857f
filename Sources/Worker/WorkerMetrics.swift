import CoreMetrics
import Synchronization

/// The worker's metrics (swift-metrics; served as Prometheus text by the
/// worker command). Low cardinality: the `action` label is the name of one
/// of this worker's own actions, `other` for an action it does not
/// implement (relayed or refused), `unknown` for a message it could not
/// read; no ids anywhere.
///
/// Every metric object is made once (per label set): the hot path is a
/// dictionary lookup under a lock and an atomic add.
public final class WorkerMetrics: Sendable {
    /// How a request ended. Every delivery the worker settles counts once
    /// here, or in `mistral_actions_requests_returned_total` when it went
    /// back to the queue unstarted.
    public enum Outcome: String, Sendable, CaseIterable {
        /// One of our actions ran and returned a result.
        case succeeded
        /// One of our actions ran and failed (an error result, bad input).
        case failed
        /// One of our actions ran past the request's timeout.
        case timedOut = "timed_out"
        /// One of our actions was cancelled by shutdown.
        case cancelled
        /// Relayed to the fallback topic (Python executors).
        case relayed
        /// Not run, and an error result sent: refused in swift-only mode,
        /// a redelivery that is not safe to rerun, a relay that no queue took,
        /// an RPC method other than run_action.
        case rejected
        /// Not run again: a redelivery that had started before, or a duplicate message.
        case skipped
        /// The message or its run_action arguments could not be read.
        case unreadable
    }

    /// The `action` label of actions this worker does not implement.
    public static let otherAction = "other"
    /// The `action` label of messages that could not be read.
    public static let unknownAction = "unknown"

    /// Names, help texts and histogram buckets (seconds), for the exposition.
    public static let descriptions: [(name: String, help: String, buckets: [Double]?)] = [
        ("mistral_actions_requests_total", "Requests settled by the worker, by action and outcome.", nil),
        ("mistral_actions_requests_returned_total", "Deliveries given back to the queue unstarted (shutdown, a relay not confirmed, a wait past max_unacked_time).", nil),
        ("mistral_actions_action_duration_seconds", "How long this worker's own actions ran.", [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600]),
        ("mistral_actions_slots_used", "Action slots busy (running requests).", nil),
        ("mistral_actions_slots_available", "Action slots free (concurrency minus busy).", nil),
        ("mistral_actions_publish_confirm_seconds", "Time from publishing a result or relay to the broker's confirmation.", [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]),
        ("mistral_actions_heartbeats_sent_total", "report_running_actions messages the broker took for the engine.", nil),
        ("mistral_actions_relay_unroutable_total", "Relays returned by the broker: no queue bound to the fallback topic.", nil),
    ]

    private struct Key: Hashable {
        var action: String
        var outcome: Outcome
    }

    private let factory: any MetricsFactory
    private let requests = Mutex<[Key: Counter]>([:])
    private let durations = Mutex<[String: Timer]>([:])
    private let returned: Counter
    private let slotsUsed: Gauge
    private let slotsAvailable: Gauge
    private let publishConfirm: Timer
    private let heartbeatsSent: Counter
    private let relayUnroutable: Counter

    /// Metrics made by `factory` (default: the bootstrapped MetricsSystem's,
    /// which does nothing unless the process bootstrapped one).
    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
        returned = Counter(label: "mistral_actions_requests_returned_total", factory: factory)
        slotsUsed = Gauge(label: "mistral_actions_slots_used", factory: factory)
        slotsAvailable = Gauge(label: "mistral_actions_slots_available", factory: factory)
        publishConfirm = Timer(label: "mistral_actions_publish_confirm_seconds", factory: factory)
        heartbeatsSent = Counter(label: "mistral_actions_heartbeats_sent_total", factory: factory)
        relayUnroutable = Counter(label: "mistral_actions_relay_unroutable_total", factory: factory)
    }

    /// Counts a settled request.
    public func request(action: String, outcome: Outcome) {
        let key = Key(action: action, outcome: outcome)
        let counter = requests.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(
                label: "mistral_actions_requests_total",
                dimensions: [("action", action), ("outcome", outcome.rawValue)],
                factory: factory
            )
            counters[key] = counter
            return counter
        }
        counter.increment()
    }

    /// Records how long one of our actions ran.
    public func actionDuration(action: String, _ duration: Duration) {
        let timer = durations.withLock { timers in
            if let timer = timers[action] { return timer }
            let timer = Timer(label: "mistral_actions_action_duration_seconds", dimensions: [("action", action)], factory: factory)
            timers[action] = timer
            return timer
        }
        timer.recordNanoseconds(duration.nanosecondsClamped)
    }

    /// A delivery given back to the queue unstarted.
    func returnedToQueue() { returned.increment() }

    /// The broker confirmed a publish (a result or a relay) after `duration`.
    func publishConfirmed(after duration: Duration) { publishConfirm.recordNanoseconds(duration.nanosecondsClamped) }

    /// The broker took a report_running_actions message.
    func heartbeatSent() { heartbeatsSent.increment() }

    /// A relay the broker returned: no queue on the fallback topic.
    func relayReturned() { relayUnroutable.increment() }

    /// The slots: busy and free.
    func slots(used: Int, capacity: Int) {
        slotsUsed.record(used)
        slotsAvailable.record(max(0, capacity - used))
    }
}

extension Duration {
    /// Nanoseconds, saturating at Int64's range (a Duration can hold more).
    var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (total, overflow2) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
        if overflow2 { return seconds < 0 ? .min : .max }
        return total
    }
}
