/// The publishes on a confirm-mode channel that await the broker's
/// basic.ack / basic.nack, indexed by publish sequence number.
///
/// After confirm.select the broker numbers the channel's publishes 1, 2, 3,
/// ...; the window holds the contiguous range `firstSequence..<nextSequence`
/// so a confirm finds its entry in O(1), in or out of order, single or
/// `multiple`. Storage is reused: steady-state appends allocate nothing.
struct ConfirmWindow<Element> {
    private var slots: [Element?] = []
    private var head = 0
    /// Sequence number of `slots[head]`.
    private(set) var firstSequence: UInt64 = 1

    /// The sequence number the next publish gets.
    var nextSequence: UInt64 { firstSequence + UInt64(slots.count - head) }

    /// True when no publish awaits a confirm.
    var isEmpty: Bool { head == slots.count }

    /// Adds a publish; returns its sequence number.
    @discardableResult
    mutating func append(_ element: Element) -> UInt64 {
        let sequence = nextSequence
        slots.append(element)
        return sequence
    }

    /// Changes the entry of an unconfirmed publish; false when there is none.
    @discardableResult
    mutating func modify(sequence: UInt64, _ body: (inout Element) -> Void) -> Bool {
        guard let index = index(of: sequence), slots[index] != nil else {
            return false
        }
        body(&slots[index]!)
        return true
    }

    /// Removes the publish `sequence` (and, if `multiple`, every earlier
    /// one), handing each removed entry to `body` in sequence order.
    /// Returns how many were removed.
    @discardableResult
    mutating func resolve(sequence: UInt64, multiple: Bool, _ body: (Element) -> Void) -> Int {
        let range: ClosedRange<Int>
        if multiple {
            guard !isEmpty, let lastIndex = index(of: min(sequence, nextSequence - 1)) else {
                return 0
            }
            range = head...lastIndex
        } else {
            guard let index = index(of: sequence) else {
                return 0
            }
            range = index...index
        }
        var resolved = 0
        for index in range {
            if let element = slots[index] {
                slots[index] = nil
                resolved += 1
                body(element)
            }
        }
        advanceHead()
        return resolved
    }

    /// Removes every entry (in sequence order) and restarts numbering at 1,
    /// as after the channel is reopened.
    mutating func removeAll(_ body: (Element) -> Void) {
        for index in head..<slots.count {
            if let element = slots[index] {
                body(element)
            }
        }
        slots.removeAll(keepingCapacity: true)
        head = 0
        firstSequence = 1
    }

    private func index(of sequence: UInt64) -> Int? {
        guard sequence >= firstSequence, sequence < nextSequence else {
            return nil
        }
        return head + Int(sequence - firstSequence)
    }

    private mutating func advanceHead() {
        while head < slots.count, slots[head] == nil {
            head += 1
            firstSequence += 1
        }
        if head == slots.count {
            slots.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1024, head * 2 >= slots.count {
            slots.removeFirst(head)
            head = 0
        }
    }
}
