/// The last `capacity` message `_unique_id`s a listener saw, as oslo's
/// `_MsgIdCache` (16 ids): a request whose id is among them is a duplicate
/// (the broker redelivered a message whose acknowledgement was lost).
struct RecentUniqueIDs: Sendable {
    static let osloCapacity = 16

    let capacity: Int
    private var ring: [String] = []
    private var next = 0

    init(capacity: Int = RecentUniqueIDs.osloCapacity) {
        precondition(capacity > 0)
        self.capacity = capacity
        ring.reserveCapacity(capacity)
    }

    /// Records `id`; returns `false` if it was seen already (a duplicate).
    mutating func insert(_ id: String) -> Bool {
        if ring.contains(id) {
            return false
        }
        if ring.count < capacity {
            ring.append(id)
        } else {
            ring[next] = id
            next = (next + 1) % capacity
        }
        return true
    }
}

/// Reply queues known to be gone, as oslo's `ObsoleteReplyQueuesCache`
/// (200 queues for 60 s): after a reply was dropped because its queue is
/// missing, further replies to that queue are dropped at once instead of
/// being retried for a minute each.
struct ObsoleteReplyQueues: Sendable {
    static let osloCapacity = 200
    static let osloLifetime = Duration.seconds(60)

    let capacity: Int
    let lifetime: Duration
    private var expiries: [String: ContinuousClock.Instant] = [:]

    init(capacity: Int = ObsoleteReplyQueues.osloCapacity, lifetime: Duration = ObsoleteReplyQueues.osloLifetime) {
        self.capacity = capacity
        self.lifetime = lifetime
    }

    func contains(_ queue: String, now: ContinuousClock.Instant) -> Bool {
        guard let expiry = expiries[queue] else {
            return false
        }
        return now < expiry
    }

    mutating func insert(_ queue: String, now: ContinuousClock.Instant) {
        expiries = expiries.filter { $0.value > now }
        if expiries.count >= capacity, let oldest = expiries.min(by: { $0.value < $1.value }) {
            expiries[oldest.key] = nil
        }
        expiries[queue] = now + lifetime
    }
}
