/// The decisions of the connection thread, as a plain value without C types
/// or I/O: whether a command runs now, waits for a connection, is held while
/// the broker blocks publishing or is dropped; which channel must be opened
/// first; which single acks leave together as one multiple ack; which
/// publishes await their confirm and who fails when a channel or the
/// connection is lost; which waiting commands ran past their deadline. The
/// connection loop performs what it returns with librabbitmq calls and
/// reports back what happened (connected, channel opened or closed by the
/// broker, publish sent, confirm received, connection lost).
struct ConnectionStateMachine {
    /// The fixed roles of the connection's channels.
    enum Channel: Sendable {
        /// Consumers, basic.qos, acks.
        case consumer
        /// Publishing in confirm mode.
        case publisher
        /// Synchronous declare / bind / delete.
        case topology
    }

    /// What a live connection is known to have.
    struct Link {
        /// connection.blocked: publishes wait until connection.unblocked.
        var blocked = false
        var consumerOpen = false
        var publisherOpen = false
        var topologyOpen = false

        func isOpen(_ channel: Channel) -> Bool {
            switch channel {
            case .consumer: consumerOpen
            case .publisher: publisherOpen
            case .topology: topologyOpen
            }
        }

        mutating func set(_ channel: Channel, open: Bool) {
            switch channel {
            case .consumer: consumerOpen = open
            case .publisher: publisherOpen = open
            case .topology: topologyOpen = open
            }
        }
    }

    /// A publish awaiting its confirm.
    struct PendingConfirm {
        var continuation: UnsafeContinuation<AMQPPublishOutcome, any Error>
        var returned: (replyCode: UInt16, replyText: String)?
    }

    /// One acknowledgement frame for the consumer channel.
    enum AckFrame: Equatable {
        case ack(tag: UInt64, multiple: Bool)
        case nack(tag: UInt64, multiple: Bool, requeue: Bool)
        case reject(tag: UInt64, requeue: Bool)
    }

    /// What to do with a command.
    enum Decision {
        /// Send `acks` (asked for before the command), then run the command.
        case execute(Command, acksFirst: [AckFrame])
        /// Send these acknowledgement frames; nothing else.
        case acknowledge([AckFrame])
        /// A single ack, kept to leave with the turn's others (``flushAcks()``).
        case batched
        /// Kept: the broker blocks publishing.
        case held
        /// Kept until connected or its deadline.
        case waiting
        /// An acknowledgement of a delivery of an earlier connection or channel.
        case dropStaleAcknowledgement(deliveryTag: UInt64)
    }

    /// What a sweep while disconnected does with a waiting command.
    enum SweepAction {
        /// The broker redelivers the message anyway.
        case dropAcknowledgement(deliveryTag: UInt64)
        /// Nothing to tell the broker: forget the consumer and resume the caller.
        case cancelConsumerLocally(tag: String, UnsafeContinuation<Void, any Error>?)
        /// No connection came within the command's deadline.
        case fail(Command)
    }

    /// How long a command waits for a connection.
    let disconnectedOperationTimeout: Duration

    /// nil while disconnected.
    private(set) var link: Link?
    /// Counts openings of the consumer channel; delivery tags of other incarnations are dead.
    private(set) var consumerIncarnation: UInt64 = 0

    private var waiting = CommandQueue()
    private var held = CommandQueue()
    private(set) var confirms = ConfirmWindow<PendingConfirm>()
    private var unacked = UnackedDeliveries()
    private var pendingAcks: [UInt64] = []
    private var ackPlan: [UnackedDeliveries.Ack] = []

    init(disconnectedOperationTimeout: Duration) {
        self.disconnectedOperationTimeout = disconnectedOperationTimeout
    }

    var isConnected: Bool { link != nil }
    var isBlocked: Bool { link?.blocked ?? false }

    /// Whether a command is kept for later (waiting or held).
    var hasQueuedCommands: Bool { !waiting.isEmpty || !held.isEmpty }

    /// Work the thread owes itself without new input (the caller adds the
    /// consumer channel to reopen, which depends on the recorded consumers).
    var hasRunnableWork: Bool {
        guard let link else {
            return false
        }
        return !waiting.isEmpty || (!link.blocked && !held.isEmpty) || !pendingAcks.isEmpty
    }

    /// The earliest deadline of a command waiting for a connection.
    var earliestDeadline: ContinuousClock.Instant? { waiting.earliestDeadline }

    // MARK: Connection

    /// A connection was established; every channel is still closed.
    mutating func connected() {
        link = Link()
    }

    /// The connection broke (or could not be used): the publishes awaiting a
    /// confirm are returned for the caller to fail (their outcome is
    /// unknown), the acks not sent are dropped (the broker redelivers), and
    /// the held publishes wait for the next connection ahead of the others.
    mutating func connectionLost(now: ContinuousClock.Instant) -> [PendingConfirm] {
        link = nil
        unacked.reset()
        pendingAcks.removeAll(keepingCapacity: true)
        var lost: [PendingConfirm] = []
        confirms.removeAll { lost.append($0) }
        if !held.isEmpty {
            let deadline = now + disconnectedOperationTimeout
            let later = waiting.removeAll()
            for item in held.removeAll() {
                waiting.append(item.command, deadline: deadline)
            }
            for item in later {
                waiting.append(item.command, deadline: item.deadline)
            }
        }
        return lost
    }

    /// Commands taken but not run when the connection broke: they wait for the next one.
    mutating func requeue<S: Sequence>(_ commands: S, now: ContinuousClock.Instant) where S.Element == Command {
        let deadline = now + disconnectedOperationTimeout
        for command in commands {
            waiting.append(command, deadline: deadline)
        }
    }

    /// The thread stops: everything kept is returned for the caller to fail.
    mutating func shutDown() -> (confirms: [PendingConfirm], commands: [Command]) {
        link = nil
        unacked.reset()
        pendingAcks.removeAll()
        var lost: [PendingConfirm] = []
        confirms.removeAll { lost.append($0) }
        let commands = (held.removeAll() + waiting.removeAll()).map(\.command)
        return (lost, commands)
    }

    mutating func setBlocked(_ blocked: Bool) {
        link?.blocked = blocked
    }

    // MARK: Channels

    /// Whether `channel` must be opened before use (false while disconnected).
    func needsOpening(_ channel: Channel) -> Bool {
        guard let link else {
            return false
        }
        return !link.isOpen(channel)
    }

    func isOpen(_ channel: Channel) -> Bool {
        link?.isOpen(channel) ?? false
    }

    /// `channel` was opened. For the consumer channel: a new incarnation
    /// (returned), whose deliveries start from tag 1.
    @discardableResult
    mutating func channelOpened(_ channel: Channel) -> UInt64 {
        link?.set(channel, open: true)
        if channel == .consumer {
            consumerIncarnation += 1
            unacked.reset()
            pendingAcks.removeAll(keepingCapacity: true)
        }
        return consumerIncarnation
    }

    /// The broker closed `channel`. Returns the publishes whose confirm will
    /// never come (publisher channel), for the caller to fail; deliveries of
    /// a closed consumer channel can no longer be acknowledged.
    mutating func channelClosed(_ channel: Channel) -> [PendingConfirm] {
        link?.set(channel, open: false)
        switch channel {
        case .consumer:
            unacked.reset()
            pendingAcks.removeAll(keepingCapacity: true)
            return []
        case .publisher:
            var lost: [PendingConfirm] = []
            confirms.removeAll { lost.append($0) }
            return lost
        case .topology:
            return []
        }
    }

    // MARK: Commands

    /// Decides what to do with a command taken from the queue (or kept earlier).
    mutating func decide(_ command: Command, now: @autoclosure () -> ContinuousClock.Instant) -> Decision {
        guard let link else {
            waiting.append(command, deadline: now() + disconnectedOperationTimeout)
            return .waiting
        }
        switch command {
        case .publish:
            if link.blocked {
                held.append(command, deadline: nil)
                return .held
            }
            return .execute(command, acksFirst: [])
        case .acknowledge(let acknowledgement):
            guard link.consumerOpen, acknowledgement.channelIncarnation == consumerIncarnation else {
                return .dropStaleAcknowledgement(deliveryTag: acknowledgement.deliveryTag)
            }
            let tag = acknowledgement.deliveryTag
            var frames: [AckFrame]
            switch acknowledgement.kind {
            case .ack(multiple: false):
                pendingAcks.append(tag)
                return .batched
            case .ack(multiple: true):
                frames = flushAcks()
                frames.append(.ack(tag: tag, multiple: true))
                unacked.settle(tag, multiple: true)
            case .nack(let multiple, let requeue):
                frames = flushAcks()
                frames.append(.nack(tag: tag, multiple: multiple, requeue: requeue))
                unacked.settle(tag, multiple: multiple)
            case .reject(let requeue):
                frames = flushAcks()
                frames.append(.reject(tag: tag, requeue: requeue))
                unacked.settle(tag, multiple: false)
            }
            return .acknowledge(frames)
        case .setPrefetch, .consume, .cancelConsumer:
            // Acks asked for earlier go out before anything else on the consumer channel.
            return .execute(command, acksFirst: flushAcks())
        case .declareExchange, .declareQueue, .bindQueue, .unbindQueue, .purgeQueue, .deleteQueue, .deleteExchange:
            return .execute(command, acksFirst: [])
        }
    }

    /// The next kept command that can run now: held publishes once
    /// unblocked, then the commands that waited for the connection. Each
    /// goes through ``decide(_:now:)`` again.
    mutating func nextKeptCommand() -> Command? {
        guard let link else {
            return nil
        }
        if !link.blocked, let item = held.popFirst() {
            return item.command
        }
        return waiting.popFirst()?.command
    }

    /// The single acks asked for since the last flush: a run of every
    /// outstanding tag from the lowest one as one multiple ack, the others
    /// one by one (see ``UnackedDeliveries/coalesce(_:into:)``).
    mutating func flushAcks() -> [AckFrame] {
        var frames: [AckFrame] = []
        flushAcks { frames.append($0) }
        return frames
    }

    /// ``flushAcks()`` without collecting the frames (the turn's hot path).
    mutating func flushAcks(_ send: (AckFrame) throws -> Void) rethrows {
        guard !pendingAcks.isEmpty else {
            return
        }
        defer {
            pendingAcks.removeAll(keepingCapacity: true)
            ackPlan.removeAll(keepingCapacity: true)
        }
        guard link?.consumerOpen == true else {
            return
        }
        unacked.coalesce(sorting: &pendingAcks, into: &ackPlan)
        for ack in ackPlan {
            try send(.ack(tag: ack.tag, multiple: ack.multiple))
        }
    }

    /// While disconnected: acks are dropped, consumer cancellations done
    /// locally, and commands past their deadline fail; the others keep waiting.
    mutating func sweep(now: ContinuousClock.Instant) -> [SweepAction] {
        guard link == nil, !waiting.isEmpty else {
            return []
        }
        var actions: [SweepAction] = []
        for item in waiting.removeAll() {
            switch item.command {
            case .acknowledge(let acknowledgement):
                actions.append(.dropAcknowledgement(deliveryTag: acknowledgement.deliveryTag))
            case .cancelConsumer(let tag, let continuation):
                actions.append(.cancelConsumerLocally(tag: tag, continuation))
            default:
                if let deadline = item.deadline, deadline <= now {
                    actions.append(.fail(item.command))
                } else {
                    waiting.append(item.command, deadline: item.deadline)
                }
            }
        }
        return actions
    }

    // MARK: Deliveries and confirms

    /// The broker delivered `tag` on the current consumer channel.
    mutating func delivered(_ tag: UInt64) {
        unacked.delivered(tag)
    }

    /// The sequence number the next publish gets.
    var nextPublishSequence: UInt64 { confirms.nextSequence }

    /// A publish was sent; it awaits its confirm.
    mutating func published(_ continuation: UnsafeContinuation<AMQPPublishOutcome, any Error>) {
        confirms.append(PendingConfirm(continuation: continuation))
    }

    /// basic.ack / basic.nack on the publisher channel: the publishes it settles, in order.
    mutating func confirmed(sequence: UInt64, multiple: Bool, _ body: (PendingConfirm) -> Void) {
        confirms.resolve(sequence: sequence, multiple: multiple, body)
    }

    /// A basic.return for the publish `sequence`; false when none awaits its confirm.
    mutating func returned(sequence: UInt64, replyCode: UInt16, replyText: String) -> Bool {
        confirms.modify(sequence: sequence) { $0.returned = (replyCode, replyText) }
    }
}
