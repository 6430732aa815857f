import Foundation
import Logging
import MistralActionsTestSupport
import PostgresClient
import Synchronization
import Testing

/// The test database, from MA_TEST_POSTGRES_URL (default: the server
/// `scripts/local-services.sh start postgresql` runs on loopback).
enum TestDatabase {
    static let url = TestEnvironment.postgresURL

    static var configuration: PostgresConfiguration {
        get throws { try PostgresConfiguration(url: url) }
    }

    static func connect(logger: Logger = TestLog.logger()) async throws -> PostgresConnection {
        var configuration = try configuration
        // Bound every server-side wait (lock waits included) in the tests.
        configuration.options["options"] = "-c statement_timeout=20000 -c lock_timeout=20000"
        configuration.options["connect_timeout"] = "5"
        return try await PostgresConnection.connect(configuration: configuration, logger: logger)
    }

    /// A name no other test (or test run) uses.
    static func uniqueName(_ prefix: String) -> String {
        TestEnvironment.uniqueName(prefix, prefix: "pgclient")
    }

    /// Creates a table with a unique name, runs `body` with it, and drops it
    /// afterwards, also when `body` fails.
    static func withTable(
        _ prefix: String,
        columns: String,
        _ body: (PostgresConnection, String) async throws -> Void
    ) async throws {
        let connection = try await connect()
        let table = uniqueName(prefix)
        try await connection.execute("CREATE TABLE \(table) (\(columns))")
        do {
            try await body(connection, table)
        } catch {
            _ = try? await connection.execute("DROP TABLE IF EXISTS \(table)")
            await connection.close()
            throw error
        }
        try await connection.execute("DROP TABLE IF EXISTS \(table)")
        await connection.close()
    }
}

/// A log handler that keeps what it is given, to check what the library logs.
final class CapturedLogs: Sendable {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: Logger.Metadata
    }

    private let entries = Mutex<[Entry]>([])

    func append(_ entry: Entry) {
        entries.withLock { $0.append(entry) }
    }

    var all: [Entry] { entries.withLock { $0 } }

    /// Every message and metadata value as text.
    var text: String {
        all.map { entry in
            "\(entry.level) \(entry.message) " + entry.metadata.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }.joined(separator: "\n")
    }
}

struct CapturingLogHandler: LogHandler {
    let store: CapturedLogs
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        store.append(.init(
            level: event.level,
            message: "\(event.message)",
            metadata: metadata.merging(event.metadata ?? [:]) { $1 }
        ))
    }
}

enum TestLog {
    /// A logger that records everything at trace level into `store` (and prints nothing).
    static func logger(capturingInto store: CapturedLogs = CapturedLogs()) -> Logger {
        Logger(label: "PostgresClientTests") { _ in CapturingLogHandler(store: store) }
    }
}

/// Events in the order they happened, from any task.
final class EventLog: Sendable {
    private let events = Mutex<[String]>([])

    func record(_ event: String) {
        events.withLock { $0.append(event) }
    }

    var all: [String] { events.withLock { $0 } }
}

extension PostgresConnection {
    /// This session's server process ID.
    func backendPID() async throws -> Int32 {
        try await query("SELECT pg_backend_pid() AS pid")[0]["pid"].decode(Int32.self)
    }

    /// Whether the session `pid` is waiting for an advisory lock.
    func isWaitingForAdvisoryLock(pid: Int32) async throws -> Bool {
        try await query(
            "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND pid = $1",
            [.int(Int64(pid))]
        )[0]["n"].decode(Int.self) > 0
    }
}
