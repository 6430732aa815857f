import AMQPClient
import Foundation
import Logging
import MistralActionsTestSupport
import OrderedJSON
import OsloMessaging
import Testing

/// `[oslo_messaging_rabbit]` settings whose declarations must match oslo's.
enum TopologyVariant: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case standard
    case durable
    case quorum
    case allQuorum
    case ttl600
    case noTTL
    case ha
    case autoDelete

    var options: OsloTopologyOptions {
        switch self {
        case .standard: OsloTopologyOptions()
        case .durable: OsloTopologyOptions(durableQueues: true)
        case .quorum: OsloTopologyOptions(quorumQueues: true)
        case .allQuorum: OsloTopologyOptions(quorumQueues: true, transientQuorumQueues: true, quorumDeliveryLimit: 10, quorumMaxMemoryLength: 500)
        case .ttl600: OsloTopologyOptions(transientQueuesTTL: .seconds(600))
        case .noTTL: OsloTopologyOptions(transientQueuesTTL: .zero)
        case .ha: OsloTopologyOptions(haQueues: true, cancelOnFailover: true)
        case .autoDelete: OsloTopologyOptions(autoDelete: true)
        }
    }

    var testDescription: String { rawValue }
}

/// The Swift server and client declare exactly what oslo.messaging 18.3.1
/// declares for the same options: a real Python oslo RPC server declares
/// first and the Swift side meets no 406 PRECONDITION_FAILED, and the other
/// way round; the private queues (which the broker cannot compare) are
/// compared through `rabbitmqctl list_queues`.
@Suite struct DeclarationTests {
    @Test(arguments: TopologyVariant.allCases)
    func swiftAfterPython(_ variant: TopologyVariant) async throws {
        let logs = LogCapture()
        let exchange = TestEnvironment.uniqueName("decl_ex")
        let topic = TestEnvironment.uniqueName("decl_\(variant.rawValue.lowercased())")
        try await withConnection("declarations", logger: logs.logger("amqp"), limit: .seconds(300)) { connection in
            let peer = try PeerProcess(
                "python server",
                ["serve"] + peerArguments(exchange: exchange, topic: topic, options: peerOptions(variant.options)) + ["--server", "py"]
            )
            let server = RPCServer(
                connection: connection, replyConnection: connection,
                target: RPCTarget(exchange: exchange, topic: topic, server: "swift"),
                options: variant.options, prefetch: 0, logger: logs.logger("rpc-server")
            )
            let client = RPCClient(connection: connection, exchange: exchange, options: variant.options, logger: logs.logger("rpc-client"))
            var failure: (any Error)?
            var pythonQueues: [String] = []
            do {
                try await peer.waitUntilReady()
                // Shares the topic queue, control exchange and fanout exchange with Python.
                _ = try await server.start()
                // Declares the control exchange as a publisher and a reply queue.
                let (result, replyQueue) = try await withRunning([{ await client.run() }]) {
                    let result = try await client.call(
                        RPCRequest(method: "echo", arguments: ["value": "hello"], context: RequestContext()),
                        topic: topic, server: "py", timeout: .seconds(60)
                    )
                    return (result, client.replyQueueName)
                }
                #expect(result == "hello")
                // No durability fallback or other trouble on the RPC side.
                #expect(!logs.all().contains { $0.label.hasPrefix("rpc") && $0.level >= .warning })

                let queues = try await BrokerQueue.list(prefix: topic)
                let swiftFanout = try #require(queues.first { $0.name == server.fanoutQueueName })
                let pythonFanout = try #require(queues.first { $0.name.hasPrefix(topic + "_fanout_") && $0.name != server.fanoutQueueName })
                pythonQueues.append(pythonFanout.name)
                #expect(swiftFanout.properties == pythonFanout.properties)
                // oslo declares reply queues like fanout queues.
                let replies = try await BrokerQueue.list(prefix: try #require(replyQueue))
                #expect(replies.first?.properties == pythonFanout.properties)
                let topicQueue = try #require(queues.first { $0.name == topic })
                let expectedDurable = variant.options.durableQueues || variant.options.quorumQueues
                #expect(topicQueue.durable == "\(expectedDurable)")
                #expect(topicQueue.autoDelete == "\(variant.options.autoDelete)")
            } catch {
                failure = error
            }
            await server.stop()
            await client.shutdown(deletingReplyQueue: true)
            await peer.stop()
            await cleanUp(
                connection, queues: [topic, "\(topic).py", "\(topic).swift", server.fanoutQueueName] + pythonQueues,
                exchanges: [exchange, "\(topic)_fanout"]
            )
            if let failure {
                throw failure
            }
        }
    }

    @Test(arguments: TopologyVariant.allCases)
    func pythonAfterSwift(_ variant: TopologyVariant) async throws {
        let logs = LogCapture()
        let exchange = TestEnvironment.uniqueName("decl_ex")
        let topic = TestEnvironment.uniqueName("decl_\(variant.rawValue.lowercased())")
        try await withConnection("declarations", logger: logs.logger("amqp"), limit: .seconds(300)) { connection in
            let server = RPCServer(
                connection: connection, replyConnection: connection,
                target: RPCTarget(exchange: exchange, topic: topic, server: "shared"),
                options: variant.options, prefetch: 4, logger: logs.logger("rpc-server")
            )
            var peer: PeerProcess?
            var failure: (any Error)?
            do {
                _ = try await server.start()
                // Prefetch per consumer (as oslo) and the failover consumer argument.
                let fanoutConsumer = try await Self.consumer(of: server.fanoutQueueName)
                #expect(fanoutConsumer.prefetchCount == "4")
                #expect(fanoutConsumer.arguments.contains("x-cancel-on-ha-failover") == variant.options.cancelOnFailover)
                // Same server name: Python declares every queue Swift declared except the private fanout queue.
                let python = try PeerProcess(
                    "python server",
                    ["serve"] + peerArguments(exchange: exchange, topic: topic, options: peerOptions(variant.options)) + ["--server", "shared"]
                )
                peer = python
                try await python.waitUntilReady()
                // oslo's publisher (a Python cast) declares the control exchange too.
                let cast = try await runPeerOnce(
                    ["cast"] + peerArguments(exchange: exchange, topic: topic, options: peerOptions(variant.options))
                        + ["--method", "echo", "--args", #"{"value": 1}"#]
                )
                #expect(cast["cast"] == true)
            } catch {
                failure = error
            }
            await server.stop()
            await peer?.stop()
            await cleanUp(connection, queues: [topic, "\(topic).shared", server.fanoutQueueName], exchanges: [exchange, "\(topic)_fanout"])
            if let failure {
                throw failure
            }
        }
    }

    /// The consumer of `queue` as `rabbitmqctl list_consumers` shows it.
    private static func consumer(of queue: String) async throws -> (prefetchCount: String, arguments: String) {
        var found: (prefetchCount: String, arguments: String)?
        // The broker announces no consumer: poll rabbitmqctl (it takes about a
        // second per run) until it lists one.
        try await eventually("a consumer of \(queue)", limit: .seconds(60), every: .milliseconds(300)) {
            let output = try await rabbitmqctl(["list_consumers", "-q", "--no-table-headers", "queue_name", "prefetch_count", "arguments"])
            for line in output.split(separator: "\n") {
                let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
                if fields.count >= 3, fields[0] == queue {
                    found = (fields[1], fields[2])
                    return true
                }
            }
            return false
        }
        return try #require(found)
    }

    /// The check is meaningful: other options than Python's meet a 406.
    @Test func mismatchedOptionsAreRefused() async throws {
        let logs = LogCapture()
        let exchange = TestEnvironment.uniqueName("decl_ex")
        let topic = TestEnvironment.uniqueName("decl_mismatch")
        try await withConnection("declarations", logger: logs.logger("amqp"), limit: .seconds(300)) { connection in
            let peer = try PeerProcess("python server", ["serve"] + peerArguments(exchange: exchange, topic: topic) + ["--server", "py"])
            let server = RPCServer(
                connection: connection, replyConnection: connection,
                target: RPCTarget(exchange: exchange, topic: topic),
                options: OsloTopologyOptions(quorumQueues: true), prefetch: 0, logger: logs.logger("rpc-server")
            )
            var failure: (any Error)?
            do {
                try await peer.waitUntilReady()
                let error = await #expect(throws: AMQPError.self) {
                    _ = try await server.start()
                }
                #expect(error?.replyCode == 406)
            } catch {
                failure = error
            }
            await peer.stop()
            await cleanUp(connection, queues: [topic, "\(topic).py", server.fanoutQueueName], exchanges: [exchange, "\(topic)_fanout"])
            if let failure {
                throw failure
            }
        }
    }
}
