@testable import AMQPClient
import Testing

@Suite("Content reassembly")
struct ContentAssemblerTests {
    static func start(tag: UInt64 = 7) -> ContentAssembler.DeliveryStart {
        .init(
            consumerTag: "c1", deliveryTag: tag, redelivered: true, exchange: "ex", routingKey: "rk",
            connectionGeneration: 3, channelIncarnation: 2
        )
    }

    static func body(_ assembler: inout ContentAssembler, _ role: ContentAssembler.Role, _ bytes: [UInt8]) -> ContentAssembler.Outcome {
        bytes.withUnsafeBytes { assembler.body(on: role, $0) }
    }

    @Test func aDeliveryArrivesAfterItsLastBodyFrame() throws {
        var assembler = ContentAssembler()
        assembler.deliverStarted(Self.start())
        let properties = AMQPMessageProperties(contentType: "application/json", correlationID: "x")
        guard case .incomplete = assembler.header(on: .consumer, properties: properties, publishSequence: nil, bodySize: 5) else {
            Issue.record("a header with a body to come completes nothing")
            return
        }
        guard case .incomplete = Self.body(&assembler, .consumer, [1, 2]) else {
            Issue.record("two of five bytes complete nothing")
            return
        }
        guard case .delivery(let delivery) = Self.body(&assembler, .consumer, [3, 4, 5]) else {
            Issue.record("the last body frame completes the delivery")
            return
        }
        #expect(delivery.body == [1, 2, 3, 4, 5])
        #expect(delivery.properties == properties)
        #expect(delivery.deliveryTag == 7)
        #expect(delivery.consumerTag == "c1")
        #expect(delivery.exchange == "ex" && delivery.routingKey == "rk" && delivery.redelivered)
        #expect(delivery.connectionGeneration == 3 && delivery.channelIncarnation == 2)
        #expect(assembler.isIdle)
        guard case .ignored = Self.body(&assembler, .consumer, [6]) else {
            Issue.record("a body frame after the delivery is complete belongs to nothing")
            return
        }
    }

    @Test func anEmptyBodyCompletesAtTheHeader() {
        var assembler = ContentAssembler()
        assembler.deliverStarted(Self.start())
        guard case .delivery(let delivery) = assembler.header(on: .consumer, properties: nil, publishSequence: nil, bodySize: 0) else {
            Issue.record("a zero body size completes at the header")
            return
        }
        #expect(delivery.body.isEmpty)
        #expect(delivery.properties == AMQPMessageProperties())
    }

    @Test("frames without a method first, repeated headers and other channels are ignored")
    func unexpectedFramesAreIgnored() {
        var assembler = ContentAssembler()
        guard case .ignored = assembler.header(on: .consumer, properties: nil, publishSequence: nil, bodySize: 1) else {
            Issue.record("a header without basic.deliver is ignored")
            return
        }
        guard case .ignored = Self.body(&assembler, .publisher, [1]) else {
            Issue.record("a body without basic.return is ignored")
            return
        }
        assembler.deliverStarted(Self.start())
        guard case .ignored = Self.body(&assembler, .consumer, [1]) else {
            Issue.record("a body before the header is ignored")
            return
        }
        _ = assembler.header(on: .consumer, properties: nil, publishSequence: nil, bodySize: 2)
        guard case .ignored = assembler.header(on: .consumer, properties: nil, publishSequence: nil, bodySize: 2) else {
            Issue.record("a second header is ignored")
            return
        }
        guard case .ignored = assembler.header(on: .other, properties: nil, publishSequence: nil, bodySize: 0) else {
            Issue.record("the topology channel has no content")
            return
        }
        assembler.resetConsumer()
        #expect(assembler.isIdle, "a closed consumer channel drops the delivery in progress")
    }

    @Test("an absurd body size from the wire neither traps nor reserves it")
    func absurdBodySize() {
        var assembler = ContentAssembler()
        assembler.deliverStarted(Self.start())
        guard case .incomplete = assembler.header(on: .consumer, properties: nil, publishSequence: nil, bodySize: .max) else {
            Issue.record("a huge body size waits for its frames")
            return
        }
        guard case .incomplete = Self.body(&assembler, .consumer, [1, 2, 3]) else {
            Issue.record("still incomplete")
            return
        }
    }

    @Test func aReturnCarriesItsPublishSequenceAndSkipsTheBody() {
        var assembler = ContentAssembler()
        assembler.returnStarted(replyCode: 312, replyText: "NO_ROUTE")
        guard case .incomplete = assembler.header(on: .publisher, properties: nil, publishSequence: 42, bodySize: 4) else {
            Issue.record("the body is still to come")
            return
        }
        guard case .incomplete = Self.body(&assembler, .publisher, [1, 2, 3]) else {
            Issue.record("one byte is still to come")
            return
        }
        guard case .returned(let returned) = Self.body(&assembler, .publisher, [4, 5, 6]) else {
            Issue.record("more bytes than announced still complete the return")
            return
        }
        #expect(returned == .init(replyCode: 312, replyText: "NO_ROUTE", sequence: 42))
        #expect(assembler.isIdle)

        assembler.returnStarted(replyCode: 312, replyText: "NO_ROUTE")
        guard case .returned(let empty) = assembler.header(on: .publisher, properties: nil, publishSequence: nil, bodySize: 0) else {
            Issue.record("an empty returned body completes at the header")
            return
        }
        #expect(empty.sequence == nil)
    }

    @Test("a delivery and a return in progress on their channels do not disturb each other")
    func interleavedChannels() {
        var assembler = ContentAssembler()
        assembler.deliverStarted(Self.start(tag: 1))
        assembler.returnStarted(replyCode: 312, replyText: "NO_ROUTE")
        _ = assembler.header(on: .consumer, properties: nil, publishSequence: nil, bodySize: 2)
        _ = assembler.header(on: .publisher, properties: nil, publishSequence: 9, bodySize: 1)
        _ = Self.body(&assembler, .consumer, [1])
        guard case .returned(let returned) = Self.body(&assembler, .publisher, [0]) else {
            Issue.record("the return completes")
            return
        }
        #expect(returned.sequence == 9)
        guard case .delivery(let delivery) = Self.body(&assembler, .consumer, [2]) else {
            Issue.record("the delivery completes")
            return
        }
        #expect(delivery.body == [1, 2])
    }
}
