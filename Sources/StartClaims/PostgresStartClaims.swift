import CheckedNumbers
import Logging
import PostgresClient
import ServiceLifecycle
import Synchronization

/// Start claims in Mistral's PostgreSQL database, in a table of the worker's
/// own schema:
///
///     CREATE TABLE mistral_actions.start_claims (
///         action_execution_id text PRIMARY KEY,
///         claimed_at timestamptz NOT NULL DEFAULT now(),
///         worker text NOT NULL)
///
/// A claim is one `INSERT ... ON CONFLICT DO NOTHING RETURNING`: the ids it
/// did not insert were claimed before. Calls that arrive while a statement is
/// in flight go together in the next one (up to `maximumBatchSize` ids), so
/// many concurrent starts cost few round trips, and a lone start costs one.
///
/// Works while ``run()`` runs (a `Service`: put it in the worker's
/// `ServiceGroup` before the worker, so that it stops after it). `run()` owns
/// the batching loop and the retention loop, which deletes claims older than
/// `retention` at most once per `retentionInterval`, in small batches. Call
/// ``prepare()`` first to create the table and fail early when the database
/// cannot be used; `run()` creates it too when it must (and again if someone
/// drops it). One dedicated connection; a connection that broke is reopened
/// by the next statement.
public final class PostgresStartClaims: StartClaimStore, Service {
    public struct Configuration: Sendable {
        /// Mistral's database (`[database] connection`).
        public var database: PostgresConfiguration
        /// Recorded with each claim: which worker started the action (host and pid, say).
        public var worker: String
        /// The schema of the table; tests use their own.
        public var schema: String
        /// How long claims are kept. Kept between 1 minute and 366 days:
        /// a shorter time would forget starts whose redelivery is still possible.
        public var retention: Duration
        /// How often expired claims are deleted.
        public var retentionInterval: Duration
        /// The most rows one DELETE removes, so it never holds locks for long.
        public var retentionBatchSize: Int
        /// The most ids in one INSERT.
        public var maximumBatchSize: Int
        /// How long one statement may run on the server (`statement_timeout`,
        /// in whole milliseconds; zero or less: the longest PostgreSQL takes, about 24 days).
        public var statementTimeout: Duration

        public init(
            database: PostgresConfiguration,
            worker: String,
            schema: String = "mistral_actions",
            retention: Duration = .seconds(7 * 24 * 3600),
            retentionInterval: Duration = .seconds(3600),
            retentionBatchSize: Int = 1000,
            maximumBatchSize: Int = 512,
            statementTimeout: Duration = .seconds(10)
        ) {
            self.database = database
            self.worker = worker
            self.schema = schema
            self.retention = retention
            self.retentionInterval = retentionInterval
            self.retentionBatchSize = retentionBatchSize
            self.maximumBatchSize = maximumBatchSize
            self.statementTimeout = statementTimeout
        }
    }

    /// Counters since the store was made.
    public struct Statistics: Sendable, Equatable {
        /// INSERT statements sent (each carries one batch, or part of a large one).
        public var insertStatements = 0
        /// `claim` calls answered from the database.
        public var claimCalls = 0
        /// Ids this store inserted (claimed first).
        public var claimedIDs = 0
        /// Ids found claimed before.
        public var alreadyClaimedIDs = 0
        /// Rows the retention deleted.
        public var expiredClaimsDeleted = 0
    }

    private struct ConnectionSlot {
        var connection: PostgresConnection?
        var tableReady = false
    }

    public let configuration: Configuration
    /// The table, quoted for SQL (`"mistral_actions".start_claims`).
    public let qualifiedTableName: String
    private let connectionConfiguration: PostgresConfiguration
    private let retentionSeconds: Double
    private let logger: Logger
    private let queue: Mutex<ClaimQueue<CheckedContinuation<Set<String>, any Error>, CheckedContinuation<Void, Never>>>
    private let slot = Mutex(ConnectionSlot())
    private let counters = Mutex(Statistics())

    /// - Throws: `StartClaimsError` `.invalidConfiguration` for a schema name
    ///   PostgreSQL cannot hold (empty, a NUL character, over 63 bytes) or a
    ///   worker name with a NUL character.
    public init(configuration: Configuration, logger: Logger) throws(StartClaimsError) {
        let schema = configuration.schema
        guard !schema.isEmpty, schema.utf8.count <= 63, !schema.utf8.contains(0) else {
            throw StartClaimsError(
                code: .invalidConfiguration,
                message: "schema name \(schema.debugDescription) cannot be used: it must be 1 to 63 bytes without NUL"
            )
        }
        guard !configuration.worker.utf8.contains(0) else {
            throw StartClaimsError(code: .invalidConfiguration, message: "the worker name \(configuration.worker.debugDescription) contains a NUL character")
        }
        self.configuration = configuration
        self.qualifiedTableName = Self.quotedIdentifier(schema) + ".start_claims"
        self.retentionSeconds = min(max(Seconds.seconds(of: configuration.retention), 60), Seconds.maximum)
        var logger = logger
        logger[metadataKey: "start_claims.table"] = "\(schema).start_claims"
        self.logger = logger
        self.queue = Mutex(ClaimQueue(maximumBatchSize: min(max(1, configuration.maximumBatchSize), 10_000)))
        var database = configuration.database
        // A connection parameter, so that it survives libpq's reconnects.
        let timeout = Int64(truncating: Seconds.seconds(of: configuration.statementTimeout) * 1000, within: 1...Int64(Int32.max))
            ?? Int64(Int32.max)
        let existing = database.options["options"].map { $0 + " " } ?? ""
        database.options["options"] = existing + "-c statement_timeout=\(timeout)"
        self.connectionConfiguration = database
    }

    /// `"name"`, with embedded quotes doubled: any schema name is one identifier.
    static func quotedIdentifier(_ name: String) -> String {
        "\"" + String(name.flatMap { $0 == "\"" ? ["\"", "\""] : [$0] }) + "\""
    }

    /// Counters since the store was made.
    public var statistics: Statistics {
        counters.withLock { $0 }
    }

    /// Calls waiting for a statement (for tests).
    var queuedCallCount: Int {
        queue.withLock { $0.pendingCount }
    }

    // MARK: - Preparing

    /// Connects and creates the schema and table if they are missing. Safe
    /// when several workers start at once.
    ///
    /// - Throws: `StartClaimsError` `.unavailable` (database unreachable,
    ///   credentials refused, no permission to create the schema).
    public func prepare() async throws {
        _ = try await readyConnection()
    }

    /// The connection, opened and with the table in place.
    private func readyConnection() async throws -> PostgresConnection {
        let (existing, tableReady) = slot.withLock { ($0.connection, $0.tableReady) }
        let connection: PostgresConnection
        if let existing {
            connection = existing
        } else {
            let opened: PostgresConnection
            do {
                opened = try await PostgresConnection.connect(configuration: connectionConfiguration, logger: logger)
            } catch let error as PostgresError {
                throw StartClaimsError(code: .unavailable, message: "cannot connect to Mistral's database", underlying: error)
            }
            // The retention task may have connected meanwhile: keep one connection.
            connection = slot.withLock { slot in
                if let other = slot.connection { return other }
                slot.connection = opened
                return opened
            }
            if connection !== opened { await opened.close() }
        }
        if !tableReady {
            try await createTable(on: connection)
            slot.withLock { $0.tableReady = true }
        }
        return connection
    }

    private func createTable(on connection: PostgresConnection) async throws {
        let schema = configuration.schema
        do {
            // CREATE SCHEMA needs the CREATE privilege on the database even when
            // the schema exists, so it is only sent when the schema is missing
            // (a DBA may have created it for a user without that privilege).
            let schemaExists = try await connection.query(
                "SELECT count(*) AS n FROM pg_namespace WHERE nspname = $1", [.text(schema)]
            ).onlyRow()["n"].decode(Int.self) > 0
            if !schemaExists {
                try await create("CREATE SCHEMA IF NOT EXISTS \(Self.quotedIdentifier(schema))", on: connection)
                logger.info("created the schema for start claims")
            }
            try await create(
                """
                CREATE TABLE IF NOT EXISTS \(qualifiedTableName) (
                    action_execution_id text PRIMARY KEY,
                    claimed_at timestamptz NOT NULL DEFAULT now(),
                    worker text NOT NULL
                )
                """,
                on: connection
            )
            // For the retention's deletes.
            try await create("CREATE INDEX IF NOT EXISTS start_claims_claimed_at ON \(qualifiedTableName) (claimed_at)", on: connection)
        } catch let error as PostgresError {
            throw creationError(error)
        }
    }

    /// Runs a `CREATE ... IF NOT EXISTS`, once more if another worker created
    /// the same object at the same moment: IF NOT EXISTS does not see an
    /// object whose creation has not committed, and the catalog's unique
    /// index then fails the second creator. By the retry it has committed.
    private func create(_ sql: String, on connection: PostgresConnection) async throws {
        do {
            try await connection.execute(sql)
        } catch let error as PostgresError where ["23505", "42P06", "42P07", "42710"].contains(error.sqlState ?? "") {
            try await connection.execute(sql)
        }
    }

    private func creationError(_ error: PostgresError) -> StartClaimsError {
        var message = "cannot create \(configuration.schema).start_claims"
        if error.sqlState == "42501" {
            message += " (the database user needs the CREATE privilege on the database, or a DBA creates the schema for it: "
                + "CREATE SCHEMA \(Self.quotedIdentifier(configuration.schema)) AUTHORIZATION <user>)"
        }
        return StartClaimsError(code: .unavailable, message: message, underlying: error)
    }

    // MARK: - Claiming

    public func claim(_ actionExecutionIDs: [String]) async throws -> Set<String> {
        try StartClaimIDs.validate(actionExecutionIDs)
        guard !actionExecutionIDs.isEmpty else { return [] }
        let requestID = queue.withLock { $0.makeRequestID() }
        let request = ClaimRequest(id: requestID, actionExecutionIDs: actionExecutionIDs)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let action = queue.withLock {
                    $0.enqueue(request, continuation: continuation, isCancelled: Task.isCancelled)
                }
                switch action {
                case .none: break
                case .wakeLoop(let loop): loop.resume()
                case .fail(let continuation, let error): continuation.resume(throwing: error)
                }
            }
        } onCancel: {
            queue.withLock { $0.abandon(requestID) }?.resume(throwing: CancellationError())
        }
    }

    // MARK: - Running

    /// Serves claims until cancelled, or until graceful shutdown once the
    /// queued claims are answered; then closes the connection. Claims made
    /// before `run()` starts wait for it.
    public func run() async throws {
        guard queue.withLock({ $0.start() }) else {
            throw StartClaimsError(code: .notRunning, message: "run() was called twice on one start-claims store")
        }
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await self.retentionLoop() }
                    await self.batchLoop()
                    group.cancelAll()
                }
            } onGracefulShutdown: {
                self.queue.withLock { $0.drain() }?.resume()
            }
        } onCancel: {
            self.stop()
        }
        stop()
        let connection = slot.withLock { slot in
            defer { slot = ConnectionSlot() }
            return slot.connection
        }
        await connection?.close()
    }

    private func stop() {
        let (waiters, loop) = queue.withLock { $0.stop() }
        loop?.resume()
        for waiter in waiters {
            waiter.resume(throwing: StartClaimsError(code: .notRunning, message: "the start-claims store stopped before the claim was answered"))
        }
    }

    private func batchLoop() async {
        while let batch = await nextBatch() {
            let results = await execute(batch)
            for (request, result) in zip(batch, results) {
                queue.withLock { $0.complete(request.id) }?.resume(with: result)
            }
        }
    }

    /// The next calls to send; waits (without a timer) while there are none.
    private func nextBatch() async -> [ClaimRequest]? {
        while true {
            switch queue.withLock({ $0.nextBatch() }) {
            case .batch(let batch):
                return batch
            case .stop:
                return nil
            case .wait:
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    if !queue.withLock({ $0.park(continuation) }) { continuation.resume() }
                }
            }
        }
    }

    /// One batch: one INSERT for all its calls. If the server refuses the
    /// data (an id a non-UTF-8 database cannot store, say), nothing was
    /// inserted, so each call is retried alone and only the guilty one
    /// fails. Other failures (timeouts, locks, a lost connection) fail the
    /// whole batch at once: retrying call by call would only multiply the wait.
    private func execute(_ batch: [ClaimRequest]) async -> [Result<Set<String>, any Error>] {
        let plan = BatchPlan(batch)
        do {
            let inserted = try await insert(plan.ids)
            return record(plan.results(inserted: inserted), insertedCount: inserted.count)
        } catch let error as StartClaimsError where batch.count > 1 && Self.isRefusedData(error) {
            var results: [Result<Set<String>, any Error>] = []
            for request in batch {
                results += await execute([request])
            }
            return results
        } catch {
            if !(error is CancellationError) {
                logger.warning("cannot record action starts", metadata: ["error": "\(error)", "start_claims.ids": "\(plan.ids.count)"])
            }
            return batch.map { _ in .failure(error) }
        }
    }

    /// A data exception (class 22), an integrity violation (23) or a
    /// program limit (54): the statement's values were refused, not the statement.
    private static func isRefusedData(_ error: StartClaimsError) -> Bool {
        guard let underlying = error.underlying, underlying.code == .server, let sqlState = underlying.sqlState else { return false }
        return ["22", "23", "54"].contains(String(sqlState.prefix(2)))
    }

    private func record(_ results: [Set<String>], insertedCount: Int) -> [Result<Set<String>, any Error>] {
        let before = results.reduce(0) { $0 + $1.count }
        counters.withLock {
            $0.claimCalls += results.count
            $0.claimedIDs += insertedCount
            $0.alreadyClaimedIDs += before
        }
        return results.map { .success($0) }
    }

    /// Inserts the ids (several statements for more than `maximumBatchSize`)
    /// and returns the ones that were new, as UTF-8 bytes.
    private func insert(_ ids: [String]) async throws -> Set<[UInt8]> {
        var inserted: Set<[UInt8]> = []
        let chunkSize = queue.withLock { $0.maximumBatchSize }
        var start = 0
        while start < ids.count {
            let end = min(start + chunkSize, ids.count)
            inserted.formUnion(try await insertChunk(Array(ids[start..<end])))
            start = end
        }
        return inserted
    }

    private func insertChunk(_ ids: [String]) async throws -> Set<[UInt8]> {
        // $1 is the worker, $2... the ids: values never enter the SQL text.
        let values = ids.indices.map { "($\($0 + 2), $1)" }.joined(separator: ", ")
        let sql = "INSERT INTO \(qualifiedTableName) (action_execution_id, worker) VALUES \(values) "
            + "ON CONFLICT (action_execution_id) DO NOTHING RETURNING action_execution_id"
        let parameters: [PostgresValue] = [.text(configuration.worker)] + ids.map { .text($0) }
        var recreated = false
        while true {
            let connection = try await readyConnection()
            do {
                counters.withLock { $0.insertStatements += 1 }
                let rows = try await connection.query(sql, parameters)
                return Set(try rows.map { Array(try $0.decode("action_execution_id", as: String.self).utf8) })
            } catch let error as PostgresError where !recreated && (error.sqlState == "42P01" || error.sqlState == "3F000") {
                // The table or schema was dropped under us; nothing was inserted.
                logger.warning("the start-claims table is gone; creating it again")
                slot.withLock { $0.tableReady = false }
                recreated = true
            } catch let error as PostgresError {
                throw StartClaimsError(code: .unavailable, message: "cannot record \(ids.count) action start(s)", underlying: error)
            }
        }
    }

    // MARK: - Retention

    private func retentionLoop() async {
        while !Task.isCancelled {
            do {
                let deleted = try await deleteExpiredClaims()
                if deleted > 0 {
                    logger.info("deleted expired start claims", metadata: ["start_claims.deleted": "\(deleted)"])
                }
            } catch is CancellationError {
                return
            } catch {
                logger.warning("cannot delete expired start claims; trying again later", metadata: ["error": "\(error)"])
            }
            do {
                try await Task.sleep(for: max(configuration.retentionInterval, .seconds(1)))
            } catch {
                return
            }
        }
    }

    /// Deletes the claims older than `retention` now, `retentionBatchSize`
    /// rows per statement, and returns how many it deleted. `run()` calls it
    /// once per `retentionInterval`.
    @discardableResult
    public func deleteExpiredClaims() async throws -> Int {
        let connection = try await readyConnection()
        let batchSize = Int64(min(max(1, configuration.retentionBatchSize), 100_000))
        var total = 0
        while true {
            try Task.checkCancellation()
            let deleted: Int
            do {
                deleted = try await connection.execute(
                    """
                    DELETE FROM \(qualifiedTableName) WHERE action_execution_id IN (
                        SELECT action_execution_id FROM \(qualifiedTableName)
                        WHERE claimed_at < now() - make_interval(secs => $1) LIMIT $2)
                    """,
                    [.double(retentionSeconds), .int(batchSize)]
                )
            } catch let error as PostgresError {
                throw StartClaimsError(code: .unavailable, message: "cannot delete expired start claims", underlying: error)
            }
            total += deleted
            counters.withLock { $0.expiredClaimsDeleted += deleted }
            if deleted < batchSize { return total }
        }
    }
}
