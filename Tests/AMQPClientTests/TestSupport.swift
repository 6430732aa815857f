import AMQPClient
import Foundation
import Logging
import MistralActionsTestSupport
import Testing

/// The test broker as this target's tests use it; the addresses come from
/// the shared ``TestEnvironment`` (MistralActionsTestSupport).
extension TestEnvironment {
    /// The broker's first endpoint (host, port, credentials) from `MA_TEST_AMQP_URL`.
    static func endpoint() throws -> AMQPEndpoint {
        try #require(AMQPTransportURL(amqpURL).endpoints.first)
    }

    /// A configuration for the test broker with quick reconnects.
    static func configuration(url: String? = nil, tls: AMQPConfiguration.TLS? = nil) throws -> AMQPConfiguration {
        var configuration = try AMQPConfiguration(transportURL: url ?? amqpURL, tls: tls, connectionName: "AMQPClientTests")
        configuration.reconnectBackoff = .init(initial: .milliseconds(200), maximum: .seconds(2), multiplier: 2, jitter: 0.25)
        configuration.connectTimeout = .seconds(5)
        configuration.heartbeatSeconds = 10
        return configuration
    }

    /// Warnings and errors, or what `MA_TEST_LOG_LEVEL` asks for.
    static let logger: Logger = {
        var logger = Logger(label: "AMQPClientTests")
        logger.logLevel = logLevel ?? .warning
        return logger
    }()
}

/// Runs a connection while `body` runs (waiting first until it is
/// connected), then shuts it down gracefully. Everything is bounded by `limit`, a guard against a hang that
/// leaves room for a loaded machine running suites in parallel.
func withConnection<T: Sendable>(
    _ configuration: AMQPConfiguration,
    limit: Duration = .seconds(300),
    _ body: @escaping @Sendable (AMQPConnection) async throws -> T
) async throws -> T {
    let connection = AMQPConnection(configuration: configuration, logger: TestEnvironment.logger)
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            try await connection.run()
            return nil
        }
        group.addTask {
            try await withTimeout(limit, "test body") {
                try await connection.waitUntilConnected(timeout: .seconds(30))
                return try await body(connection)
            }
        }
        defer { group.cancelAll() }
        while let result = try await group.next() {
            if let result {
                return result
            }
        }
        throw TestTimeout(what: "connection ended early")
    }
}

/// Waits until the connection's first attempt has failed (it records why
/// but announces nothing, so this polls); `limit` only guards against a hang.
func waitForConnectionFailure(_ connection: AMQPConnection, limit: Duration = .seconds(60)) async throws {
    try await eventually("a failed connection attempt", limit: limit) { connection.lastConnectionError != nil }
}

/// Takes the next delivery of `consumer`, failing after `limit` (a guard
/// against a hang, generous for a loaded machine).
func nextDelivery(_ consumer: AMQPConsumer, limit: Duration = .seconds(30)) async throws -> AMQPDelivery {
    try await withTimeout(limit, "waiting for a delivery on \(consumer.queue)") {
        var iterator = consumer.makeAsyncIterator()
        guard let delivery = try await iterator.next() else {
            throw TestTimeout(what: "the consumer of \(consumer.queue) ended")
        }
        return delivery
    }
}

extension String {
    var bytes: [UInt8] { Array(utf8) }
}
