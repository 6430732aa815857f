/// Which deliveries start, wait, or go back to the broker: the worker's
/// slots as a plain value that returns what to do (the worker's shell does
/// it). Every rule here has a unit test without a broker.
///
/// Rules:
/// - at most `capacity` deliveries run at once; others wait in arrival order;
/// - a delivery whose channel has closed (not *current*) never starts: the
///   broker took it back and redelivers it, so starting it would run it twice;
/// - a delivery never waits longer than `holdLimit` (kept under RabbitMQ's
///   `consumer_timeout`, which would close the channel): it goes back;
/// - after ``shutdownRequested()`` nothing starts: waiting deliveries go
///   back at once and later arrivals go back as they come.
public struct DeliveryStateMachine<ID: Hashable & Sendable>: Sendable {
    public enum Action: Equatable, Sendable {
        /// Start handling this delivery (a slot is taken for it).
        case start(ID)
        /// Keep it unacknowledged until a slot frees.
        case wait
        /// Give it back to the broker (basic.reject, requeue): never started.
        case giveBack(ID)
        /// Its channel closed: do nothing with it (no ack is possible; the
        /// broker redelivers it).
        case forget(ID)
    }

    public enum Phase: Equatable, Sendable {
        case consuming
        case draining
    }

    public let capacity: Int
    public let holdLimit: Duration
    public private(set) var phase = Phase.consuming
    public private(set) var running = 0
    private var waiting: [(id: ID, since: ContinuousClock.Instant)] = []

    public init(capacity: Int, holdLimit: Duration) {
        self.capacity = max(1, capacity)
        self.holdLimit = holdLimit
    }

    /// Deliveries received but not started.
    public var waitingCount: Int { waiting.count }

    /// Draining and nothing runs any more.
    public var isDrained: Bool { phase == .draining && running == 0 }

    /// A delivery arrived.
    public mutating func received(_ id: ID, isCurrent: Bool, now: ContinuousClock.Instant) -> Action {
        guard isCurrent else { return .forget(id) }
        guard phase == .consuming else { return .giveBack(id) }
        if running < capacity && waiting.isEmpty {
            running += 1
            return .start(id)
        }
        waiting.append((id, now))
        return .wait
    }

    /// A started delivery is done with (its slot frees): the next waiting
    /// delivery that is still current starts; stale ones are forgotten.
    public mutating func finished(isCurrent: (ID) -> Bool) -> [Action] {
        running = max(0, running - 1)
        return startWaiting(isCurrent: isCurrent)
    }

    /// SIGTERM: nothing starts any more; every waiting delivery goes back.
    public mutating func shutdownRequested() -> [Action] {
        phase = .draining
        let actions = waiting.map { Action.giveBack($0.id) }
        waiting.removeAll()
        return actions
    }

    /// Gives back the deliveries that waited longer than `holdLimit`, and
    /// forgets those whose channel closed meanwhile.
    public mutating func expire(now: ContinuousClock.Instant, isCurrent: (ID) -> Bool) -> [Action] {
        var actions: [Action] = []
        waiting.removeAll { entry in
            if !isCurrent(entry.id) {
                actions.append(.forget(entry.id))
                return true
            }
            if now - entry.since >= holdLimit {
                actions.append(.giveBack(entry.id))
                return true
            }
            return false
        }
        return actions
    }

    /// When the oldest waiting delivery must go back, if any waits.
    public var nextExpiry: ContinuousClock.Instant? {
        waiting.first.map { $0.since + holdLimit }
    }

    private mutating func startWaiting(isCurrent: (ID) -> Bool) -> [Action] {
        var actions: [Action] = []
        while phase == .consuming, running < capacity, !waiting.isEmpty {
            let next = waiting.removeFirst()
            if isCurrent(next.id) {
                running += 1
                actions.append(.start(next.id))
            } else {
                actions.append(.forget(next.id))
            }
        }
        return actions
    }
}

/// When a request's delivery is acknowledged, and whether a redelivered
/// request runs: the worker's delivery promises as decisions.
public enum DeliveryRules {
    public enum Acknowledgement: Equatable, Sendable {
        /// When the action starts (at-most-once without start claims).
        case atStart
        /// Once its result is confirmed by the broker (or at
        /// `max_unacked_time`): a worker that dies mid-action leaves the
        /// request to the broker, which redelivers it.
        case afterResult
    }

    /// Safe-rerun requests are acknowledged after their result (at least
    /// once). Others too when starts are claimed durably, since a
    /// redelivery is then recognized; without claims they are acknowledged
    /// at start (at most once, as Mistral's executor).
    public static func acknowledgement(safeRerun: Bool, hasResultTarget: Bool, claimsEnabled: Bool) -> Acknowledgement {
        guard hasResultTarget else { return .atStart }
        return safeRerun || claimsEnabled ? .afterResult : .atStart
    }

    /// What the start-claim store said about an action execution.
    public enum Claim: Equatable, Sendable {
        /// Recorded now: nobody started it before.
        case firstStart
        /// Some worker started it before.
        case startedBefore
        /// The store could not be reached.
        case unavailable
        /// Claims are off.
        case disabled
    }

    public enum Start: Equatable, Sendable {
        case run
        /// It started before (its acknowledgement was lost): acknowledge and
        /// leave it to the worker running it (or to the engine's heartbeat
        /// check if that worker died). Running it again could do its side
        /// effects twice.
        case skipStartedBefore
        /// Redelivered and not known to be unstarted: fail it with a clear
        /// error, as Mistral's executor does.
        case failNotRerunnable
        /// The claim store must answer first (try again later).
        case retryClaim
    }

    /// Whether a request runs. `redelivered` is the AMQP flag or Mistral's
    /// `_context_redelivered`.
    public static func start(safeRerun: Bool, redelivered: Bool, claim: Claim) -> Start {
        if safeRerun { return .run }
        switch claim {
        case .firstStart:
            return .run
        case .startedBefore:
            return .skipStartedBefore
        case .unavailable:
            // A delivery seen for the first time cannot have started
            // anywhere; a redelivered one may have.
            return redelivered ? .retryClaim : .run
        case .disabled:
            return redelivered ? .failNotRerunnable : .run
        }
    }
}
