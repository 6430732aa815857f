import AMQPClient
import Foundation
import MistralActionsTestSupport
import Testing

/// What the worker's delivery rules rely on, on the real broker: a delivery
/// whose channel closed is known to be stale, and each consumer's own
/// prefetch bounds what it holds unacknowledged.
@Suite("RabbitMQ: stale deliveries and per-consumer prefetch")
struct DeliveryCurrencyTests {
    static let expiry: AMQPFieldTable = ["x-expires": 120_000]

    @Test("a delivery is current until its consumer channel closes; the broker then redelivers it, flagged")
    func staleAfterChannelClose() async throws {
        let queue = TestEnvironment.uniqueName("stale")
        try await withConnection(try TestEnvironment.configuration()) { connection in
            _ = try await connection.declareQueue(name: queue, arguments: Self.expiry)
            let consumer = try await connection.consume(queue: queue)
            var iterator = consumer.makeAsyncIterator()
            _ = try await connection.publish(body: Array("one".utf8), routingKey: queue)
            let first = try #require(try await iterator.next())
            #expect(connection.isCurrent(first))
            #expect(!first.redelivered)
            // Acknowledging an unknown delivery tag makes the broker close the
            // consumer channel (406 PRECONDITION_FAILED), as a channel error would.
            var bogus = first
            bogus.deliveryTag = first.deliveryTag + 1000
            connection.ack(bogus)
            // The channel comes back and the message is delivered again.
            let again = try #require(try await iterator.next())
            #expect(again.body == first.body)
            #expect(again.redelivered, "the broker flags a message it delivers again")
            #expect(!connection.isCurrent(first), "a delivery of the closed channel is still current")
            #expect(connection.isCurrent(again))
            connection.ack(again)
            try await consumer.cancel()
            _ = try await connection.deleteQueue(name: queue)
        }
    }

    @Test("a consumer's own prefetch limits its unacknowledged deliveries; the others keep the connection's")
    func perConsumerPrefetch() async throws {
        let wide = TestEnvironment.uniqueName("wide")
        let narrow = TestEnvironment.uniqueName("narrow")
        try await withConnection(try TestEnvironment.configuration()) { connection in
            _ = try await connection.declareQueue(name: wide, arguments: Self.expiry)
            _ = try await connection.declareQueue(name: narrow, arguments: Self.expiry)
            for index in 0 ..< 10 {
                _ = try await connection.publish(body: Array("w\(index)".utf8), routingKey: wide)
                _ = try await connection.publish(body: Array("n\(index)".utf8), routingKey: narrow)
            }
            try await connection.setPrefetch(count: 4)
            let wideConsumer = try await connection.consume(queue: wide)
            let narrowConsumer = try await connection.consume(queue: narrow, prefetch: 1)
            var wideIterator = wideConsumer.makeAsyncIterator()
            var narrowIterator = narrowConsumer.makeAsyncIterator()
            var wideHeld: [AMQPDelivery] = []
            for _ in 0 ..< 4 { wideHeld.append(try #require(try await wideIterator.next())) }
            let narrowHeld = try #require(try await narrowIterator.next())
            // The broker holds back the rest: the ready counts say how many it sent.
            let wideCount = try await connection.declareQueue(name: wide, arguments: Self.expiry).messageCount
            let narrowCount = try await connection.declareQueue(name: narrow, arguments: Self.expiry).messageCount
            #expect(wideCount == 6, "the connection-wide prefetch of 4 applies to the first consumer")
            #expect(narrowCount == 9, "the second consumer's own prefetch of 1 applies")
            connection.ack(narrowHeld)
            let next = try #require(try await narrowIterator.next())
            #expect(next.body == Array("n1".utf8))
            connection.ack(next)
            for delivery in wideHeld { connection.ack(delivery) }
            try await wideConsumer.cancel()
            try await narrowConsumer.cancel()
            _ = try await connection.deleteQueue(name: wide)
            _ = try await connection.deleteQueue(name: narrow)
        }
    }
}
