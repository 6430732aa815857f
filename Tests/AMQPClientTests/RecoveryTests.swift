import AMQPClient
import Foundation
import Logging
import MistralActionsTestSupport
import Synchronization
import Testing

/// Collects what a consumer receives, acknowledging each delivery.
final class ReceivedMessages: Sendable {
    private let state = Mutex<(ids: Set<Int>, generations: Set<UInt64>, count: Int)>(([], [], 0))
    /// Moves with every delivery: waits wake on it instead of polling.
    private let deliveries = AsyncCounter()

    func add(_ delivery: AMQPDelivery) {
        let id = Int(delivery.properties.messageID ?? "") ?? -1
        state.withLock { state in
            state.ids.insert(id)
            state.generations.insert(delivery.connectionGeneration)
            state.count += 1
        }
        deliveries.increment()
    }

    var ids: Set<Int> { state.withLock { $0.ids } }
    var generations: Set<UInt64> { state.withLock { $0.generations } }

    /// Waits until every id of `expected` was received.
    func waitFor(_ expected: Range<Int>, limit: Duration) async throws {
        try await deliveries.waitUntil("receiving messages \(expected)", limit: limit) {
            Set(expected).isSubset(of: self.ids)
        }
    }

    /// Waits until the first delivery came.
    func waitForAny(limit: Duration) async throws {
        try await deliveries.wait(untilAtLeast: 1, limit: limit, "the first delivery")
    }
}

/// Publishes until the broker confirms, riding out a reconnection.
func publishConfirmed(_ connection: AMQPConnection, id: Int, exchange: String, routingKey: String) async throws {
    while true {
        do {
            let outcome = try await connection.publish(
                body: Array("message \(id)".utf8), exchange: exchange, routingKey: routingKey,
                properties: AMQPMessageProperties(messageID: String(id))
            )
            #expect(outcome == .acknowledged)
            return
        } catch let error as AMQPError where error.code == .connectionLost || error.code == .notConnected {
            try await Task.sleep(for: .milliseconds(200))
        }
    }
}

@Suite("Recovery after the broker closes the connection")
struct ConnectionRecoveryTests {
    @Test func forcedCloseReconnectsRestoresConsumersAndDropsStaleAcks() async throws {
        let queue = TestEnvironment.uniqueName("forced")
        let name = TestEnvironment.uniqueName("connection")
        var configuration = try TestEnvironment.configuration()
        configuration.connectionName = name
        try await withConnection(configuration, limit: .seconds(300)) { connection in
            try await connection.declareQueue(name: queue, arguments: ["x-expires": 120_000])
            try await connection.setPrefetch(count: 5)
            let consumer = try await connection.consume(queue: queue, consumerTag: "forced-close")
            #expect(try await connection.publish(body: [1], routingKey: queue) == .acknowledged)
            let first = try await nextDelivery(consumer)
            #expect(first.connectionGeneration == 1)

            // The broker closes this connection (320 CONNECTION_FORCED).
            let connections = try await rabbitmqctl("list_connections", "pid", "client_properties", "--silent")
            let pid = try #require(connections.split(separator: "\n").first { $0.contains(name) }?.split(separator: "\t").first)
            try await rabbitmqctl("close_connection", String(pid), "test: forced close")
            try await eventually("reconnected", limit: .seconds(60)) {
                connection.isConnected && connection.connectionGeneration == 2
            }

            // The unacknowledged message comes again on the new connection; the
            // old delivery's ack is dropped instead of failing the channel.
            connection.ack(first)
            let again = try await nextDelivery(consumer)
            #expect(again.body == [1])
            #expect(again.redelivered)
            #expect(again.connectionGeneration == 2)
            #expect(again.consumerTag == "forced-close")
            connection.ack(again)

            #expect(try await connection.publish(body: [2], routingKey: queue) == .acknowledged)
            let next = try await nextDelivery(consumer)
            #expect(next.body == [2])
            connection.ack(next)
            try await eventually("queue drained", limit: .seconds(60)) {
                let state = try await connection.declareQueue(name: queue, passive: true)
                return state.messageCount == 0 && state.consumerCount == 1
            }
            try await consumer.cancel()
            try await connection.deleteQueue(name: queue)
        }
    }
}

/// Tests that stop the shared broker: only with MA_TEST_DISRUPTIVE=1, since
/// other suites (of this and other modules) use the broker in parallel.
@Suite("Broker restart (disruptive)", .enabled(if: TestEnvironment.disruptive), .serialized)
struct BrokerRestartTests {
    @Test func consumerKeepsReceivingAcrossABrokerRestart() async throws {
        let exchange = TestEnvironment.uniqueName("restart")
        let queue = TestEnvironment.uniqueName("restart")
        try await withConnection(try TestEnvironment.configuration(), limit: .seconds(240)) { connection in
            // Non-durable: stop_app deletes them; recovery must re-create and re-bind.
            try await connection.declareExchange(name: exchange, type: .topic)
            try await connection.declareQueue(name: queue, arguments: ["x-expires": 600_000])
            try await connection.bindQueue(queue: queue, exchange: exchange, routingKey: "restart.#")
            try await connection.setPrefetch(count: 20)
            let consumer = try await connection.consume(queue: queue)
            let received = ReceivedMessages()

            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for try await delivery in consumer {
                        received.add(delivery)
                        connection.ack(delivery)
                    }
                }

                for id in 0..<20 {
                    try await publishConfirmed(connection, id: id, exchange: exchange, routingKey: "restart.before")
                }
                try await received.waitFor(0..<20, limit: .seconds(10))

                try await rabbitmqctl("stop_app")
                try await eventually("disconnected", limit: .seconds(30)) { !connection.isConnected }
                // Published while the broker is down: they wait for the reconnection.
                group.addTask {
                    for id in 20..<30 {
                        try await publishConfirmed(connection, id: id, exchange: exchange, routingKey: "restart.during")
                    }
                }
                try await startBrokerApp()
                try await eventually("reconnected", limit: .seconds(90)) {
                    connection.isConnected && connection.connectionGeneration >= 2
                }
                for id in 30..<60 {
                    try await publishConfirmed(connection, id: id, exchange: exchange, routingKey: "restart.after")
                }
                try await received.waitFor(20..<60, limit: .seconds(30))
                #expect(received.generations.contains(1))
                #expect(received.generations.contains(connection.connectionGeneration))

                let state = try await connection.declareQueue(name: queue, passive: true)
                #expect(state.consumerCount == 1)
                try await consumer.cancel()
                try await group.waitForAll()
            }
            try await connection.deleteQueue(name: queue)
            try await connection.deleteExchange(name: exchange)
        }
    }
}

/// `rabbitmqctl start_app`. With RabbitMQ 3.10 as configured by
/// scripts/local-services.sh, start_app after stop_app can fail to bind the
/// TCP listener again (eaddrinuse) and leave the node half started; the node
/// is then restarted as a whole, which restarts the broker just the same.
func startBrokerApp() async throws {
    do {
        try await rabbitmqctl("start_app")
    } catch {
        TestEnvironment.logger.warning("start_app failed; restarting the RabbitMQ node instead", metadata: ["error": "\(error)"])
        try await rabbitmqctl("stop")
        try await runCommand([TestEnvironment.script("local-services.sh"), "start", "rabbitmq"])
    }
}
