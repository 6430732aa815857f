import ActionKit
@testable import ActionSync
import Foundation
import Glibc
import Logging
import MistralActionsTestSupport
import OrderedJSON
import PostgresClient
import Synchronization
import Testing

/// A log handler that keeps the entries and can tell a waiter about each warning.
final class RecordedLogs: Sendable {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: Logger.Metadata
    }

    private let entries = Mutex<[Entry]>([])
    let warnings: AsyncStream<Entry>
    private let warningsContinuation: AsyncStream<Entry>.Continuation

    init() {
        (warnings, warningsContinuation) = AsyncStream.makeStream(of: Entry.self)
    }

    func append(_ entry: Entry) {
        entries.withLock { $0.append(entry) }
        if entry.level == .warning { warningsContinuation.yield(entry) }
    }

    var all: [Entry] { entries.withLock { $0 } }

    var logger: Logger {
        Logger(label: "retry-tests") { _ in RecordingLogHandler(store: self) }
    }
}

struct RecordingLogHandler: LogHandler {
    let store: RecordedLogs
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        store.append(.init(level: event.level, message: "\(event.message)", metadata: metadata.merging(event.metadata ?? [:]) { $1 }))
    }
}

/// The test database without Mistral's tables (MA_TEST_POSTGRES_URL): the
/// lock is per database, so holding it here never blocks the syncs of the
/// other tests, which use the `mistral` database.
enum PlainTestDatabase {
    static let url = TestEnvironment.postgresURL
}

struct LockedAlpha: MistralAction {
    static let name = "lock.things.alpha"
    static let description = "Alpha."
    init() {}
    func run(context: ActionContext) async throws -> JSON { .null }
}

@Suite("Registration: lock timeout and retries")
struct RegistrationRetryTests {
    let logger = Logger(label: "retry-tests")

    // MARK: - Lock timeout

    @Test("a held action-table lock fails the sync after lock_timeout, naming the holder's pid")
    func heldLock() async throws {
        let holder = try await PostgresConnection.connect(to: PlainTestDatabase.url, logger: logger)
        let waiter = try await PostgresConnection.connect(to: PlainTestDatabase.url, logger: logger)
        let holderPID = try await holder.query("SELECT pg_backend_pid() AS pid").onlyRow()["pid"].decode(Int32.self)
        let sync = ActionTableSync(
            registry: try ActionRegistry([LockedAlpha.self]), settings: .init(prefix: "lock"), generator: "retry tests",
            lockTimeout: .seconds(1)
        )
        #expect(try await holder.tryAdvisoryLock(key: ActionTableSync.lockKey))
        do {
            await #expect {
                _ = try await sync.sync(on: waiter, logger: logger)
            } throws: { error in
                guard case .lockHeld(let holders, let waited) = error as? ActionSyncError else { return false }
                let text = "\(error)"
                return holders.map(\.pid) == [holderPID] && waited == .seconds(1)
                    && text.contains("another mistral-actions process holds the action-table lock (pid \(holderPID)")
                    && text.contains("pg_terminate_backend(\(holderPID))")
            }
            // unregister and clear take the same lock the same way.
            await #expect {
                _ = try await sync.clear(on: waiter, logger: logger)
            } throws: { error in
                if case .lockHeld = error as? ActionSyncError { return true }
                return false
            }
        } catch {
            _ = try? await holder.advisoryUnlock(key: ActionTableSync.lockKey)
            throw error
        }
        #expect(try await holder.advisoryUnlock(key: ActionTableSync.lockKey))
        // Free again: the sync gets past the lock (to the schema check: this
        // database has no Mistral tables), and the connection is still usable.
        await #expect(throws: ActionSyncError.schemaMissing) {
            _ = try await sync.sync(on: waiter, logger: logger)
        }
        // lock_timeout was SET LOCAL: the session's own setting is back.
        let setting = try await waiter.query("SELECT current_setting('lock_timeout') AS t").onlyRow()["t"].decode(String.self)
        #expect(setting == "0")
        await holder.close()
        await waiter.close()
    }

    @Test("lock_timeout is whole milliseconds PostgreSQL accepts, whatever the Duration")
    func lockTimeoutMilliseconds() {
        #expect(ActionTableSync.lockTimeoutMilliseconds(.seconds(10)) == 10_000)
        #expect(ActionTableSync.lockTimeoutMilliseconds(.microseconds(1500)) == 2)
        #expect(ActionTableSync.lockTimeoutMilliseconds(.zero) == 1, "0 would mean no timeout")
        #expect(ActionTableSync.lockTimeoutMilliseconds(.seconds(-5)) == 1)
        #expect(ActionTableSync.lockTimeoutMilliseconds(.seconds(Int64.max)) == Int64(Int32.max))
    }

    @Test("the message when the holder let go before it could be named")
    func lockHeldWithoutHolder() {
        let text = "\(ActionSyncError.lockHeld(holders: [], waited: .seconds(10)))"
        #expect(text.contains("held the action-table lock for more than 10 s"))
    }

    // MARK: - Backoff

    @Test("backoff: 1 s doubling to 30 s, without overflow however many failures")
    func backoff() {
        let backoff = RetryBackoff()
        #expect((1...7).map { backoff.delay(afterFailures: $0) } == [1, 2, 4, 8, 16, 30, 30].map { Duration.seconds($0) })
        #expect(backoff.delay(afterFailures: 0) == .seconds(1))
        #expect(backoff.delay(afterFailures: Int.max) == .seconds(30))
        let odd = RetryBackoff(initialDelay: .seconds(-1), maximumDelay: .seconds(5))
        #expect(odd.delay(afterFailures: 3) == .zero)
    }

    // MARK: - Retry loop

    @Test("a failing attempt is retried with backoff and a warning each time, until it succeeds")
    func retriesUntilSuccess() async throws {
        let logs = RecordedLogs()
        let sleeps = Mutex<[Duration]>([])
        let attempts = Mutex(0)
        struct NotYet: Error, CustomStringConvertible { var description: String { "database not ready" } }
        let value = try await retryUntilSuccess(
            logger: logs.logger, message: "cannot register the actions yet; retrying",
            sleep: { delay in sleeps.withLock { $0.append(delay) } }
        ) { attempt in
            attempts.withLock { $0 += 1 }
            #expect(attempt == attempts.withLock { $0 })
            if attempt <= 3 { throw NotYet() }
            return "code-source-id"
        }
        #expect(value == "code-source-id")
        #expect(attempts.withLock { $0 } == 4)
        #expect(sleeps.withLock { $0 } == [.seconds(1), .seconds(2), .seconds(4)])
        let warnings = logs.all.filter { $0.level == .warning }
        #expect(warnings.map(\.message) == Array(repeating: "cannot register the actions yet; retrying", count: 3))
        #expect(warnings.map { $0.metadata["error"]?.description } == Array(repeating: "database not ready", count: 3))
        #expect(warnings.map { $0.metadata["retry_in"]?.description } == ["1.0 seconds", "2.0 seconds", "4.0 seconds"])
    }

    @Test("a database on a closed port, then reachable: the retry loop connects once it is")
    func closedPortThenReachable() async throws {
        let logs = RecordedLogs()
        var closed = try PostgresConfiguration(url: PlainTestDatabase.url)
        closed.port = try #require(closed.port) + 9  // nothing listens there
        let reachable = try PostgresConfiguration(url: PlainTestDatabase.url)
        let one = try await retryUntilSuccess(
            logger: logs.logger, message: "cannot register the actions yet; retrying", sleep: { _ in }
        ) { attempt in
            let connection = try await PostgresConnection.connect(configuration: attempt <= 2 ? closed : reachable, logger: logger)
            let value = try await connection.query("SELECT 1 AS one").onlyRow()["one"].decode(Int.self)
            await connection.close()
            return value
        }
        #expect(one == 1)
        let warnings = logs.all.filter { $0.level == .warning }
        #expect(warnings.count == 2)
        #expect(warnings.allSatisfy { ($0.metadata["error"]?.description ?? "").contains("could not connect") })
    }

    @Test("cancelling the retry loop while it waits ends it with CancellationError", .timeLimit(.minutes(1)))
    func cancelledWhileWaiting() async throws {
        let logs = RecordedLogs()
        let task = Task {
            try await retryUntilSuccess(
                backoff: RetryBackoff(initialDelay: .seconds(3600), maximumDelay: .seconds(3600)),
                logger: logs.logger, message: "cannot register the actions yet; retrying"
            ) { _ -> Int in
                throw PostgresError(code: .connectionFailed, message: "down")
            }
        }
        // The warning is logged just before the wait: cancel then.
        var iterator = logs.warnings.makeAsyncIterator()
        _ = await iterator.next()
        task.cancel()
        await #expect(throws: CancellationError.self) { _ = try await task.value }
        #expect(logs.all.filter { $0.level == .warning }.count == 1, "a cancelled loop reports no further failure")
    }

    @Test("cancelling the retry loop while it connects to a server that never answers ends it at once", .timeLimit(.minutes(1)))
    func cancelledWhileConnecting() async throws {
        let silent = try SilentServer()
        defer { silent.close() }
        var configuration = try PostgresConfiguration(url: "postgresql://nobody:x@127.0.0.1:\(silent.port)/none")
        configuration.options["connect_timeout"] = "600"  // far past the test's time limit
        let attempts = AsyncStream<Void>.makeStream()
        let task = Task {
            try await retryUntilSuccess(logger: logger, message: "cannot register the actions yet; retrying") { _ in
                attempts.continuation.yield()
                return try await PostgresConnection.connect(configuration: configuration, logger: logger)
            }
        }
        var iterator = attempts.stream.makeAsyncIterator()
        _ = await iterator.next()
        // The connect is under way (libpq waits for the server's answer); wait
        // until the server has the connection, then cancel.
        try await silent.waitForConnection()
        task.cancel()
        await #expect(throws: CancellationError.self) { _ = try await task.value }
    }
}

/// A TCP listener on loopback that never accepts: the kernel completes the
/// handshake, so a client's connect succeeds and then waits for an answer
/// that never comes.
final class SilentServer: Sendable {
    let descriptor: Int32
    let port: Int

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw SilentServerError(step: "socket") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(descriptor, 8) == 0 else {
            Glibc.close(descriptor)
            throw SilentServerError(step: "bind/listen")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard named == 0 else {
            Glibc.close(descriptor)
            throw SilentServerError(step: "getsockname")
        }
        self.descriptor = descriptor
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// Waits until a client's connection is queued (the socket is readable;
    /// the kernel tells no task, so this polls without blocking a thread).
    func waitForConnection() async throws {
        try await eventually("a client's connection", every: .milliseconds(10)) {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            return poll(&poller, 1, 0) > 0
        }
    }

    func close() {
        Glibc.close(descriptor)
    }
}

struct SilentServerError: Error {
    var step: String
}
