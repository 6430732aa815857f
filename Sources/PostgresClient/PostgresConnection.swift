import Logging

/// One connection to PostgreSQL, safe to share between tasks.
///
///     let connection = try await PostgresConnection.connect(to: url, logger: logger)
///     try await connection.withTransaction { connection in
///         try await connection.advisoryTransactionLock(key: PostgresConnection.advisoryLockKey(named: "sync"))
///         let rows = try await connection.query("SELECT id, name FROM t WHERE scope = $1", ["public"])
///         for row in rows { print(try row["name"].decode(String.self)) }
///     }
///     await connection.close()
///
/// - Every libpq call runs on the connection's own serial dispatch queue, never
///   on Swift's cooperative pool.
/// - Statements are parameterized (`$1`, `$2`); there is no API that puts
///   values into SQL text.
/// - A transaction (`withTransaction`) has the connection to itself: statements
///   from other tasks wait until it ends. Statements outside transactions from
///   several tasks run one at a time.
/// - A broken connection (server restart, terminated backend) is reset once by
///   the next operation outside a transaction. A statement that fails because
///   the connection broke is not retried — it may have run — and fails with
///   `.connectionLost`; inside a transaction, or while `withAdvisoryLock`
///   holds a lock, operations fail until it ends, because the server already
///   discarded the transaction or lock.
/// - Cancelling the calling task cancels the running statement (PQcancel) and
///   the operation throws `CancellationError`.
public final class PostgresConnection: Sendable {
    private let core: LibPQConnection
    private let lease = ConnectionLease()
    /// The configuration this connection was opened with.
    public let configuration: PostgresConfiguration

    /// The connections whose lease the current task holds (inside `withTransaction`).
    @TaskLocal private static var leasedConnections: Set<ObjectIdentifier> = []

    private init(core: LibPQConnection) {
        self.core = core
        self.configuration = core.configuration
    }

    deinit {
        core.closeLater()
    }

    // MARK: - Connecting

    /// Connects with a SQLAlchemy-style URL (see `PostgresConfiguration.init(url:)`);
    /// what the URL parsing ignored is logged at debug level.
    public static func connect(to url: String, logger: Logger) async throws -> PostgresConnection {
        let configuration = try PostgresConfiguration(url: url)
        for note in configuration.notes {
            logger.debug("database URL: \(note)", metadata: ["postgres.host": "\(configuration.host ?? "(default socket)")"])
        }
        return try await connect(configuration: configuration, logger: logger)
    }

    /// Connects and prepares the session (UTC time zone, ISO dates). Waits at
    /// most `connect_timeout` seconds (default 10); cancelling the task ends
    /// the wait at once (the abandoned attempt is closed when it completes).
    ///
    /// - Throws: `PostgresError` with `.authenticationFailed` or
    ///   `.connectionFailed`; `CancellationError`.
    public static func connect(configuration: PostgresConfiguration, logger: Logger) async throws -> PostgresConnection {
        let core = LibPQConnection(configuration: configuration, logger: logger)
        try await core.openAbandoningOnCancellation()
        return PostgresConnection(core: core)
    }

    /// Closes the connection. Operations afterwards fail with `.connectionClosed`.
    public func close() async {
        // Not cancellable, so the work cannot throw.
        try? await core.run(cancellable: false) { core, _ in core.close() }
    }

    // MARK: - Statements

    /// Runs a statement with parameters `$1`, `$2`, ... and returns its rows.
    public func query(_ sql: String, _ parameters: [PostgresValue] = []) async throws -> PostgresRows {
        try await runStatement { core, cancellation in
            try core.execute(sql, parameters, cancellation: cancellation)
        }
    }

    /// Runs a statement with parameters and returns the number of rows it
    /// inserted, updated or deleted (0 for statements that report none).
    @discardableResult
    public func execute(_ sql: String, _ parameters: [PostgresValue] = []) async throws -> Int {
        try await query(sql, parameters).affectedRows
    }

    /// Runs `work` on the connection queue, first waiting for another task's
    /// transaction to end unless this task is the one holding the connection.
    private func runStatement<Value: Sendable>(
        cancellable: Bool = true,
        _ work: @escaping @Sendable (LibPQConnection, QueryCancellation?) throws -> Value
    ) async throws -> Value {
        if Self.leasedConnections.contains(ObjectIdentifier(self)) {
            return try await core.run(cancellable: cancellable, work)
        }
        try await lease.acquire(cancellable: cancellable)
        defer { lease.release() }
        return try await core.run(cancellable: cancellable, work)
    }

    // MARK: - Transactions

    /// Runs `body` in a transaction: BEGIN, `body`, COMMIT. When `body`
    /// throws, the transaction is rolled back and the error rethrown.
    ///
    /// Other tasks' statements on this connection wait until the transaction
    /// ends. Nested calls (from the same task, inside `body`) use savepoints:
    /// an inner failure rolls back only to the inner savepoint. If `body`
    /// catches a failed statement's error and returns normally, the
    /// transaction cannot commit; it is rolled back and `.transactionAborted`
    /// thrown.
    @discardableResult
    public func withTransaction<Value>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> Value
    ) async throws -> Value {
        let id = ObjectIdentifier(self)
        if Self.leasedConnections.contains(id) {
            return try await transactionScope(isolation: isolation, body)
        }
        try await lease.acquire(cancellable: true)
        defer { lease.release() }
        var leased = Self.leasedConnections
        leased.insert(id)
        return try await Self.$leasedConnections.withValue(leased) {
            try await transactionScope(isolation: isolation, body)
        }
    }

    private func transactionScope<Value>(
        isolation: isolated (any Actor)?,
        _ body: (PostgresConnection) async throws -> Value
    ) async throws -> Value {
        let level = try await core.run(cancellable: true) { core, _ in try core.beginTransaction() }
        let value: Value
        do {
            value = try await body(self)
        } catch {
            try? await core.run(cancellable: false) { core, _ in core.rollbackTransaction(level: level) }
            throw error
        }
        try await core.run(cancellable: false) { core, _ in try core.commitTransaction(level: level) }
        return value
    }

    // MARK: - Advisory locks

    /// A stable lock key for a name: 64-bit FNV-1a of its UTF-8 bytes, the
    /// same in every process and release (unlike `hashValue`).
    public static func advisoryLockKey(named name: String) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return Int64(bitPattern: hash)
    }

    /// Takes the session-level advisory lock `key` (waiting for it as long as
    /// it takes — cancel the task or set `lock_timeout` to bound the wait),
    /// runs `body`, and releases the lock, also when `body` throws.
    @discardableResult
    public func withAdvisoryLock<Value>(
        key: Int64,
        isolation: isolated (any Actor)? = #isolation,
        _ body: () async throws -> Value
    ) async throws -> Value {
        try await runStatement { core, cancellation in
            _ = try core.execute("SELECT pg_advisory_lock($1)", [.int(key)], cancellation: cancellation)
            core.advisoryLockScopes += 1
        }
        let value: Value
        do {
            value = try await body()
        } catch {
            await releaseScopedAdvisoryLock(key: key)
            throw error
        }
        await releaseScopedAdvisoryLock(key: key)
        return value
    }

    private func releaseScopedAdvisoryLock(key: Int64) async {
        // Not cancellable, and it never reconnects: unlocking a fresh session
        // would be meaningless (a broken connection's locks are already gone).
        _ = try? await runStatement(cancellable: false) { core, _ in
            defer { core.advisoryLockScopes -= 1 }
            _ = try core.execute("SELECT pg_advisory_unlock($1)", [.int(key)], cancellation: nil)
        }
    }

    /// Tries to take the session-level advisory lock `key` without waiting.
    /// The lock stays held until `advisoryUnlock(key:)` or the session ends.
    public func tryAdvisoryLock(key: Int64) async throws -> Bool {
        try await runStatement { core, cancellation in
            let rows = try core.execute("SELECT pg_try_advisory_lock($1) AS locked", [.int(key)], cancellation: cancellation)
            let locked = try rows.onlyRow()["locked"].decode(Bool.self)
            if locked { core.heldSessionLocks += 1 }
            return locked
        }
    }

    /// Releases one hold of the session-level advisory lock `key`; false (and
    /// a server warning) if this session did not hold it.
    @discardableResult
    public func advisoryUnlock(key: Int64) async throws -> Bool {
        try await runStatement(cancellable: false) { core, _ in
            let rows = try core.execute("SELECT pg_advisory_unlock($1) AS unlocked", [.int(key)], cancellation: nil)
            let unlocked = try rows.onlyRow()["unlocked"].decode(Bool.self)
            if unlocked { core.heldSessionLocks = max(0, core.heldSessionLocks - 1) }
            return unlocked
        }
    }

    /// Takes the transaction-level advisory lock `key`, waiting for it; the
    /// server releases it when the transaction ends. Only inside `withTransaction`.
    public func advisoryTransactionLock(key: Int64) async throws {
        try await runStatement { core, cancellation in
            try Self.requireTransaction(core, "advisoryTransactionLock")
            _ = try core.execute("SELECT pg_advisory_xact_lock($1)", [.int(key)], cancellation: cancellation)
        }
    }

    /// Tries to take the transaction-level advisory lock `key` without waiting.
    /// Only inside `withTransaction`.
    public func tryAdvisoryTransactionLock(key: Int64) async throws -> Bool {
        try await runStatement { core, cancellation in
            try Self.requireTransaction(core, "tryAdvisoryTransactionLock")
            let rows = try core.execute("SELECT pg_try_advisory_xact_lock($1) AS locked", [.int(key)], cancellation: cancellation)
            return try rows.onlyRow()["locked"].decode(Bool.self)
        }
    }

    private static func requireTransaction(_ core: LibPQConnection, _ operation: String) throws {
        guard core.transactionDepth > 0 else {
            throw PostgresError(
                code: .invalidUse,
                message: "\(operation) outside withTransaction: the lock would be released as soon as the statement ends"
            )
        }
    }
}
