import AMQPClient
import OrderedJSON
import OsloMessaging
import Testing

/// Runs `body` while each of `services` (a server's or client's `run()`)
/// runs in a child task; then cancels them and waits until they returned.
func withRunning<T: Sendable>(
    _ services: [@Sendable () async -> Void],
    _ body: () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: Void.self, returning: T.self) { group in
        for service in services {
            group.addTask {
                await service()
            }
        }
        defer { group.cancelAll() }
        return try await body()
    }
}

/// Runs `body`, failing if it takes longer than `limit` (a guard against a
/// hang: what these tests check is that nothing hangs).
private func bounded<T: Sendable>(
    _ limit: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            try await body()
        }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let result = try await group.next(), let result else {
            Issue.record("\(what): not within \(limit)")
            throw CancellationError()
        }
        return result
    }
}

/// The server and client start no task of their own: their work is a
/// child of their `run()`, and nothing of it is left once `run()` returned
/// (seen on the broker: no consumer on their queues).
@Suite struct RPCLifecycleTests {
    private static func uniqueName(_ purpose: String) -> String {
        "lifecycle_\(purpose)_\(MessageID.generate().prefix(12))"
    }

    /// The number of consumers of `queue`, by a passive declare.
    private static func consumerCount(_ connection: AMQPConnection, _ queue: String) async throws -> UInt32 {
        try await connection.declareQueue(name: queue, passive: true).consumerCount
    }

    /// Cancelling the server's `run()` cancels its three consumers and
    /// hands what was received to the sequence, which then ends; once
    /// `run()` returned, no queue of the server has a consumer, no
    /// delivery is left unacknowledged, and the server cannot start again.
    @Test func cancellingRunLeavesNoConsumer() async throws {
        let logs = LogCapture()
        let exchange = Self.uniqueName("ex")
        let topic = Self.uniqueName("server")
        try await withConnection("lifecycle", logger: logs.logger("amqp"), limit: .seconds(300)) { connection in
            let server = RPCServer(
                connection: connection, replyConnection: connection,
                target: RPCTarget(exchange: exchange, topic: topic, server: "node-1"),
                options: OsloTopologyOptions(), prefetch: 0, logger: logs.logger("rpc-server")
            )
            var failure: (any Error)?
            do {
                let incoming = try await server.start()
                let queues = Array(server.queueNames.values)
                #expect(queues.count == 3)
                for queue in queues {
                    #expect(try await Self.consumerCount(connection, queue) == 1)
                }
                // Sent before run() runs: they wait in the consumer, not lost.
                let request = RPCRequest(method: "m", arguments: [:], context: RequestContext())
                for _ in 0..<5 {
                    #expect(try await connection.publish(body: try request.encodedBody(), exchange: exchange, routingKey: topic) == .acknowledged)
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        await server.run()
                    }
                    // run() moves them into the sequence.
                    try await bounded(.seconds(60), "three deliveries") {
                        var iterator = incoming.makeAsyncIterator()
                        for _ in 0..<3 {
                            let item = try #require(try await iterator.next())
                            server.acknowledge(item)
                        }
                    }
                    group.cancelAll()
                    // run() returns (withConnection's limit bounds the wait).
                    try await group.waitForAll()
                }
                // The rest comes out of the sequence, which then ends.
                let rest = try await bounded(.seconds(60), "the sequence ends") { () -> Int in
                    var count = 0
                    for try await item in incoming {
                        server.reject(item, requeue: true)
                        count += 1
                    }
                    return count
                }
                #expect(rest <= 2)
                for queue in queues {
                    #expect(try await Self.consumerCount(connection, queue) == 0, "consumers of \(queue)")
                }
                // Every delivery not acknowledged is back in the queue: none is held unacknowledged.
                try await bounded(.seconds(60), "the two unacknowledged requests are ready again") {
                    while try await connection.declareQueue(name: topic, passive: true).messageCount != 2 {
                        try await Task.sleep(for: .milliseconds(50))
                    }
                }
                await #expect(throws: RPCConfigurationError.self) {
                    _ = try await server.start()
                }
                // Idempotent after run() ended.
                await server.stop()
            } catch {
                failure = error
            }
            await server.stop()
            await cleanUp(connection, queues: Array(server.queueNames.values), exchanges: [exchange, "\(topic)_fanout"])
            if let failure {
                throw failure
            }
        }
    }

    /// `stop()` while `run()` runs: `run()` returns, and no consumer is left.
    /// A `run()` started before `start()` waits for it.
    @Test func stopEndsRun() async throws {
        let logs = LogCapture()
        let exchange = Self.uniqueName("ex")
        let topic = Self.uniqueName("stop")
        try await withConnection("lifecycle", logger: logs.logger("amqp"), limit: .seconds(300)) { connection in
            let server = RPCServer(
                connection: connection, replyConnection: connection,
                target: RPCTarget(exchange: exchange, topic: topic),
                options: OsloTopologyOptions(), prefetch: 0, logger: logs.logger("rpc-server")
            )
            var failure: (any Error)?
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        await server.run()
                    }
                    let incoming = try await server.start()
                    let request = RPCRequest(method: "m", arguments: [:], context: RequestContext())
                    #expect(try await connection.publish(body: try request.encodedBody(), exchange: exchange, routingKey: topic) == .acknowledged)
                    try await bounded(.seconds(60), "the delivery") {
                        var iterator = incoming.makeAsyncIterator()
                        let item = try #require(try await iterator.next())
                        server.acknowledge(item)
                    }
                    await server.stop()
                    // Not cancelled: run() returns by itself after stop()
                    // (withConnection's limit bounds the wait).
                    try await group.waitForAll()
                    #expect(try await bounded(.seconds(60), "the sequence ends") {
                        var iterator = incoming.makeAsyncIterator()
                        return try await iterator.next() == nil
                    })
                }
                for queue in server.queueNames.values {
                    #expect(try await Self.consumerCount(connection, queue) == 0, "consumers of \(queue)")
                }
            } catch {
                failure = error
            }
            await server.stop()
            await cleanUp(connection, queues: Array(server.queueNames.values), exchanges: [exchange, "\(topic)_fanout"])
            if let failure {
                throw failure
            }
        }
    }

    /// Cancelling the client's `run()` fails the call waiting for a reply at
    /// once, cancels the reply consumer (none left on the broker), and later
    /// calls fail; casts still work, and the reply queue can still be deleted.
    @Test func cancellingClientRunLeavesNoReplyConsumer() async throws {
        let logs = LogCapture()
        let exchange = Self.uniqueName("ex")
        let topic = Self.uniqueName("client")
        try await withConnection("lifecycle", logger: logs.logger("amqp"), limit: .seconds(300)) { connection in
            let client = RPCClient(connection: connection, exchange: exchange, options: OsloTopologyOptions(), logger: logs.logger("rpc-client"))
            let request = RPCRequest(method: "nobody_answers", arguments: [:], context: RequestContext())
            var failure: (any Error)?
            do {
                let replyQueue = try await withThrowingTaskGroup(of: Void.self) { runGroup -> String in
                    runGroup.addTask {
                        await client.run()
                    }
                    // Nobody consumes the topic: the call times out, and
                    // declared and consumed the reply queue on the way.
                    await #expect(throws: RPCTimeoutError.self) {
                        _ = try await client.call(request, topic: topic, timeout: .milliseconds(200))
                    }
                    let replyQueue = try #require(client.replyQueueName)
                    #expect(try await Self.consumerCount(connection, replyQueue) == 1)

                    try await withThrowingTaskGroup(of: Void.self) { callGroup in
                        callGroup.addTask {
                            let waiting = RPCRequest(method: "waits", arguments: [:], context: RequestContext())
                            let error = await #expect(throws: AMQPError.self) {
                                _ = try await client.call(waiting, topic: topic, timeout: .seconds(600))
                            }
                            #expect(error?.code == .consumerCancelled)
                        }
                        _ = try await logs.waitFor(.seconds(60), "the second call waits") {
                            $0.message == "Call sent; waiting for the reply" && $0.metadata["oslo.method"] == "waits"
                        }
                        runGroup.cancelAll()
                        // The waiting call fails now, not after its 600 s
                        // (withConnection's 300 s limit would fail the test first).
                        try await callGroup.waitForAll()
                    }
                    // run() returns (withConnection's limit bounds the wait).
                    try await runGroup.waitForAll()
                    return replyQueue
                }
                #expect(try await Self.consumerCount(connection, replyQueue) == 0)
                #expect(client.replyQueueName == nil)
                let error = await #expect(throws: AMQPError.self) {
                    _ = try await client.call(request, topic: topic, timeout: .seconds(10))
                }
                #expect(error?.code == .shutDown)
                #expect(try await client.cast(request, topic: topic) == .acknowledged)
                await client.shutdown(deletingReplyQueue: true)
                await #expect(throws: AMQPError.self) {
                    try await connection.declareQueue(name: replyQueue, passive: true)
                }
            } catch {
                failure = error
            }
            await client.shutdown(deletingReplyQueue: true)
            await cleanUp(connection, queues: [], exchanges: [exchange])
            if let failure {
                throw failure
            }
        }
    }

    /// `shutdown()` while `run()` runs: `run()` returns by itself.
    @Test func shutdownEndsClientRun() async throws {
        let logs = LogCapture()
        let exchange = Self.uniqueName("ex")
        let topic = Self.uniqueName("shutdown")
        try await withConnection("lifecycle", logger: logs.logger("amqp"), limit: .seconds(300)) { connection in
            let client = RPCClient(connection: connection, exchange: exchange, options: OsloTopologyOptions(), logger: logs.logger("rpc-client"))
            var failure: (any Error)?
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        await client.run()
                    }
                    await #expect(throws: RPCTimeoutError.self) {
                        _ = try await client.call(
                            RPCRequest(method: "m", arguments: [:], context: RequestContext()), topic: topic, timeout: .milliseconds(200)
                        )
                    }
                    let replyQueue = try #require(client.replyQueueName)
                    await client.shutdown()
                    #expect(try await Self.consumerCount(connection, replyQueue) == 0)
                    // run() returns by itself (withConnection's limit bounds the wait).
                    try await group.waitForAll()
                    await client.shutdown(deletingReplyQueue: true)
                }
            } catch {
                failure = error
            }
            await client.shutdown(deletingReplyQueue: true)
            await cleanUp(connection, queues: [], exchanges: [exchange])
            if let failure {
                throw failure
            }
        }
    }
}
