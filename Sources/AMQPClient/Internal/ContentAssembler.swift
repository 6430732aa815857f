/// Reassembles the content-bearing methods the connection receives from
/// their frames: a basic.deliver on the consumer channel and a basic.return
/// on the publisher channel are each followed by a content header (with the
/// body size) and body frames. A plain value without C types: the
/// connection loop decodes frames and feeds their fields in.
///
/// Sizes come from the wire: nothing traps on them, and no more than 16 MiB
/// is reserved up front (the body grows as its frames arrive; the broker's
/// max_message_size bounds what really comes).
struct ContentAssembler {
    /// Which channel a frame arrived on.
    enum Role {
        case consumer
        case publisher
        case other
    }

    /// The fields of a basic.deliver.
    struct DeliveryStart {
        var consumerTag: String
        var deliveryTag: UInt64
        var redelivered: Bool
        var exchange: String
        var routingKey: String
        var connectionGeneration: UInt64
        var channelIncarnation: UInt64
    }

    /// A basic.return whose content arrived.
    struct Returned: Equatable {
        var replyCode: UInt16
        var replyText: String
        /// The publish sequence number the client put in the message headers.
        var sequence: UInt64?
    }

    enum Outcome {
        /// More frames are needed.
        case incomplete
        /// The frame belongs to no content in progress (logged by the caller).
        case ignored
        case delivery(AMQPDelivery)
        case returned(Returned)
    }

    private struct PartialDelivery {
        var start: DeliveryStart
        var properties = AMQPMessageProperties()
        var bodySize = 0
        var body: [UInt8] = []
        var headerReceived = false
    }

    private struct PartialReturn {
        var replyCode: UInt16
        var replyText: String
        var sequence: UInt64?
        var remaining: UInt64 = 0
        var headerReceived = false
    }

    private var delivery: PartialDelivery?
    private var returned: PartialReturn?

    /// Reserved up front for a body at most.
    static let maximumReservation: UInt64 = 1 << 24

    /// A basic.deliver (replacing any delivery in progress).
    mutating func deliverStarted(_ start: DeliveryStart) {
        delivery = PartialDelivery(start: start)
    }

    /// A basic.return (replacing any return in progress).
    mutating func returnStarted(replyCode: UInt16, replyText: String) {
        returned = PartialReturn(replyCode: replyCode, replyText: replyText)
    }

    /// A content header. `properties` matter for deliveries, `publishSequence`
    /// for returns.
    mutating func header(on role: Role, properties: AMQPMessageProperties?, publishSequence: UInt64?, bodySize: UInt64) -> Outcome {
        switch role {
        case .consumer:
            guard var partial = delivery, !partial.headerReceived else {
                return .ignored
            }
            if let properties {
                partial.properties = properties
            }
            partial.headerReceived = true
            partial.bodySize = Int(clamping: bodySize)
            if bodySize == 0 {
                delivery = nil
                return .delivery(Self.make(partial))
            }
            partial.body.reserveCapacity(Int(clamping: min(bodySize, Self.maximumReservation)))
            delivery = partial
            return .incomplete
        case .publisher:
            guard var partial = returned, !partial.headerReceived else {
                return .ignored
            }
            partial.sequence = publishSequence
            partial.headerReceived = true
            partial.remaining = bodySize
            return advanceReturn(partial)
        case .other:
            return .ignored
        }
    }

    /// A returned message complete once no body bytes remain; kept until then.
    private mutating func advanceReturn(_ partial: PartialReturn) -> Outcome {
        guard partial.remaining == 0 else {
            returned = partial
            return .incomplete
        }
        returned = nil
        return .returned(Returned(replyCode: partial.replyCode, replyText: partial.replyText, sequence: partial.sequence))
    }

    /// A content body frame.
    mutating func body(on role: Role, _ fragment: UnsafeRawBufferPointer) -> Outcome {
        switch role {
        case .consumer:
            guard var partial = delivery, partial.headerReceived else {
                return .ignored
            }
            // Taken out while it grows, so that its body is appended in place.
            delivery = nil
            partial.body.append(contentsOf: fragment)
            guard partial.body.count >= partial.bodySize else {
                delivery = partial
                return .incomplete
            }
            return .delivery(Self.make(partial))
        case .publisher:
            guard var partial = returned, partial.headerReceived else {
                return .ignored
            }
            partial.remaining -= min(UInt64(fragment.count), partial.remaining)
            return advanceReturn(partial)
        case .other:
            return .ignored
        }
    }

    /// The consumer channel closed: a delivery in progress is dead.
    mutating func resetConsumer() {
        delivery = nil
    }

    /// The publisher channel closed: a return in progress is dead.
    mutating func resetPublisher() {
        returned = nil
    }

    var isIdle: Bool { delivery == nil && returned == nil }

    private static func make(_ partial: PartialDelivery) -> AMQPDelivery {
        let start = partial.start
        return AMQPDelivery(
            body: partial.body, properties: partial.properties, exchange: start.exchange,
            routingKey: start.routingKey, redelivered: start.redelivered, deliveryTag: start.deliveryTag,
            consumerTag: start.consumerTag, connectionGeneration: start.connectionGeneration,
            channelIncarnation: start.channelIncarnation
        )
    }
}
