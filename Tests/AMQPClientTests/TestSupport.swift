import AMQPClient
import Foundation
import Logging
import Testing

/// Where the test broker is: environment variables with loopback defaults
/// (see `scripts/local-services.sh env`).
enum TestEnvironment {
    static var variables: [String: String] { ProcessInfo.processInfo.environment }

    static var amqpURL: String {
        variables["MA_TEST_AMQP_URL"] ?? "rabbit://guest:guest@127.0.0.1:35672/"
    }

    static var tlsPort: Int {
        variables["MA_TEST_AMQP_TLS_PORT"].flatMap { Int($0) } ?? 35671
    }

    static var tlsDirectory: String {
        variables["MA_TEST_TLS_DIR"] ?? "/var/tmp/mistral-actions-\(getuid())/tls"
    }

    static var disruptive: Bool {
        variables["MA_TEST_DISRUPTIVE"] == "1"
    }

    /// The package root, found from this file's path.
    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The command that runs rabbitmqctl against the test broker.
    static var rabbitmqctl: [String] {
        if let command = variables["MA_TEST_RABBITMQCTL"], !command.isEmpty {
            return command.split(separator: " ").map(String.init)
        }
        return [packageRoot.appendingPathComponent("scripts/local-services.sh").path, "rabbitmqctl"]
    }

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

    static func uniqueName(_ purpose: String) -> String {
        "ma-test.\(purpose).\(UUID().uuidString.prefix(8).lowercased())"
    }

    static let logger: Logger = {
        var logger = Logger(label: "AMQPClientTests")
        logger.logLevel = Logger.Level(rawValue: variables["MA_TEST_LOG_LEVEL"] ?? "") ?? .warning
        return logger
    }()
}

struct TestTimeout: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out: \(what)" }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
}

/// Runs `body`, failing with `TestTimeout` if it takes longer than `limit`.
func withTimeout<T: Sendable>(
    _ limit: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask {
            try await body()
        }
        group.addTask {
            try await Task.sleep(for: limit)
            throw TestTimeout(what: what)
        }
        defer { group.cancelAll() }
        guard let result = try await group.next() else {
            throw TestTimeout(what: what)
        }
        return result
    }
}

/// Runs a connection while `body` runs (waiting first until it is
/// connected), then shuts it down gracefully. Everything is bounded by `limit`.
func withConnection<T: Sendable>(
    _ configuration: AMQPConfiguration,
    limit: Duration = .seconds(60),
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
                try await connection.waitUntilConnected(timeout: .seconds(15))
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

/// Takes the next delivery of `consumer`, failing after `limit`.
func nextDelivery(_ consumer: AMQPConsumer, limit: Duration = .seconds(10)) async throws -> AMQPDelivery {
    try await withTimeout(limit, "waiting for a delivery on \(consumer.queue)") {
        var iterator = consumer.makeAsyncIterator()
        guard let delivery = try await iterator.next() else {
            throw TestTimeout(what: "the consumer of \(consumer.queue) ended")
        }
        return delivery
    }
}

/// Runs rabbitmqctl with `arguments` against the test broker, without
/// blocking a cooperative thread while it runs.
@discardableResult
func rabbitmqctl(_ arguments: String...) async throws -> String {
    let command = TestEnvironment.rabbitmqctl
    let process = Process()
    process.executableURL = URL(fileURLWithPath: command[0])
    process.arguments = Array(command.dropFirst()) + arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    let status: Int32 = try await withTimeout(.seconds(120), "rabbitmqctl \(arguments.joined(separator: " "))") {
        try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { process in
                continuation.resume(returning: process.terminationStatus)
            }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
    }
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    guard status == 0 else {
        throw TestFailure(description: "rabbitmqctl \(arguments.joined(separator: " ")) failed (\(status)): \(text)")
    }
    return text
}

extension String {
    var bytes: [UInt8] { Array(utf8) }
}
