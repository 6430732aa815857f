import AMQPClient
import Foundation
import MistralActionsTestSupport
import Synchronization
import Testing

/// Integration tests against the real RabbitMQ (MA_TEST_AMQP_URL). Each test
/// uses its own names and deletes what it declares; queues also carry
/// `x-expires` so that a failed test leaves nothing behind for long.
@Suite("RabbitMQ broker")
struct BrokerTests {
    static let expiry: AMQPFieldTable = ["x-expires": 120_000]

    @Test func declareBindConsumeAckRoundTripKeepsPropertiesAndHeaders() async throws {
        let exchange = TestEnvironment.uniqueName("exchange")
        let queue = TestEnvironment.uniqueName("queue")
        try await withConnection(try TestEnvironment.configuration()) { connection in
            try await connection.declareExchange(name: exchange, type: .topic, autoDelete: false)
            let declared = try await connection.declareQueue(name: queue, arguments: Self.expiry)
            #expect(declared.name == queue)
            #expect(declared.messageCount == 0)
            try await connection.bindQueue(queue: queue, exchange: exchange, routingKey: "jobs.#")
            try await connection.setPrefetch(count: 10)
            let consumer = try await connection.consume(queue: queue, consumerTag: "round-trip")
            #expect(consumer.tag == "round-trip")

            let headers: AMQPFieldTable = [
                "string": "héllo",
                "long": .int64(-1_234_567_890_123),
                "int": .int32(42),
                "short": .int16(-7),
                "byte": .int8(-1),
                "bool": true,
                "double": 0.5,
                "float": .float(0.25),
                "decimal": .decimal(AMQPDecimal(scale: 3, value: 1_500)),
                "timestamp": .timestamp(1_700_000_123),
                "bytes": .bytes([0, 255, 10]),
                "table": ["inner": "value", "number": 3],
                "array": ["a", 1, false],
                "void": .void,
            ]
            let properties = AMQPMessageProperties(
                contentType: "application/json", contentEncoding: "utf-8", headers: headers,
                deliveryMode: .persistent, priority: 3, correlationID: "correlation-1", replyTo: "reply_q",
                expiration: "60000", messageID: "message-1", timestamp: 1_700_000_000, type: "test.type",
                userID: try TestEnvironment.endpoint().user, appID: "AMQPClientTests"
            )
            let body = Array(#"{"oslo.version": "2.0", "oslo.message": "{}"}"#.utf8)
            let outcome = try await connection.publish(body: body, exchange: exchange, routingKey: "jobs.run", properties: properties)
            #expect(outcome == .acknowledged)

            let delivery = try await nextDelivery(consumer)
            #expect(delivery.body == body)
            #expect(delivery.properties == properties)
            #expect(delivery.exchange == exchange)
            #expect(delivery.routingKey == "jobs.run")
            #expect(!delivery.redelivered)
            #expect(delivery.consumerTag == "round-trip")
            #expect(delivery.connectionGeneration == connection.connectionGeneration)
            connection.ack(delivery)

            // An empty body and no properties at all.
            #expect(try await connection.publish(body: [], exchange: exchange, routingKey: "jobs.empty") == .acknowledged)
            let empty = try await nextDelivery(consumer)
            #expect(empty.body.isEmpty)
            #expect(empty.properties == AMQPMessageProperties())
            connection.ack(empty)

            // A body spanning several frames.
            let large = (0..<400_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            #expect(try await connection.publish(body: large, exchange: exchange, routingKey: "jobs.large") == .acknowledged)
            let big = try await nextDelivery(consumer)
            #expect(big.body == large)
            connection.ack(big)

            try await consumer.cancel()
            #expect(try await connection.deleteQueue(name: queue) == 0, "everything was acknowledged")
            try await connection.deleteExchange(name: exchange)
        }
    }

    @Test func tenThousandConfirmedMessagesArriveExactlyOnce() async throws {
        let queue = TestEnvironment.uniqueName("bulk")
        let total = 10_000
        let (elapsed, received) = try await withConnection(try TestEnvironment.configuration(), limit: .seconds(300)) { connection in
            try await connection.declareQueue(name: queue, arguments: Self.expiry)
            try await connection.setPrefetch(count: 1_000)
            let consumer = try await connection.consume(queue: queue)
            let clock = ContinuousClock()
            let start = clock.now

            let received = try await withThrowingTaskGroup(of: Set<Int>?.self) { group in
                group.addTask {
                    var seen = Set<Int>()
                    var duplicates = 0
                    for try await delivery in consumer {
                        let id = Int(delivery.properties.messageID ?? "") ?? -1
                        if !seen.insert(id).inserted {
                            duplicates += 1
                        }
                        connection.ack(delivery)
                        if seen.count == total {
                            break
                        }
                    }
                    #expect(duplicates == 0)
                    return seen
                }
                group.addTask {
                    try await publishAll(connection, count: total, concurrency: 500) { index in
                        (Array("message \(index)".utf8), "", queue, AMQPMessageProperties(deliveryMode: .transient, messageID: String(index)))
                    }
                    return nil
                }
                var result = Set<Int>()
                while let value = try await group.next() {
                    if let value {
                        result = value
                    }
                }
                return result
            }
            let elapsed = clock.now - start
            // Nothing more may arrive: exactly once.
            try await Task.sleep(for: .milliseconds(300))
            let state = try await connection.declareQueue(name: queue, passive: true)
            #expect(state.messageCount == 0)
            try await consumer.cancel()
            try await connection.deleteQueue(name: queue)
            return (elapsed, received)
        }
        #expect(received == Set(0..<total))
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("AMQPClient throughput: \(total) messages published with confirms and consumed with acks in \(String(format: "%.2f", seconds)) s = \(Int(Double(total) / seconds)) messages/s")
    }

    @Test func mandatoryPublishWithoutRouteIsReturnedWhileOthersAreAcknowledged() async throws {
        let exchange = TestEnvironment.uniqueName("routes")
        let queue = TestEnvironment.uniqueName("routed")
        try await withConnection(try TestEnvironment.configuration()) { connection in
            try await connection.declareExchange(name: exchange, type: .direct)
            try await connection.declareQueue(name: queue, arguments: Self.expiry)
            try await connection.bindQueue(queue: queue, exchange: exchange, routingKey: "bound")

            let outcomes = try await withThrowingTaskGroup(of: (Int, AMQPPublishOutcome).self) { group in
                for index in 0..<200 {
                    group.addTask {
                        let routed = !index.isMultiple(of: 5)
                        let outcome = try await connection.publish(
                            body: Array("m\(index)".utf8), exchange: exchange, routingKey: routed ? "bound" : "nowhere",
                            properties: AMQPMessageProperties(headers: ["index": .int64(Int64(index))]), mandatory: true
                        )
                        return (index, outcome)
                    }
                }
                var outcomes: [Int: AMQPPublishOutcome] = [:]
                for try await (index, outcome) in group {
                    outcomes[index] = outcome
                }
                return outcomes
            }
            for (index, outcome) in outcomes {
                if index.isMultiple(of: 5) {
                    #expect(outcome == .returned(replyCode: 312, replyText: "NO_ROUTE"), "message \(index)")
                } else {
                    #expect(outcome == .acknowledged, "message \(index)")
                }
            }
            #expect(outcomes.count == 200)
            // The default exchange returns too when no queue has the name.
            let outcome = try await connection.publish(body: [1], routingKey: TestEnvironment.uniqueName("absent"), mandatory: true)
            #expect(outcome == .returned(replyCode: 312, replyText: "NO_ROUTE"))
            // Not mandatory: silently dropped, but acknowledged.
            #expect(try await connection.publish(body: [1], exchange: exchange, routingKey: "nowhere") == .acknowledged)

            #expect(try await connection.deleteQueue(name: queue) == 160)
            try await connection.deleteExchange(name: exchange)
        }
    }

    @Test func mismatchedRedeclarationFailsWith406AndTheConnectionKeepsWorking() async throws {
        let queue = TestEnvironment.uniqueName("mismatch")
        try await withConnection(try TestEnvironment.configuration()) { connection in
            // A consumer and a pending publish on the other channels must survive the 406.
            try await connection.declareQueue(name: queue, arguments: ["x-expires": 120_000])
            let consumer = try await connection.consume(queue: queue)

            let durable = await #expect(throws: AMQPError.self) {
                try await connection.declareQueue(name: queue, durable: true, arguments: ["x-expires": 120_000])
            }
            #expect(durable?.code == .channelClosedByServer)
            #expect(durable?.replyCode == 406)
            #expect(durable?.replyText?.contains("PRECONDITION_FAILED") == true)
            #expect(durable?.replyText?.contains("'durable'") == true)
            #expect(durable?.replyText?.contains("'\(queue)'") == true)
            #expect(durable?.serverReply?.methodName == "queue.declare")
            #expect(durable?.description.contains("406 PRECONDITION_FAILED") == true)

            let expires = await #expect(throws: AMQPError.self) {
                try await connection.declareQueue(name: queue, arguments: ["x-expires": 60_000])
            }
            #expect(expires?.replyCode == 406)
            #expect(expires?.replyText?.contains("x-expires") == true)

            // Same declaration again: fine. Then publish and consume.
            try await connection.declareQueue(name: queue, arguments: ["x-expires": 120_000])
            #expect(try await connection.publish(body: Array("after".utf8), routingKey: queue) == .acknowledged)
            let delivery = try await nextDelivery(consumer)
            #expect(delivery.body == Array("after".utf8))
            connection.ack(delivery)

            // A passive declare of a missing queue: 404, connection still fine.
            let missing = await #expect(throws: AMQPError.self) {
                try await connection.declareQueue(name: TestEnvironment.uniqueName("missing"), passive: true)
            }
            #expect(missing?.replyCode == 404)
            try await consumer.cancel()
            try await connection.deleteQueue(name: queue)
        }
    }

    @Test func publishToAMissingExchangeFailsAndPublishingRecovers() async throws {
        let queue = TestEnvironment.uniqueName("after-404")
        try await withConnection(try TestEnvironment.configuration()) { connection in
            try await connection.declareQueue(name: queue, arguments: Self.expiry)
            let error = await #expect(throws: AMQPError.self) {
                try await connection.publish(body: [1], exchange: TestEnvironment.uniqueName("no-exchange"), routingKey: "x")
            }
            #expect(error?.code == .channelClosedByServer)
            #expect(error?.replyCode == 404)
            #expect(try await connection.publish(body: [2], routingKey: queue) == .acknowledged)
            #expect(try await connection.deleteQueue(name: queue) == 1)
        }
    }

    @Test func consumingAMissingQueueFailsWithoutDisturbingOtherConsumers() async throws {
        let queue = TestEnvironment.uniqueName("present")
        try await withConnection(try TestEnvironment.configuration()) { connection in
            try await connection.declareQueue(name: queue, arguments: Self.expiry)
            let consumer = try await connection.consume(queue: queue)
            let error = await #expect(throws: AMQPError.self) {
                try await connection.consume(queue: TestEnvironment.uniqueName("absent"))
            }
            #expect(error?.replyCode == 404)
            let duplicate = await #expect(throws: AMQPError.self) {
                try await connection.consume(queue: queue, consumerTag: consumer.tag)
            }
            #expect(duplicate?.code == .invalidArgument)
            #expect(try await connection.publish(body: [7], routingKey: queue) == .acknowledged)
            let delivery = try await nextDelivery(consumer)
            #expect(delivery.body == [7])
            connection.ack(delivery)
            try await consumer.cancel()
            try await connection.deleteQueue(name: queue)
        }
    }

    @Test func deletingTheQueueCancelsItsConsumerWithAnError() async throws {
        let queue = TestEnvironment.uniqueName("deleted")
        try await withConnection(try TestEnvironment.configuration()) { connection in
            try await connection.declareQueue(name: queue, arguments: Self.expiry)
            let consumer = try await connection.consume(queue: queue)
            try await connection.deleteQueue(name: queue)
            let error = await #expect(throws: AMQPError.self) {
                try await withTimeout(.seconds(60), "consumer end") {
                    for try await _ in consumer {}
                }
            }
            #expect(error?.code == .consumerCancelled)
        }
    }

    @Test func nackAndRejectRequeueOrDrop() async throws {
        let queue = TestEnvironment.uniqueName("nack")
        try await withConnection(try TestEnvironment.configuration()) { connection in
            try await connection.declareQueue(name: queue, arguments: Self.expiry)
            let consumer = try await connection.consume(queue: queue)
            _ = try await connection.publish(body: [1], routingKey: queue)
            let first = try await nextDelivery(consumer)
            connection.nack(first, requeue: true)
            let again = try await nextDelivery(consumer)
            #expect(again.body == [1])
            #expect(again.redelivered)
            connection.reject(again, requeue: false)
            _ = try await connection.publish(body: [2], routingKey: queue)
            let second = try await nextDelivery(consumer)
            #expect(second.body == [2], "the rejected message was dropped")
            connection.ack(second)
            try await consumer.cancel()
            #expect(try await connection.deleteQueue(name: queue) == 0)
        }
    }

    @Test func consumerChannelErrorRestartsTheConsumers() async throws {
        let queue = TestEnvironment.uniqueName("double-ack")
        try await withConnection(try TestEnvironment.configuration()) { connection in
            try await connection.declareQueue(name: queue, arguments: Self.expiry)
            let consumer = try await connection.consume(queue: queue, consumerTag: "double-ack")
            _ = try await connection.publish(body: [1], routingKey: queue)
            let delivery = try await nextDelivery(consumer)
            // The second ack names an unknown delivery tag: 406, the broker
            // closes the consumer channel. The consumer must come back.
            connection.ack(delivery)
            connection.ack(delivery)
            _ = try await connection.publish(body: [2], routingKey: queue)
            let next = try await nextDelivery(consumer)
            #expect(next.body == [2])
            #expect(next.connectionGeneration == 1, "no reconnection was needed")
            connection.ack(next)
            try await consumer.cancel()
            try await connection.deleteQueue(name: queue)
        }
    }

    @Test func heartbeatsKeepAnIdleConnectionOpen() async throws {
        var configuration = try TestEnvironment.configuration()
        // 2 s, not 1: a heartbeat may come up to 4 s late on a loaded machine.
        configuration.heartbeatSeconds = 2
        try await withConnection(configuration) { connection in
            // The broker drops a connection that misses two heartbeats (4 s
            // of silence); idle longer than that.
            try await Task.sleep(for: .seconds(7))
            #expect(try await connection.publish(body: [1], routingKey: TestEnvironment.uniqueName("nowhere")) == .acknowledged)
            #expect(connection.connectionGeneration == 1)
            #expect(connection.isConnected)
        }
    }

    @Test func serverNamedExclusiveQueue() async throws {
        try await withConnection(try TestEnvironment.configuration()) { connection in
            let declared = try await connection.declareQueue(name: "", exclusive: true, autoDelete: true)
            #expect(declared.name.hasPrefix("amq.gen-"))
            let consumer = try await connection.consume(queue: declared.name)
            _ = try await connection.publish(body: [9], routingKey: declared.name)
            let delivery = try await nextDelivery(consumer)
            connection.ack(delivery)
            try await consumer.cancel()
        }
    }

    @Test func cancellingTheIteratingTaskCancelsTheConsumer() async throws {
        let queue = TestEnvironment.uniqueName("task-cancel")
        try await withConnection(try TestEnvironment.configuration()) { connection in
            try await connection.declareQueue(name: queue, arguments: Self.expiry)
            let consumer = try await connection.consume(queue: queue)
            let received = ReceivedMessages()
            let iterating = Task {
                for try await delivery in consumer {
                    connection.ack(delivery)
                    received.add(delivery)
                }
            }
            // Cancel only once the task is iterating: it has taken a delivery.
            #expect(try await connection.publish(body: [1], routingKey: queue) == .acknowledged)
            try await received.waitForAny(limit: .seconds(60))
            iterating.cancel()
            _ = await iterating.result
            // The broker sees no consumer any more.
            try await eventually("consumer count 0", limit: .seconds(60)) {
                try await connection.declareQueue(name: queue, passive: true).consumerCount == 0
            }
            try await connection.deleteQueue(name: queue)
        }
    }
}

/// Publishes `count` messages with at most `concurrency` awaiting their confirm.
func publishAll(
    _ connection: AMQPConnection,
    count: Int,
    concurrency: Int,
    message: @escaping @Sendable (Int) -> ([UInt8], String, String, AMQPMessageProperties)
) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        var next = 0
        func addOne() {
            let index = next
            next += 1
            group.addTask {
                let (body, exchange, routingKey, properties) = message(index)
                let outcome = try await connection.publish(body: body, exchange: exchange, routingKey: routingKey, properties: properties)
                #expect(outcome == .acknowledged)
            }
        }
        while next < min(concurrency, count) {
            addOne()
        }
        while try await group.next() != nil {
            if next < count {
                addOne()
            }
        }
    }
}

@Suite("RabbitMQ connections: TLS and authentication")
struct ConnectionSecurityTests {
    func tlsConfiguration(host: String, tls: AMQPConfiguration.TLS) throws -> AMQPConfiguration {
        let endpoint = try TestEnvironment.endpoint()
        var configuration = try TestEnvironment.configuration(tls: tls)
        configuration.endpoints = [AMQPEndpoint(
            host: host, port: TestEnvironment.amqpTLSPort, user: endpoint.user, password: endpoint.password,
            virtualHost: endpoint.virtualHost
        )]
        return configuration
    }

    func publishAndConsumeOne(_ connection: AMQPConnection) async throws {
        let queue = TestEnvironment.uniqueName("tls")
        try await connection.declareQueue(name: queue, arguments: ["x-expires": 60_000])
        let consumer = try await connection.consume(queue: queue)
        #expect(try await connection.publish(body: Array("over TLS".utf8), routingKey: queue) == .acknowledged)
        let delivery = try await nextDelivery(consumer)
        #expect(delivery.body == Array("over TLS".utf8))
        connection.ack(delivery)
        try await consumer.cancel()
        try await connection.deleteQueue(name: queue)
    }

    @Test func tlsToTheIPAddressWithTheCAFile() async throws {
        // librabbitmq 0.11 matches host names against DNS names only, so an
        // IP address needs hostname verification off (the chain is still verified).
        let tls = AMQPConfiguration.TLS(caCertificateFile: TestEnvironment.tlsDirectory + "/ca.pem", verifyPeer: true, verifyHostname: false)
        try await withConnection(try tlsConfiguration(host: "127.0.0.1", tls: tls)) { connection in
            try await publishAndConsumeOne(connection)
        }
    }

    @Test func tlsWithHostnameVerificationAndAClientCertificate() async throws {
        let directory = TestEnvironment.tlsDirectory
        let tls = AMQPConfiguration.TLS(
            caCertificateFile: directory + "/ca.pem", clientCertificateFile: directory + "/client.pem",
            clientKeyFile: directory + "/client.key", verifyPeer: true, verifyHostname: true
        )
        try await withConnection(try tlsConfiguration(host: "localhost", tls: tls)) { connection in
            try await publishAndConsumeOne(connection)
        }
    }

    @Test func tlsWithTheWrongCAFailsClearly() async throws {
        // client.pem is a valid certificate but not the broker's issuer.
        let tls = AMQPConfiguration.TLS(caCertificateFile: TestEnvironment.tlsDirectory + "/client.pem", verifyHostname: false)
        let connection = AMQPConnection(configuration: try tlsConfiguration(host: "127.0.0.1", tls: tls), logger: TestEnvironment.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await connection.run() }
            // The first attempt has failed (however long it took), then the wait gives up.
            try await waitForConnectionFailure(connection)
            let error = await #expect(throws: AMQPError.self) {
                try await connection.waitUntilConnected(timeout: .milliseconds(100))
            }
            #expect(error?.code == .notConnected)
            let cause = try #require(connection.lastConnectionError)
            #expect(cause.code == .tlsFailed)
            #expect(cause.description.contains("26671"))
            group.cancelAll()
        }
    }

    @Test func wrongPasswordIsAnAuthenticationFailure() async throws {
        let endpoint = try TestEnvironment.endpoint()
        let url = "rabbit://\(endpoint.user):Wrong-Secret-123@\(endpoint.host):\(endpoint.port)/"
        let connection = AMQPConnection(configuration: try TestEnvironment.configuration(url: url), logger: TestEnvironment.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await connection.run() }
            try await waitForConnectionFailure(connection)
            let error = await #expect(throws: AMQPError.self) {
                try await connection.waitUntilConnected(timeout: .milliseconds(100))
            }
            let cause = try #require(error?.underlying as? AMQPError)
            #expect(cause.code == .authenticationFailed)
            #expect(cause.replyCode == 403)
            #expect(cause.replyText?.contains("ACCESS_REFUSED") == true)
            #expect(error?.description.contains("authentication failed") == true)
            #expect(error?.description.contains("Wrong-Secret-123") == false)
            // Operations do not hang: they fail after the disconnected timeout.
            group.cancelAll()
        }
    }

    @Test func operationsWaitForTheConnectionThenTimeOut() async throws {
        var configuration = try TestEnvironment.configuration(url: "rabbit://guest:guest@127.0.0.1:1/")
        configuration.disconnectedOperationTimeout = .milliseconds(500)
        let connection = AMQPConnection(configuration: configuration, logger: TestEnvironment.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await connection.run() }
            // The cause is known once the first attempt failed; the publish
            // then waits its 500 ms for a connection that does not come.
            try await waitForConnectionFailure(connection)
            let error = await #expect(throws: AMQPError.self) {
                try await withTimeout(.seconds(60), "publish while disconnected") {
                    try await connection.publish(body: [1], routingKey: "x")
                }
            }
            #expect(error?.code == .notConnected)
            #expect((error?.underlying as? AMQPError)?.code == .connectionFailed)
            #expect(error?.description.contains("127.0.0.1:1") == true)
            group.cancelAll()
            try await group.waitForAll()
        }
        let after = await #expect(throws: AMQPError.self) {
            try await connection.declareQueue(name: "x")
        }
        #expect(after?.code == .shutDown)
    }

    @Test func escapedCredentialsLogIn() async throws {
        let endpoint = try TestEnvironment.endpoint()
        let url = "rabbit://ma%20user:p%40ss%3Aw%2Frd%25@\(endpoint.host):\(endpoint.port)/"
        try await withConnection(try TestEnvironment.configuration(url: url)) { connection in
            let queue = TestEnvironment.uniqueName("escaped")
            try await connection.declareQueue(name: queue, exclusive: true)
            #expect(try await connection.publish(body: [1], routingKey: queue) == .acknowledged)
            try await connection.deleteQueue(name: queue)
        }
    }

    @Test func runOnlyOnce() async throws {
        let connection = AMQPConnection(configuration: try TestEnvironment.configuration(), logger: TestEnvironment.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await connection.run() }
            try await connection.waitUntilConnected(timeout: .seconds(10))
            let error = await #expect(throws: AMQPError.self) { try await connection.run() }
            #expect(error?.code == .alreadyRunning)
            group.cancelAll()
        }
        #expect(!connection.isConnected)
    }
}
