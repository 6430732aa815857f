import Foundation
import Logging
import PostgresClient
import StartClaims
import Synchronization
import Testing

/// The test database, from MA_TEST_POSTGRES_URL (default: the server
/// `scripts/local-services.sh start postgresql` runs on loopback). Each test
/// uses a schema of its own and drops it afterwards.
enum TestDatabase {
    static let url = ProcessInfo.processInfo.environment["MA_TEST_POSTGRES_URL"]
        ?? "postgresql://mistral_actions:ma-secret@127.0.0.1:26432/mistral_actions_test"

    static var configuration: PostgresConfiguration {
        get throws { try PostgresConfiguration(url: url) }
    }

    static func connect() async throws -> PostgresConnection {
        try await PostgresConnection.connect(configuration: try configuration, logger: Logger(label: "start-claims-tests"))
    }

    /// A schema name no other test (or test run) uses.
    static func uniqueSchema(_ prefix: String) -> String {
        "claims_\(prefix)_\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// A store on its own schema, running (and prepared) while `body` runs;
    /// the schema is dropped afterwards, also when `body` fails.
    static func withRunningStore(
        _ prefix: String,
        logger: Logger = Logger(label: "start-claims-tests"),
        configure: (inout PostgresStartClaims.Configuration) -> Void = { _ in },
        _ body: @Sendable (PostgresStartClaims, _ schema: String) async throws -> Void
    ) async throws {
        let schema = uniqueSchema(prefix)
        var configuration = PostgresStartClaims.Configuration(database: try Self.configuration, worker: "test-worker", schema: schema)
        configure(&configuration)
        let store = try PostgresStartClaims(configuration: configuration, logger: logger)
        do {
            try await store.prepare()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await store.run() }
                try await body(store, schema)
                group.cancelAll()
                try await group.waitForAll()
            }
        } catch {
            try? await dropSchema(schema)
            throw error
        }
        try await dropSchema(schema)
    }

    static func dropSchema(_ schema: String) async throws {
        let connection = try await connect()
        try await connection.execute("DROP SCHEMA IF EXISTS \"\(schema)\" CASCADE")
        await connection.close()
    }
}

/// A log handler that keeps what it is given.
final class CapturedLogs: Sendable {
    private let entries = Mutex<[(level: Logger.Level, message: String, metadata: Logger.Metadata)]>([])

    func append(_ level: Logger.Level, _ message: String, _ metadata: Logger.Metadata) {
        entries.withLock { $0.append((level, message, metadata)) }
    }

    var all: [(level: Logger.Level, message: String, metadata: Logger.Metadata)] { entries.withLock { $0 } }

    var logger: Logger {
        Logger(label: "start-claims-tests") { _ in CapturingLogHandler(store: self) }
    }
}

struct CapturingLogHandler: LogHandler {
    let store: CapturedLogs
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        store.append(event.level, "\(event.message)", metadata.merging(event.metadata ?? [:]) { $1 })
    }
}
