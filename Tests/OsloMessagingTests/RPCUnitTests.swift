import AMQPClient
import Logging
import MistralActionsTestSupport
import OrderedJSON
@testable import OsloMessaging
import Synchronization
import Testing

/// The declarations and helpers of the RPC layer, without a broker. The
/// expected values come from oslo.messaging 18.3.1's `impl_rabbit.py` and
/// shared/protocol/oslo-options-probe.txt.
@Suite struct RPCTopologyTests {
    @Test func defaultOptions() {
        let topology = OsloTopology(options: OsloTopologyOptions())
        #expect(topology.controlExchange("openstack") == OsloExchangeDeclaration(name: "openstack", type: .topic, durable: false, autoDelete: false))

        let topic = topology.topicQueue(exchange: "openstack", routingKey: "mistral_executor")
        #expect(topic.name == "mistral_executor")
        #expect(topic.routingKey == "mistral_executor")
        #expect(!topic.durable && !topic.autoDelete)
        #expect(topic.arguments.isEmpty)
        #expect(topic.exchange?.name == "openstack")

        let server = topology.topicQueue(exchange: "openstack", routingKey: "mistral_executor.0.0.0.0")
        #expect(server.name == "mistral_executor.0.0.0.0")
        #expect(server.routingKey == "mistral_executor.0.0.0.0")

        let fanout = topology.fanoutQueue(topic: "mistral_executor", unique: "abc")
        #expect(fanout.name == "mistral_executor_fanout_abc")
        #expect(fanout.routingKey == "mistral_executor")
        #expect(!fanout.durable && !fanout.autoDelete)
        #expect(fanout.arguments == ["x-expires": .int32(1_800_000)])
        #expect(fanout.exchange == OsloExchangeDeclaration(name: "mistral_executor_fanout", type: .fanout, durable: false, autoDelete: true))

        let reply = topology.replyQueue(name: "reply_abc")
        #expect(reply.exchange == nil)
        #expect(!reply.durable && !reply.autoDelete)
        #expect(reply.arguments == ["x-expires": .int32(1_800_000)])
        #expect(topology.consumerArguments.isEmpty)
    }

    @Test func durableQueues() {
        let topology = OsloTopology(options: OsloTopologyOptions(durableQueues: true))
        #expect(topology.controlExchange("x").durable)
        #expect(topology.topicQueue(exchange: "x", routingKey: "t").durable)
        // Transient queues and the fanout exchange follow rabbit_transient_quorum_queue only.
        let fanout = topology.fanoutQueue(topic: "t", unique: "u")
        #expect(!fanout.durable)
        #expect(fanout.exchange?.durable == false)
        #expect(!topology.replyQueue(name: "r").durable)
    }

    /// Probe variant 1: quorum, transient quorum, TTL 600.
    @Test func quorumQueues() {
        let topology = OsloTopology(options: OsloTopologyOptions(
            quorumQueues: true, transientQuorumQueues: true, transientQueuesTTL: .seconds(600)
        ))
        #expect(topology.controlExchange("openstack").durable)
        let topic = topology.topicQueue(exchange: "openstack", routingKey: "mistral_executor")
        #expect(topic.durable && !topic.autoDelete)
        #expect(topic.arguments == ["x-queue-type": "quorum"])
        let fanout = topology.fanoutQueue(topic: "mistral_executor", unique: "u")
        #expect(fanout.durable)
        #expect(fanout.arguments == ["x-queue-type": "quorum", "x-expires": .int32(600_000)])
        #expect(fanout.exchange?.durable == true)
        #expect(fanout.exchange?.autoDelete == true)
        let reply = topology.replyQueue(name: "r")
        #expect(reply.durable)
        #expect(reply.arguments == ["x-queue-type": "quorum", "x-expires": .int32(600_000)])
    }

    /// Quorum queues alone: topic queues quorum, transient queues classic.
    @Test func quorumTopicQueuesOnly() {
        let topology = OsloTopology(options: OsloTopologyOptions(quorumQueues: true))
        #expect(topology.topicQueue(exchange: "x", routingKey: "t").arguments == ["x-queue-type": "quorum"])
        #expect(topology.fanoutQueue(topic: "t", unique: "u").arguments == ["x-expires": .int32(1_800_000)])
        #expect(!topology.fanoutQueue(topic: "t", unique: "u").durable)
    }

    @Test func quorumLimitsInOsloOrder() {
        let topology = OsloTopology(options: OsloTopologyOptions(
            quorumQueues: true, transientQuorumQueues: true, quorumDeliveryLimit: 5,
            quorumMaxMemoryLength: 100, quorumMaxMemoryBytes: 5_000_000_000
        ))
        let expected: AMQPFieldTable = [
            "x-queue-type": "quorum", "x-delivery-limit": .int32(5), "x-max-in-memory-length": .int32(100),
            "x-max-in-memory-bytes": .int64(5_000_000_000),
        ]
        #expect(topology.topicQueue(exchange: "x", routingKey: "t").arguments == expected)
        var transient = expected
        transient["x-expires"] = .int32(1_800_000)
        #expect(topology.replyQueue(name: "r").arguments == transient)
    }

    /// Probe variant 3: auto-delete, TTL 0, HA.
    @Test func autoDeleteNoTTLAndHA() {
        let topology = OsloTopology(options: OsloTopologyOptions(autoDelete: true, transientQueuesTTL: .zero, haQueues: true))
        #expect(topology.controlExchange("openstack") == OsloExchangeDeclaration(name: "openstack", type: .topic, durable: false, autoDelete: true))
        let topic = topology.topicQueue(exchange: "openstack", routingKey: "t")
        #expect(topic.autoDelete && !topic.durable)
        #expect(topic.arguments == ["x-ha-policy": "all"])
        let fanout = topology.fanoutQueue(topic: "t", unique: "u")
        #expect(!fanout.autoDelete)
        #expect(fanout.arguments == ["x-ha-policy": "all"])
        #expect(topology.replyQueue(name: "r").arguments == ["x-ha-policy": "all"])
        #expect(OsloTopology(options: OsloTopologyOptions(transientQueuesTTL: nil)).replyQueue(name: "r").arguments.isEmpty)
    }

    @Test func ttlIsWholeMilliseconds() {
        let topology = OsloTopology(options: OsloTopologyOptions(transientQueuesTTL: .milliseconds(1500)))
        #expect(topology.replyQueue(name: "r").arguments == ["x-expires": .int32(1500)])
        #expect(Duration.seconds(60).wholeMilliseconds == 60_000)
        #expect(Duration.milliseconds(2500).wholeMilliseconds == 2500)
        #expect(Duration.microseconds(1999).wholeMilliseconds == 1)
        #expect(Duration.seconds(Int64.max).wholeMilliseconds == Int64.max)
    }

    @Test func cancelOnFailoverConsumerArgument() {
        let topology = OsloTopology(options: OsloTopologyOptions(cancelOnFailover: true))
        #expect(topology.consumerArguments == ["x-cancel-on-ha-failover": true])
    }

    @Test func haWithQuorumIsRefused() {
        #expect(throws: RPCConfigurationError.self) { try OsloTopologyOptions(quorumQueues: true, haQueues: true).validate() }
        #expect(throws: RPCConfigurationError.self) { try OsloTopologyOptions(transientQuorumQueues: true, haQueues: true).validate() }
        #expect(throws: Never.self) { try OsloTopologyOptions(haQueues: true).validate() }
    }

    @Test func messageProperties() {
        let call = OsloMessageProperties.make(expiration: .seconds(60))
        #expect(call.contentType == "application/json")
        #expect(call.contentEncoding == "utf-8")
        #expect(call.deliveryMode == .persistent)
        #expect(call.priority == 0)
        #expect(call.expiration == "60000")
        #expect(call.headers == AMQPFieldTable())
        #expect(OsloMessageProperties.make(expiration: .milliseconds(1500)).expiration == "1500")
        #expect(OsloMessageProperties.make().expiration == nil)
    }
}

@Suite struct RPCHelperTests {
    @Test func recentUniqueIDsKeepSixteen() {
        var recent = RecentUniqueIDs()
        func insert(_ id: String) -> Bool {
            recent.insert(id)
        }
        #expect(insert("a"))
        #expect(!insert("a"))
        for index in 0..<15 {
            #expect(insert("id\(index)"))
        }
        #expect(!insert("a"))  // 16 ids: "a" is still there
        #expect(insert("id15"))  // evicts "a"
        #expect(insert("a"))
        #expect(!insert("id15"))
    }

    @Test func obsoleteReplyQueuesExpire() {
        var obsolete = ObsoleteReplyQueues(capacity: 2, lifetime: .seconds(60))
        let now = ContinuousClock.now
        obsolete.insert("q1", now: now)
        #expect(obsolete.contains("q1", now: now + .seconds(59)))
        #expect(!obsolete.contains("q1", now: now + .seconds(61)))
        #expect(!obsolete.contains("q2", now: now))
        obsolete.insert("q2", now: now + .seconds(1))
        obsolete.insert("q3", now: now + .seconds(2))  // capacity 2: q1 (oldest) goes
        #expect(!obsolete.contains("q1", now: now + .seconds(3)))
        #expect(obsolete.contains("q2", now: now + .seconds(3)))
        #expect(obsolete.contains("q3", now: now + .seconds(3)))
    }

    @Test func keepAliveIntervalAsOslo() {
        let logger = Logger(label: "test")
        #expect(RPCServer.keepAliveInterval(nil, logger: logger) == nil)
        #expect(RPCServer.keepAliveInterval(1, logger: logger) == nil)  // 0.5 s < 1 s: oslo sends none
        #expect(RPCServer.keepAliveInterval(2, logger: logger) == .seconds(1))
        #expect(RPCServer.keepAliveInterval(5, logger: logger) == .milliseconds(2500))
        #expect(RPCServer.keepAliveInterval(30.9, logger: logger) == .seconds(15))
        #expect(RPCServer.keepAliveInterval(-4, logger: logger) == nil)
        #expect(RPCServer.keepAliveInterval(.infinity, logger: logger) == nil)
    }

    private struct DiskFull: Error, CustomStringConvertible {
        var description: String { "no space left on /var" }
    }

    private enum Outcome: Error {
        case refused
    }

    @Test func failuresForThrownErrors() {
        let remote = RemoteFailure.mistral("bad action", className: "InvalidActionException")
        #expect(RPCServer.remoteFailure(for: remote) == remote)

        let missing = RPCServer.remoteFailure(for: RPCServer.NoSuchMethod(method: "frobnicate"))
        #expect(missing.className == "NoSuchMethod")
        #expect(missing.module == "oslo_messaging.rpc.dispatcher")
        #expect(missing.message == "Endpoint does not support RPC method frobnicate")
        #expect(missing.arguments == ["Endpoint does not support RPC method frobnicate"])

        let swift = RPCServer.remoteFailure(for: DiskFull())
        #expect(swift.className == "DiskFull")
        #expect(swift.module == "mistral_actions")
        #expect(swift.message == "no space left on /var")
        #expect(swift.traceback == ["mistral_actions.DiskFull: no space left on /var\n"])
        #expect(RPCServer.remoteFailure(for: Outcome.refused).message == "refused")
        #expect(RPCServer.remoteFailure(for: Outcome.refused).className == "Outcome")
    }
}

@Suite struct IncomingBufferTests {
    @Test func deliversInOrderThenEnds() async throws {
        let buffer = IncomingBuffer<Int>(onCancel: {})
        #expect(buffer.append(1))
        #expect(buffer.append(2))
        buffer.finish()
        #expect(!buffer.append(3))
        #expect(try await buffer.next() == 1)
        #expect(try await buffer.next() == 2)
        #expect(try await buffer.next() == nil)
        #expect(try await buffer.next() == nil)
    }

    @Test func failureAfterBufferedElements() async throws {
        let buffer = IncomingBuffer<Int>(onCancel: {})
        buffer.append(1)
        buffer.finish(throwing: TestTimeout(what: "x"))
        #expect(try await buffer.next() == 1)
        await #expect(throws: TestTimeout.self) { try await buffer.next() }
        #expect(try await buffer.next() == nil)
    }

    @Test func waiterIsWoken() async throws {
        let buffer = IncomingBuffer<Int>(onCancel: {})
        // Immediate: when this returns, the reader waits inside next().
        let value = Task.immediate { try await buffer.next() }
        buffer.append(7)
        #expect(try await value.value == 7)
    }

    /// Cancelling the reader asks for a stop but keeps the buffered and
    /// later elements until the producer finishes.
    @Test func cancellationDoesNotDropElements() async throws {
        let stopRequested = Signal()
        let buffer = IncomingBuffer<Int>(onCancel: { stopRequested.raise() })
        // Immediate: when this returns, the reader waits inside next().
        let reader = Task.immediate {
            var seen: [Int] = []
            while let value = try await buffer.next() {
                seen.append(value)
            }
            return seen
        }
        buffer.append(1)
        reader.cancel()
        try await stopRequested.wait(limit: .seconds(60), "the stop request")
        buffer.append(2)
        buffer.append(3)
        buffer.finish()
        #expect(try await reader.value == [1, 2, 3])
    }
}
