import AMQPClient
import Foundation
import Logging
import Synchronization
import Testing

/// Where the test broker is: environment variables with loopback defaults
/// (see `scripts/local-services.sh env`).
enum TestEnvironment {
    static var variables: [String: String] { ProcessInfo.processInfo.environment }

    static var amqpURL: String {
        variables["MA_TEST_AMQP_URL"] ?? "rabbit://guest:guest@127.0.0.1:26672/"
    }

    static var tlsPort: Int {
        variables["MA_TEST_AMQP_TLS_PORT"].flatMap { Int($0) } ?? 26671
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

/// Waits until the connection's first attempt has failed (it records why);
/// `limit` only guards against a hang.
func waitForConnectionFailure(_ connection: AMQPConnection, limit: Duration = .seconds(60)) async throws {
    try await withTimeout(limit, "a failed connection attempt") {
        while connection.lastConnectionError == nil {
            try await Task.sleep(for: .milliseconds(20))
        }
    }
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

/// Runs rabbitmqctl with `arguments` against the test broker.
@discardableResult
func rabbitmqctl(_ arguments: String...) async throws -> String {
    try await runCommand(TestEnvironment.rabbitmqctl + arguments)
}

/// Runs a command without blocking a cooperative thread while it runs;
/// returns its output, throws when it fails or takes longer than `limit`.
///
/// The output goes to a file, not a pipe, and the command starts with only
/// descriptors 0-2 open (a shell closes the others before `exec`): a daemon
/// it starts (RabbitMQ) must inherit neither a pipe nor the socket with which
/// Foundation notices that the command ended, or the wait never ends.
@discardableResult
func runCommand(_ command: [String], limit: Duration = .seconds(180)) async throws -> String {
    let outputFile = FileManager.default.temporaryDirectory.appendingPathComponent("amqp-tests-\(UUID().uuidString).log")
    guard FileManager.default.createFile(atPath: outputFile.path, contents: nil) else {
        throw TestFailure(description: "cannot create \(outputFile.path)")
    }
    defer { try? FileManager.default.removeItem(at: outputFile) }
    let output = try FileHandle(forWritingTo: outputFile)
    defer { try? output.close() }

    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/bash")
    process.arguments = [
        "-c",
        #"for fd in /proc/$$/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done 2>/dev/null; exec "$0" "$@""#,
    ] + command
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = output
    process.standardError = output
    let description = command.joined(separator: " ")

    let waiter = ProcessWaiter()
    process.terminationHandler = { process in
        waiter.finish(.success(process.terminationStatus))
    }
    try process.run()
    let status = try await withTimeout(limit, description) {
        try await withTaskCancellationHandler {
            try await waiter.wait()
        } onCancel: {
            waiter.finish(.failure(CancellationError()))
        }
    }
    let text = (try? String(contentsOf: outputFile, encoding: .utf8)) ?? ""
    guard status == 0 else {
        throw TestFailure(description: "\(description) failed (\(status)): \(text)")
    }
    return text
}

/// The exit status of a process, delivered once (termination or cancellation).
final class ProcessWaiter: Sendable {
    private let state = Mutex<(result: Result<Int32, any Error>?, continuation: CheckedContinuation<Int32, any Error>?)>((nil, nil))

    func finish(_ result: Result<Int32, any Error>) {
        let continuation = state.withLock { state -> CheckedContinuation<Int32, any Error>? in
            guard state.result == nil else {
                return nil
            }
            state.result = result
            let continuation = state.continuation
            state.continuation = nil
            return continuation
        }
        continuation?.resume(with: result)
    }

    func wait() async throws -> Int32 {
        try await withCheckedThrowingContinuation { continuation in
            let ready = state.withLock { state -> Result<Int32, any Error>? in
                if let result = state.result {
                    return result
                }
                state.continuation = continuation
                return nil
            }
            if let ready {
                continuation.resume(with: ready)
            }
        }
    }
}

extension String {
    var bytes: [UInt8] { Array(utf8) }
}
