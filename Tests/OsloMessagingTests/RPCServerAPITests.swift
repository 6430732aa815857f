import MistralProtocol
import AMQPClient
import Foundation
import Logging
import MistralActionsTestSupport
import OrderedJSON
import OsloMessaging
import Synchronization
import Testing

/// The lower-level server API (`start()`, `run()`, acknowledge,
/// `reply(to:with:)`, `stop()`) as the worker uses it.
@Suite struct RPCServerAPITests {
    /// A Python call addressed to `server=S` arrives on the Swift server's
    /// `<topic>.<S>` queue; the reply sent with `reply(to:with:)` reaches Python.
    @Test func pythonCallToTheServerQueue() async throws {
        let logs = LogCapture()
        let exchange = TestEnvironment.uniqueName("api_ex")
        let topic = TestEnvironment.uniqueName("api")
        try await withConnection("server-api", logger: logs.logger("amqp"), limit: .seconds(300)) { connection in
            let server = RPCServer(
                connection: connection, replyConnection: connection,
                target: RPCTarget(exchange: exchange, topic: topic, server: "node-7"),
                options: OsloTopologyOptions(), prefetch: 1, logger: logs.logger("rpc-server")
            )
            var failure: (any Error)?
            do {
                let incoming = try await server.start()
                #expect(server.queueNames == [.topic: topic, .server: "\(topic).node-7", .fanout: server.fanoutQueueName])
                let caller = try PeerProcess(
                    "python call",
                    ["call"] + peerArguments(exchange: exchange, topic: topic)
                        + ["--server", "node-7", "--method", "add", "--args", #"{"a": 2, "b": 40}"#, "--context", #"{"request_id": "req-1"}"#]
                )
                let delivery = try await withRunning([{ await server.run() }]) {
                    try await withTimeout(.seconds(60), "the call") { () -> RPCIncoming in
                        for try await item in incoming {
                            return item
                        }
                        throw TestTimeout(what: "the sequence ended")
                    }
                }
                #expect(delivery.queue == .server)
                #expect(delivery.delivery.routingKey == "\(topic).node-7")
                #expect(delivery.delivery.properties.contentType == "application/json")
                #expect(delivery.delivery.properties.expiration == "30000")
                server.acknowledge(delivery)
                let request = try delivery.message.get()
                #expect(request.method == "add")
                #expect(request.isCall)
                #expect(request.context.requestID == "req-1")
                let sum = (request.arguments["a"]?.int64Value ?? 0) + (request.arguments["b"]?.int64Value ?? 0)
                try await server.reply(to: request, with: RPCReply(result: .integer(sum), messageID: "ignored"))
                let output = try await caller.waitForJSON(.seconds(60), "the caller's result") { _ in true }
                #expect(output["result"] == 42)
                #expect(try await caller.waitForExit() == 0)
            } catch {
                failure = error
            }
            await server.stop()
            await cleanUp(connection, queues: Array(server.queueNames.values), exchanges: [exchange])
            if let failure {
                throw failure
            }
        }
    }

    /// Swift client → Swift server, with a failure reply; then `stop()`
    /// ends the sequence, and a cancelled iteration stops the server too.
    @Test func swiftToSwiftAndStop() async throws {
        let logs = LogCapture()
        let exchange = TestEnvironment.uniqueName("api_ex")
        let topic = TestEnvironment.uniqueName("api")
        try await withConnection("server-api", logger: logs.logger("amqp"), limit: .seconds(300)) { connection in
            let server = RPCServer(
                connection: connection, replyConnection: connection,
                target: RPCTarget(exchange: exchange, topic: topic),
                options: OsloTopologyOptions(), prefetch: 0, logger: logs.logger("rpc-server")
            )
            let client = RPCClient(connection: connection, exchange: exchange, options: OsloTopologyOptions(), logger: logs.logger("rpc-client"))
            var failure: (any Error)?
            do {
                let incoming = try await server.start()
                #expect(server.queueNames[.server] == nil)
                try await withRunning([{ await server.run() }, { await client.run() }]) {
                    let responder = Task {
                        for try await item in incoming {
                            server.acknowledge(item)
                            let request = try item.message.get()
                            let reply: RPCReply
                            if request.method == "boom" {
                                reply = RPCReply(failure: .mistral("it broke"), messageID: "")
                            } else {
                                reply = try RPCReply(mistralResult: ["echo": request.arguments["value"] ?? nil], messageID: "")
                            }
                            try await server.reply(to: request, with: reply)
                        }
                    }
                    let result = try await client.call(
                        RPCRequest(method: "echo", arguments: ["value": "x"], context: RequestContext()), topic: topic, timeout: .seconds(10)
                    )
                    #expect(try MistralSerialization.decode(result) == ["echo": "x"])
                    let error = await #expect(throws: RemoteFailure.self) {
                        try await client.call(RPCRequest(method: "boom", arguments: [:], context: RequestContext()), topic: topic, timeout: .seconds(10))
                    }
                    #expect(error?.className == "MistralException")
                    #expect(error?.module == "mistral.exceptions")
                    #expect(error?.message == "it broke")
                    // stop() cancels the consumers; the iteration ends.
                    await server.stop()
                    try await withTimeout(.seconds(60), "the iteration ends after stop()") {
                        try await responder.value
                    }
                }
            } catch {
                failure = error
            }
            await server.stop()
            await client.shutdown(deletingReplyQueue: true)
            await cleanUp(connection, queues: Array(server.queueNames.values), exchanges: [exchange])
            if let failure {
                throw failure
            }
        }
    }

    /// Cancelling the task that iterates stops the server (no delivery is
    /// dropped unacknowledged: the sequence still ends normally).
    @Test func cancellingTheIterationStopsTheServer() async throws {
        let logs = LogCapture()
        let exchange = TestEnvironment.uniqueName("api_ex")
        let topic = TestEnvironment.uniqueName("api")
        try await withConnection("server-api", logger: logs.logger("amqp"), limit: .seconds(300)) { connection in
            let server = RPCServer(
                connection: connection, replyConnection: connection,
                target: RPCTarget(exchange: exchange, topic: topic),
                options: OsloTopologyOptions(), prefetch: 0, logger: logs.logger("rpc-server")
            )
            let incoming = try await server.start()
            // Immediate: the reader runs here until it waits inside the
            // iteration, so the cancellation reaches a waiting iterator.
            let reader = Task.immediate {
                var count = 0
                for try await item in incoming {
                    server.reject(item, requeue: true)
                    count += 1
                }
                return count
            }
            reader.cancel()
            // The stop request is carried out by run().
            let count = try await withRunning([{ await server.run() }]) {
                try await withTimeout(.seconds(60), "the iteration ends after cancellation") {
                    try await reader.value
                }
            }
            #expect(count == 0)
            await server.stop()
            // The consumers are gone: nothing consumes the topic queue any more.
            let queue = try await connection.declareQueue(name: topic, passive: true)
            #expect(queue.consumerCount == 0)
            await cleanUp(connection, queues: Array(server.queueNames.values), exchanges: [exchange])
        }
    }

    /// `serve()` sends oslo call-monitor keep-alives (`result: null,
    /// ending: false`) every `_timeout`/2 s while the handler runs, then the
    /// final reply; observed on a raw reply queue, independent of timing:
    /// the handler returns only after the test has seen a keep-alive.
    @Test func keepAlivesOnTheWire() async throws {
        let logs = LogCapture()
        let exchange = TestEnvironment.uniqueName("api_ex")
        let topic = TestEnvironment.uniqueName("api")
        let replyQueue = "reply_" + MessageID.generate()
        try await withConnection("server-api", logger: logs.logger("amqp"), limit: .seconds(300)) { connection in
            let server = RPCServer(
                connection: connection, replyConnection: connection,
                target: RPCTarget(exchange: exchange, topic: topic),
                options: OsloTopologyOptions(), prefetch: 0, logger: logs.logger("rpc-server")
            )
            let keepAliveSeen = Signal()
            let serving = Task {
                try await server.serve { request in
                    // Bounded only to end a broken test; the reply loop
                    // below fails it first.
                    try? await keepAliveSeen.wait(limit: .seconds(120), "a keep-alive on the wire")
                    return request.arguments["value"] ?? nil
                }
            }
            var failure: (any Error)?
            do {
                _ = try await logs.waitFor(.seconds(60), "the server consumes") { $0.message == "RPC server consuming" }
                try await connection.declareQueue(name: replyQueue)
                let replies = try await connection.consume(queue: replyQueue)
                let messageID = MessageID.generate()
                let request = RPCRequest(
                    method: "slow", arguments: ["value": "done"], context: RequestContext(),
                    messageID: messageID, replyQueue: replyQueue, callMonitorTimeout: 2
                )
                let outcome = try await connection.publish(body: try request.encodedBody(), exchange: exchange, routingKey: topic)
                #expect(outcome == .acknowledged)
                let received = try await withTimeout(.seconds(30), "the final reply") { () -> [RPCReply] in
                    var received: [RPCReply] = []
                    for try await delivery in replies {
                        connection.ack(delivery)
                        let reply = try RPCReply(decodingBody: delivery.body)
                        received.append(reply)
                        if !reply.ending {
                            keepAliveSeen.raise()
                        }
                        #expect(delivery.properties.contentType == "application/json")
                        #expect(delivery.properties.deliveryMode == .persistent)
                        #expect(delivery.properties.expiration == nil)
                        if reply.ending {
                            return received
                        }
                    }
                    throw TestTimeout(what: "the reply consumer ended")
                }
                let keepAlives = received.dropLast()
                #expect(!keepAlives.isEmpty)
                #expect(keepAlives.allSatisfy { $0.result == nil && $0.failure == nil && !$0.ending && $0.messageID == messageID })
                #expect(received.last?.result == "done")
                #expect(received.last?.messageID == messageID)
                #expect(Set(received.compactMap(\.uniqueID)).count == received.count)
            } catch {
                failure = error
            }
            serving.cancel()
            _ = try? await serving.value
            await cleanUp(connection, queues: Array(server.queueNames.values) + [replyQueue], exchanges: [exchange])
            if let failure {
                throw failure
            }
        }
    }
}
