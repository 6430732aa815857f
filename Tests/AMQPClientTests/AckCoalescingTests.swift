import AMQPClient
import MistralActionsTestSupport
import Testing

@Suite("RabbitMQ: coalesced acknowledgements")
struct AckCoalescingTests {
    /// Publishes bodies 1...count to a new queue and returns their deliveries, unacknowledged.
    static func publishAndReceive(_ count: Int, on queue: String, _ connection: AMQPConnection) async throws -> [AMQPDelivery] {
        try await connection.declareQueue(name: queue, arguments: BrokerTests.expiry)
        try await connection.setPrefetch(count: 100)
        for index in 1...count {
            #expect(try await connection.publish(body: [UInt8(index)], routingKey: queue) == .acknowledged)
        }
        let consumer = try await connection.consume(queue: queue)
        var deliveries: [AMQPDelivery] = []
        for _ in 1...count {
            deliveries.append(try await nextDelivery(consumer))
        }
        return deliveries
    }

    /// Single acks asked for together may leave as one multiple ack; the
    /// deliveries nobody acknowledged must stay unacknowledged (the broker
    /// requeues them when the connection closes).
    @Test("a burst of acks with gaps settles exactly the acked deliveries")
    func burstWithGapsSettlesExactlyTheAckedOnes() async throws {
        let queue = TestEnvironment.uniqueName("ack-burst")
        let count = 40
        let skipped: Set<UInt8> = [5, 12, 13, 40]
        try await withConnection(try TestEnvironment.configuration()) { connection in
            let deliveries = try await Self.publishAndReceive(count, on: queue, connection)
            #expect(deliveries.map { Int($0.body.first ?? 0) } == Array(1...count))
            // In a tight loop, so that they reach the connection thread together.
            for delivery in deliveries.reversed() where !skipped.contains(delivery.body.first ?? 0) {
                connection.ack(delivery)
            }
            // An operation after the acks on the same connection: they were sent before its reply.
            try await connection.setPrefetch(count: 100)
        }
        try await withConnection(try TestEnvironment.configuration()) { connection in
            // The first connection's unacknowledged deliveries are back in the queue.
            try await eventually("the unacknowledged deliveries requeued") {
                try await connection.declareQueue(name: queue, passive: true).messageCount == UInt32(skipped.count)
            }
            let consumer = try await connection.consume(queue: queue)
            var bodies: Set<UInt8> = []
            for _ in skipped {
                let delivery = try await nextDelivery(consumer)
                #expect(delivery.redelivered)
                bodies.insert(delivery.body.first ?? 0)
                connection.ack(delivery)
            }
            #expect(bodies == skipped)
            try await consumer.cancel()
            #expect(try await connection.deleteQueue(name: queue) == 0)
        }
    }

    /// A worker's last acknowledgements and the end of its connection come
    /// together (the result went out, the process stops): the acks must
    /// still reach the broker, or the requests go to another consumer.
    @Test("acks asked for right before the connection stops are sent before it closes")
    func acksBeforeStopAreSent() async throws {
        let queue = TestEnvironment.uniqueName("ack-stop")
        let count = 20
        try await withConnection(try TestEnvironment.configuration()) { connection in
            let deliveries = try await Self.publishAndReceive(count, on: queue, connection)
            for delivery in deliveries {
                connection.ack(delivery)
            }
            // No operation after them: the connection stops at once.
        }
        try await withConnection(try TestEnvironment.configuration()) { connection in
            // The first connection is closed: anything it left unacknowledged is back.
            let left = try await connection.declareQueue(name: queue, passive: true).messageCount
            #expect(left == 0, "\(left) of \(count) acknowledged deliveries came back")
            _ = try await connection.deleteQueue(name: queue)
        }
    }
}
