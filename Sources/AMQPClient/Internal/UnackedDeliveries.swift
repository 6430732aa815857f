/// The delivery tags of one consumer-channel incarnation that are not
/// acknowledged, rejected or nacked yet, in ascending order, so that a turn's
/// single acknowledgements can go out as one `basic.ack multiple=true` when
/// that is exactly the same: only when every outstanding tag up to the highest
/// one is among the acks asked for. A tag nobody asked to acknowledge is never
/// covered.
///
/// The broker numbers a channel's deliveries 1, 2, 3, ...; tags not read
/// yet from the socket are higher than every tag seen here, so a multiple
/// ack up to a seen tag covers only seen ones. Storage is reused.
struct UnackedDeliveries {
    /// Ascending while `trusted`, with whether each is still outstanding.
    private var tags: [UInt64] = []
    private var outstanding: [Bool] = []
    private var head = 0
    /// False once the tags stopped ascending (a broker bug): then nothing
    /// is coalesced until the channel reopens.
    private(set) var trusted = true

    /// The number of outstanding tags.
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    /// A new incarnation of the channel: everything outstanding is dead.
    mutating func reset() {
        tags.removeAll(keepingCapacity: true)
        outstanding.removeAll(keepingCapacity: true)
        head = 0
        count = 0
        trusted = true
    }

    /// The broker delivered `tag`.
    mutating func delivered(_ tag: UInt64) {
        if let last = tags.last, tag <= last {
            trusted = false
        }
        tags.append(tag)
        outstanding.append(true)
        count += 1
    }

    /// `tag` (with `multiple`, every outstanding tag up to it) was settled.
    mutating func settle(_ tag: UInt64, multiple: Bool) {
        if multiple {
            for index in head..<tags.count {
                if tags[index] > tag {
                    if trusted {
                        break
                    }
                    continue
                }
                if outstanding[index] {
                    outstanding[index] = false
                    count -= 1
                }
            }
        } else if let index = index(of: tag) {
            outstanding[index] = false
            count -= 1
        }
        compact()
    }

    /// One frame to send for a batch of single acks.
    struct Ack: Equatable {
        var tag: UInt64
        var multiple: Bool
    }

    /// Plans the frames for single acks of `batch` (any order) and marks
    /// them settled. The longest run of outstanding tags from the lowest one
    /// that the batch holds becomes one multiple ack; every other tag
    /// (including repeats and tags not outstanding, which the broker will
    /// answer as before) is acknowledged on its own, in ascending order.
    mutating func coalesce(_ batch: [UInt64], into plan: inout [Ack]) {
        var sorted = batch
        coalesce(sorting: &sorted, into: &plan)
    }

    /// ``coalesce(_:into:)`` that sorts `batch` in place (no allocation).
    mutating func coalesce(sorting sorted: inout [UInt64], into plan: inout [Ack]) {
        guard !sorted.isEmpty else {
            return
        }
        sorted.sort()
        var position = 0
        var covered: UInt64 = 0
        if trusted {
            var index = head
            while position < sorted.count, index < tags.count {
                if !outstanding[index] {
                    index += 1
                    continue
                }
                guard tags[index] == sorted[position] else {
                    break
                }
                covered = sorted[position]
                position += 1
                index += 1
            }
        }
        if position >= 2 {
            plan.append(Ack(tag: covered, multiple: true))
            settle(covered, multiple: true)
        } else {
            position = 0
        }
        for tag in sorted[position...] {
            plan.append(Ack(tag: tag, multiple: false))
            settle(tag, multiple: false)
        }
    }

    private func index(of tag: UInt64) -> Int? {
        guard trusted else {
            return (head..<tags.count).first { outstanding[$0] && tags[$0] == tag }
        }
        var low = head
        var high = tags.count
        while low < high {
            let middle = low + (high - low) / 2
            if tags[middle] < tag {
                low = middle + 1
            } else {
                high = middle
            }
        }
        guard low < tags.count, tags[low] == tag, outstanding[low] else {
            return nil
        }
        return low
    }

    private mutating func compact() {
        while head < tags.count, !outstanding[head] {
            head += 1
        }
        if head == tags.count {
            tags.removeAll(keepingCapacity: true)
            outstanding.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1024, head * 2 >= tags.count {
            tags.removeFirst(head)
            outstanding.removeFirst(head)
            head = 0
        }
    }
}
