import CLibPQ
import Dispatch
import Logging
import Synchronization

/// Owns one libpq connection (`PGconn *`) and everything that must change
/// together with it: the transaction depth, the advisory locks held, the
/// cancel key. Every method runs on `queue`, a serial queue of its own, so
/// libpq's blocking calls never run on Swift's cooperative pool and the
/// handle is never used by two threads at once.
///
/// `PostgresConnection` is the public face; it reaches this class only
/// through ``run(cancellable:_:)``.
final class LibPQConnection: @unchecked Sendable {
    // @unchecked Sendable: the mutable state below is read and written only on
    // `queue` (each entry point asserts it with dispatchPrecondition), which
    // serializes all access; `queue`, `configuration` and `address` are
    // immutable. Instances cross threads only to be used on that queue.

    let queue: DispatchQueue
    let configuration: PostgresConfiguration
    private var logger: Logger

    /// nil before `open()` and after `close()`. Freed exactly once: by `close()` or deinit.
    private var handle: OpaquePointer?
    private var isClosed = false
    private var cancelToken: LibPQCancelToken?
    /// The last FATAL message the server sent while the connection was idle:
    /// usually why it is about to close the connection.
    private var lastIdleServerError: String?
    /// The server sent FATAL while the connection was idle: it ends the
    /// session, even if libpq has not read the end of the stream yet.
    private var serverEndedSession = false

    /// Open `withTransaction` levels: 1 is BEGIN, higher ones are savepoints.
    var transactionDepth = 0
    /// Whether the server reported an open transaction after the last statement
    /// (also catches a BEGIN sent as plain SQL).
    private var serverTransactionOpen = false
    /// `withAdvisoryLock` scopes that hold a session-level lock on this connection.
    var advisoryLockScopes = 0
    /// Session-level locks taken with `tryAdvisoryLock` and not yet released.
    var heldSessionLocks = 0

    private static let savepointPrefix = "postgres_client_savepoint_"

    init(configuration: PostgresConfiguration, logger: Logger) {
        var logger = logger
        logger[metadataKey: "postgres.host"] = "\(configuration.host ?? "(default socket)")"
        logger[metadataKey: "postgres.database"] = "\(configuration.database ?? configuration.user ?? "(default)")"
        self.logger = logger
        self.configuration = configuration
        self.queue = DispatchQueue(label: "mistral-actions.postgres-connection")
    }

    deinit {
        // Normally `close()` already ran on the queue; this is the fallback for
        // a connection dropped without close (no other reference exists now).
        if let handle {
            PQfinish(handle)
        }
    }

    // MARK: - Running on the queue

    /// Runs `work` on the connection's queue and returns its result. With
    /// `cancellable`, cancelling the calling task cancels the running statement
    /// (PQcancel), or skips it if it has not started.
    func run<Value: Sendable>(
        cancellable: Bool,
        _ work: @escaping @Sendable (LibPQConnection, QueryCancellation?) throws -> Value
    ) async throws -> Value {
        if cancellable {
            try Task.checkCancellation()
        }
        let cancellation = cancellable ? QueryCancellation() : nil
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
                queue.async {
                    continuation.resume(with: Result { try work(self, cancellation) })
                }
            }
        } onCancel: {
            cancellation?.cancel()
        }
    }

    /// Opens the connection on the queue. libpq's connect cannot be
    /// interrupted (it blocks for up to `connect_timeout` when the server does
    /// not answer), so cancelling the calling task ends the wait at once with
    /// `CancellationError` instead: the connect finishes on the queue and the
    /// connection is then closed, never handed out.
    func openAbandoningOnCancellation() async throws {
        try Task.checkCancellation()
        let outcome = AbandonableOutcome()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                guard outcome.install(continuation) else { return }  // cancelled before it began
                queue.async {
                    let result = Result { try self.open() }
                    if !outcome.finish(with: result) {
                        self.close()  // the caller gave up waiting
                    }
                }
            }
        } onCancel: {
            outcome.cancel()
        }
    }

    private func assertOnQueue() {
        dispatchPrecondition(condition: .onQueue(queue))
    }

    // MARK: - Opening and closing

    /// Connects (blocking, bounded by `connect_timeout`) and prepares the session.
    func open() throws {
        assertOnQueue()
        precondition(handle == nil && !isClosed, "open() runs once, on a new LibPQConnection")
        let newHandle = try Self.connect(configuration)
        do {
            try prepareSession(newHandle)
        } catch {
            PQfinish(newHandle)  // a half-prepared connection is not handed out
            throw error
        }
        handle = newHandle
        installNoticeReceiver(newHandle)
        cancelToken = LibPQCancelToken(newHandle)
        logger[metadataKey: "postgres.backend_pid"] = "\(PQbackendPID(newHandle))"
        logger.debug(
            "connected to PostgreSQL",
            metadata: ["postgres.server_version": "\(PQserverVersion(newHandle))"]
        )
    }

    /// Closes the connection; later operations fail with `.connectionClosed`. Idempotent.
    func close() {
        assertOnQueue()
        isClosed = true
        cancelToken = nil
        if let handle {
            PQfinish(handle)
            self.handle = nil
            logger.debug("closed the PostgreSQL connection")
        }
    }

    /// Closes the connection on its queue without waiting (for deinit).
    func closeLater() {
        queue.async { self.close() }
    }

    /// A new, connected handle, or an error; a handle that failed to connect is freed here.
    private static func connect(_ configuration: PostgresConfiguration) throws -> OpaquePointer {
        let parameters = libpqParameters(configuration)
        let handle = withCStringArray(parameters.map(\.keyword) + [nil]) { keywords in
            withCStringArray(parameters.map(\.value) + [nil]) { values in
                // expand_dbname 0: a database name is only a name, never a conninfo string.
                PQconnectdbParams(keywords, values, 0)
            }
        }
        guard let handle else {
            throw PostgresError(code: .connectionFailed, message: "libpq could not allocate a connection (out of memory)")
        }
        guard PQstatus(handle) == CONNECTION_OK else {
            let error = connectionError(handle, configuration, reconnecting: false)
            PQfinish(handle)
            throw error
        }
        return handle
    }

    /// The keyword/value pairs for PQconnectdbParams: no conninfo string is
    /// built, so no value needs quoting or escaping.
    static func libpqParameters(_ configuration: PostgresConfiguration) -> [(keyword: String, value: String)] {
        var parameters: [(keyword: String, value: String)] = []
        if let host = configuration.host { parameters.append(("host", host)) }
        if let port = configuration.port { parameters.append(("port", String(port))) }
        if let user = configuration.user { parameters.append(("user", user)) }
        if let password = configuration.password { parameters.append(("password", password)) }
        if let database = configuration.database { parameters.append(("dbname", database)) }
        let reserved: Set<String> = ["host", "port", "user", "password", "dbname", "client_encoding"]
        for key in configuration.options.keys.sorted() where !reserved.contains(key) {
            parameters.append((key, configuration.options[key] ?? ""))
        }
        parameters.append(("client_encoding", "UTF8"))
        if configuration.options["connect_timeout"] == nil {
            parameters.append(("connect_timeout", String(PostgresConfiguration.defaultConnectTimeoutSeconds)))
        }
        if configuration.options["fallback_application_name"] == nil {
            parameters.append(("fallback_application_name", "mistral-actions"))
        }
        return parameters
    }

    /// Session settings the decoding relies on: ISO dates, UTC (so timestamptz
    /// parameters and naive UTC columns agree), hex bytea.
    private func prepareSession(_ handle: OpaquePointer) throws {
        let setup = "SET TIME ZONE 'UTC'; SET DateStyle TO ISO; SET bytea_output TO hex"
        guard let result = PQexec(handle, setup) else {
            throw Self.statementError(handle, result: nil, query: setup, configuration: configuration)
        }
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_COMMAND_OK else {
            throw Self.statementError(handle, result: result, query: setup, configuration: configuration)
        }
    }

    private static func connectionError(
        _ handle: OpaquePointer,
        _ configuration: PostgresConfiguration,
        reconnecting: Bool
    ) -> PostgresError {
        let libpqMessage = String(cString: PQerrorMessage(handle)).trimmingTrailingNewlines()
        let lowercased = libpqMessage.lowercased()
        let needsPassword = PQconnectionNeedsPassword(handle) == 1
        let isAuthenticationFailure = needsPassword
            || lowercased.contains("authentication failed")
            || lowercased.contains("no password supplied")
            || lowercased.contains("password is required")
            || lowercased.contains("28p01")
        let user = configuration.user.map { "\"\($0)\"" } ?? "(default user)"
        let database = configuration.database.map { "\"\($0)\"" } ?? "(default database)"
        let verb = reconnecting ? "reconnecting to" : "connecting to"
        if isAuthenticationFailure {
            var message = "the server rejected user \(user) \(verb) \(configuration.serverAddress), database \(database)"
            if needsPassword && configuration.password == nil {
                message += " (the server asks for a password and none was given)"
            }
            return PostgresError(code: .authenticationFailed, message: message, libpqMessage: libpqMessage)
        }
        return PostgresError(
            code: .connectionFailed,
            message: "could not connect to \(configuration.serverAddress) as user \(user), database \(database)"
                + (reconnecting ? " (reconnecting)" : ""),
            hint: tlsHint(lowercased, configuration),
            libpqMessage: libpqMessage
        )
    }

    /// What to check when TLS refused the server, from libpq's message
    /// (lowercased): its certificate's CA, or the host name it names.
    static func tlsHint(_ lowercased: String, _ configuration: PostgresConfiguration) -> String? {
        let mode = configuration.options["sslmode"] ?? "prefer"
        let rootCertificate = configuration.options["sslrootcert"] ?? "~/.postgresql/root.crt"
        if lowercased.contains("certificate verify failed") {
            return "TLS: the server's certificate is not signed by a CA in sslrootcert=\(rootCertificate) (sslmode=\(mode)); "
                + "give the CA that signed it in the URL's sslrootcert option"
        }
        if lowercased.contains("does not match host name") {
            return "TLS: the server's certificate does not name the host \(configuration.host ?? "(default)") of the URL (sslmode=\(mode) checks it); "
                + "connect with a name the certificate holds, or use sslmode=verify-ca to check the CA only"
        }
        if lowercased.contains("server does not support ssl") {
            return "TLS: sslmode=\(mode) requires TLS and the server does not offer it (its ssl setting is off)"
        }
        return nil
    }

    // MARK: - Notices

    private func installNoticeReceiver(_ handle: OpaquePointer) {
        // The context is unretained: the receiver runs only inside libpq calls
        // on this handle, which this object owns and outlives.
        let context = Unmanaged.passUnretained(self).toOpaque()
        _ = PQsetNoticeReceiver(handle, { context, result in
            guard let context, let result else { return }
            Unmanaged<LibPQConnection>.fromOpaque(context).takeUnretainedValue().receiveNotice(result)
        }, context)
    }

    private func receiveNotice(_ result: OpaquePointer) {
        func field(_ code: Int32) -> String? {
            PQresultErrorField(result, code).map { String(cString: $0) }
        }
        let severity = field(CLIBPQ_DIAG_SEVERITY_NONLOCALIZED) ?? field(CLIBPQ_DIAG_SEVERITY) ?? "NOTICE"
        let message = field(CLIBPQ_DIAG_MESSAGE_PRIMARY) ?? String(cString: PQresultErrorMessage(result)).trimmingTrailingNewlines()
        var metadata: Logger.Metadata = ["postgres.severity": "\(severity)"]
        if let sqlState = field(CLIBPQ_DIAG_SQLSTATE) { metadata["postgres.sqlstate"] = "\(sqlState)" }
        switch severity {
        case "FATAL", "PANIC", "ERROR":
            // Sent while idle: the server is about to close the connection.
            lastIdleServerError = message
            if severity != "ERROR" { serverEndedSession = true }
            logger.warning("PostgreSQL server: \(message)", metadata: metadata)
        case "WARNING":
            logger.warning("PostgreSQL server: \(message)", metadata: metadata)
        default:
            logger.debug("PostgreSQL server: \(message)", metadata: metadata)
        }
    }

    // MARK: - Health and reconnecting

    /// The handle, ready for a statement. Reads whatever the server sent while
    /// the connection was idle, so a connection the server already closed is
    /// noticed before a statement is sent into it. A broken connection is
    /// reset once, unless session state would be silently lost: an open
    /// transaction or held advisory locks make this throw `.connectionLost`
    /// instead.
    func usableHandle() throws -> OpaquePointer {
        assertOnQueue()
        guard let handle, !isClosed else {
            throw PostgresError(code: .connectionClosed, message: "the connection to \(configuration.serverAddress) is closed")
        }
        readIdleInput(handle)
        // After an idle FATAL (a terminated backend, a server shutting down)
        // the close may still be on its way: a statement sent now would be
        // lost, so the connection counts as broken already.
        if PQstatus(handle) == CONNECTION_OK && !serverEndedSession {
            return handle
        }

        let reason = lastIdleServerError ?? String(cString: PQerrorMessage(handle)).trimmingTrailingNewlines()
        func lost(_ consequence: String) -> PostgresError {
            PostgresError(
                code: .connectionLost,
                message: "the connection to \(configuration.serverAddress) broke \(consequence): \(PostgresError.oneLine(reason))"
            )
        }
        if transactionDepth > 0 || serverTransactionOpen {
            // Reported now. A withTransaction scope keeps failing until it
            // ends; a transaction begun with plain SQL is reported once.
            serverTransactionOpen = false
            throw lost("inside a transaction, which is lost (it reconnects after the transaction ends)")
        }
        if advisoryLockScopes > 0 {
            throw lost("while holding an advisory lock, which the server released")
        }
        if heldSessionLocks > 0 {
            let count = heldSessionLocks
            heldSessionLocks = 0  // reported once; the next operation reconnects
            throw lost("while holding \(count) session-level advisory lock(s), which the server released")
        }
        try reset(handle, reason: reason)
        return handle
    }

    private func readIdleInput(_ handle: OpaquePointer) {
        guard PQstatus(handle) == CONNECTION_OK else { return }
        // Two reads: the first may return the server's last message, the
        // second then sees the end of the stream. libpq's socket is
        // non-blocking, so neither waits.
        for _ in 0..<2 {
            guard PQconsumeInput(handle) == 1 else { break }
            _ = PQisBusy(handle)  // parses what arrived; a FATAL goes to the notice receiver
            while let notification = PQnotifies(handle) {
                PQfreemem(notification)  // LISTEN is not used; drop notifications
            }
        }
    }

    private func reset(_ handle: OpaquePointer, reason: String) throws {
        logger.warning(
            "PostgreSQL connection broken; reconnecting",
            metadata: ["postgres.reason": "\(PostgresError.oneLine(reason))"]
        )
        cancelToken = nil
        lastIdleServerError = nil
        serverEndedSession = false
        PQreset(handle)
        guard PQstatus(handle) == CONNECTION_OK else {
            throw Self.connectionError(handle, configuration, reconnecting: true)
        }
        try prepareSession(handle)
        cancelToken = LibPQCancelToken(handle)
        logger[metadataKey: "postgres.backend_pid"] = "\(PQbackendPID(handle))"
        logger.notice("reconnected to PostgreSQL")
    }

    // MARK: - Statements

    /// Runs one parameterized statement (PQsendQueryParams, text format) and copies
    /// its result out of libpq.
    func execute(_ sql: String, _ parameters: [PostgresValue], cancellation: QueryCancellation?) throws -> PostgresRows {
        assertOnQueue()
        guard !sql.utf8.contains(0) else {
            throw PostgresError(code: .invalidParameter, message: "the SQL text contains a NUL character", query: sql)
        }
        guard parameters.count <= Int(UInt16.max) else {
            throw PostgresError(code: .invalidParameter, message: "\(parameters.count) parameters; PostgreSQL takes at most 65535", query: sql)
        }
        var encoded: [(typeOID: UInt32, text: String?)] = []
        encoded.reserveCapacity(parameters.count)
        for (index, parameter) in parameters.enumerated() {
            do {
                encoded.append(try parameter.encodedForLibPQ(position: index + 1))
            } catch var error as PostgresError {
                error.query = sql
                throw error
            }
        }
        let handle = try usableHandle()
        if let cancellation, !cancellation.begin(with: cancelToken) {
            throw CancellationError()
        }
        logger.trace("executing statement", metadata: ["postgres.query": "\(sql)"])
        let types: [Oid] = encoded.map { Oid($0.typeOID) }
        let sent = withCStringArray(encoded.map(\.text)) { values in
            PQsendQueryParams(handle, sql, Int32(encoded.count), types, values, nil, nil, 0)
        }
        let (result, copyStarted) = sent == 1 ? collectResults(handle) : (nil, false)
        let cancelled = cancellation?.finish() ?? false
        defer { PQclear(result) }
        let transactionStatus = PQtransactionStatus(handle)
        serverTransactionOpen = transactionStatus == PQTRANS_INTRANS || transactionStatus == PQTRANS_INERROR

        if copyStarted {
            throw PostgresError(code: .unsupported, message: "COPY is not supported by PostgresClient", query: sql)
        }
        guard let result else {
            throw Self.statementError(handle, result: nil, query: sql, configuration: configuration)
        }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return Self.rows(of: result, query: sql)
        default:
            let error = Self.statementError(handle, result: result, query: sql, configuration: configuration)
            if cancelled && error.sqlState == "57014" {
                throw CancellationError()
            }
            if error.code == .server, let sqlState = error.sqlState {
                logger.debug("statement failed", metadata: ["postgres.sqlstate": "\(sqlState)"])
            }
            throw error
        }
    }

    /// Reads every result of the statement just sent, until libpq has none
    /// left. Keeps the first error result: when the server ends the session
    /// mid-statement, its FATAL error (with the SQLSTATE) comes first and
    /// libpq's "server closed the connection" after it. (PQexec would keep
    /// only the last.) The caller clears the returned result.
    private func collectResults(_ handle: OpaquePointer) -> (result: OpaquePointer?, copyStarted: Bool) {
        func isError(_ result: OpaquePointer) -> Bool {
            let status = PQresultStatus(result)
            return status == PGRES_FATAL_ERROR || status == PGRES_NONFATAL_ERROR || status == PGRES_BAD_RESPONSE
        }
        var kept: OpaquePointer?
        while let next = PQgetResult(handle) {
            let status = PQresultStatus(next)
            if status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH {
                PQclear(next)
                abandonCopy(handle)
                PQclear(kept)
                return (nil, true)
            }
            if let kept, isError(kept) {
                PQclear(next)
                continue
            }
            PQclear(kept)
            kept = next
        }
        return (kept, false)
    }

    private func abandonCopy(_ handle: OpaquePointer) {
        _ = PQputCopyEnd(handle, "COPY is not supported by PostgresClient")
        var buffer: UnsafeMutablePointer<CChar>?
        while PQgetCopyData(handle, &buffer, 0) > 0 {
            PQfreemem(buffer)
        }
        while let result = PQgetResult(handle) {
            PQclear(result)
        }
    }

    private static func rows(of result: OpaquePointer, query: String) -> PostgresRows {
        let columnCount = PQnfields(result)
        let rowCount = PQntuples(result)
        let columns = (0..<columnCount).map { column in
            PostgresColumn(
                name: String(cString: PQfname(result, column)),
                dataType: PostgresDataType(oid: PQftype(result, column))
            )
        }
        var cells: [String?] = []
        cells.reserveCapacity(Int(rowCount) * Int(columnCount))
        for row in 0..<rowCount {
            for column in 0..<columnCount {
                if PQgetisnull(result, row, column) == 1 {
                    cells.append(nil)
                } else {
                    let bytes = UnsafeRawBufferPointer(
                        start: PQgetvalue(result, row, column),
                        count: Int(PQgetlength(result, row, column))
                    )
                    cells.append(String(decoding: bytes, as: UTF8.self))
                }
            }
        }
        let commandTag = String(cString: PQcmdStatus(result))
        let affectedRows = Int(String(cString: PQcmdTuples(result))) ?? 0
        return PostgresRows(columns: columns, cells: cells, commandTag: commandTag, affectedRows: affectedRows, query: query)
    }

    /// The error of a failed statement: the server's fields when it sent an
    /// ErrorResponse, libpq's message otherwise; `.connectionLost` when the
    /// connection broke on the way.
    private static func statementError(
        _ handle: OpaquePointer,
        result: OpaquePointer?,
        query: String,
        configuration: PostgresConfiguration
    ) -> PostgresError {
        func field(_ code: Int32) -> String? {
            result.flatMap { PQresultErrorField($0, code) }.map { String(cString: $0) }
        }
        let broken = PQstatus(handle) == CONNECTION_BAD
        let resultMessage = result.map { String(cString: PQresultErrorMessage($0)) } ?? ""
        // The connection's message holds everything libpq reported for the
        // statement, including "server closed the connection unexpectedly".
        let libpqMessage = (resultMessage.isEmpty || broken ? String(cString: PQerrorMessage(handle)) : resultMessage)
            .trimmingTrailingNewlines()
        let primary = field(CLIBPQ_DIAG_MESSAGE_PRIMARY)

        var error = PostgresError(
            code: broken ? .connectionLost : .server,
            message: primary ?? PostgresError.oneLine(libpqMessage.isEmpty ? "unknown error" : libpqMessage),
            sqlState: field(CLIBPQ_DIAG_SQLSTATE),
            detail: field(CLIBPQ_DIAG_MESSAGE_DETAIL),
            hint: field(CLIBPQ_DIAG_MESSAGE_HINT),
            query: query,
            libpqMessage: broken ? libpqMessage : nil
        )
        if broken {
            error.message = "the connection to \(configuration.serverAddress) broke: \(error.message)"
        }
        error.severity = field(CLIBPQ_DIAG_SEVERITY_NONLOCALIZED) ?? field(CLIBPQ_DIAG_SEVERITY)
        error.schemaName = field(CLIBPQ_DIAG_SCHEMA_NAME)
        error.tableName = field(CLIBPQ_DIAG_TABLE_NAME)
        error.columnName = field(CLIBPQ_DIAG_COLUMN_NAME)
        error.constraintName = field(CLIBPQ_DIAG_CONSTRAINT_NAME)
        return error
    }

    // MARK: - Transactions

    private static func savepointName(_ level: Int) -> String {
        "\(savepointPrefix)\(level)"
    }

    /// BEGIN (level 1) or SAVEPOINT (deeper levels); returns the new level.
    func beginTransaction() throws -> Int {
        assertOnQueue()
        let level = transactionDepth + 1
        if level == 1 {
            _ = try execute("BEGIN", [], cancellation: nil)
        } else {
            _ = try execute("SAVEPOINT \(Self.savepointName(level))", [], cancellation: nil)
        }
        transactionDepth = level
        return level
    }

    /// COMMIT (level 1) or RELEASE SAVEPOINT. A transaction a failed statement
    /// aborted is rolled back and reported as `.transactionAborted`.
    func commitTransaction(level: Int) throws {
        assertOnQueue()
        guard level == transactionDepth else {
            throw PostgresError(
                code: .invalidUse,
                message: "transaction level \(level) ended while level \(transactionDepth) is open: nested withTransaction "
                    + "calls on one connection must end in reverse order (not from concurrent child tasks)"
            )
        }
        defer { transactionDepth = level - 1 }
        let handle = try usableHandle()
        let aborted = PQtransactionStatus(handle) == PQTRANS_INERROR
        if level == 1 {
            if aborted {
                _ = try? execute("ROLLBACK", [], cancellation: nil)
                throw PostgresError(
                    code: .transactionAborted,
                    message: "the transaction was rolled back: a statement in it failed and the error was caught inside withTransaction"
                )
            }
            let rows: PostgresRows
            do {
                rows = try execute("COMMIT", [], cancellation: nil)
            } catch var error as PostgresError where error.code == .connectionLost {
                error.message += " (whether the transaction committed is unknown)"
                throw error
            }
            if rows.commandTag == "ROLLBACK" {
                throw PostgresError(code: .transactionAborted, message: "the server rolled the transaction back at COMMIT")
            }
        } else {
            let name = Self.savepointName(level)
            if aborted {
                _ = try? execute("ROLLBACK TO SAVEPOINT \(name)", [], cancellation: nil)
                _ = try? execute("RELEASE SAVEPOINT \(name)", [], cancellation: nil)
                throw PostgresError(
                    code: .transactionAborted,
                    message: "the nested transaction was rolled back to its savepoint: a statement in it failed "
                        + "and the error was caught inside withTransaction"
                )
            }
            _ = try execute("RELEASE SAVEPOINT \(name)", [], cancellation: nil)
        }
    }

    /// ROLLBACK (level 1) or ROLLBACK TO SAVEPOINT. Never throws: it runs while
    /// another error propagates; a broken connection has no transaction left.
    func rollbackTransaction(level: Int) {
        assertOnQueue()
        defer { transactionDepth = min(transactionDepth, level - 1) }
        do {
            if level == 1 {
                _ = try execute("ROLLBACK", [], cancellation: nil)
            } else {
                let name = Self.savepointName(level)
                _ = try execute("ROLLBACK TO SAVEPOINT \(name)", [], cancellation: nil)
                _ = try execute("RELEASE SAVEPOINT \(name)", [], cancellation: nil)
            }
        } catch {
            logger.debug("rollback failed", metadata: ["error": "\(error)"])
        }
    }
}

/// The one resumption of a wait that cancellation may end early: whichever of
/// `finish` and `cancel` comes first resumes the continuation.
private final class AbandonableOutcome: Sendable {
    private enum State {
        case notStarted
        case waiting(CheckedContinuation<Void, any Error>)
        case cancelledEarly
        case done
    }

    private let state = Mutex(State.notStarted)

    /// Keeps the continuation, or resumes it with CancellationError at once
    /// (and returns false) when the task was cancelled before.
    func install(_ continuation: CheckedContinuation<Void, any Error>) -> Bool {
        let cancelled = state.withLock { state -> Bool in
            guard case .notStarted = state else {
                state = .done
                return true
            }
            state = .waiting(continuation)
            return false
        }
        if cancelled { continuation.resume(throwing: CancellationError()) }
        return !cancelled
    }

    /// Resumes with the work's result; false when the waiter already left.
    func finish(with result: Result<Void, any Error>) -> Bool {
        let continuation = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            guard case .waiting(let continuation) = state else { return nil }
            state = .done
            return continuation
        }
        continuation?.resume(with: result)
        return continuation != nil
    }

    func cancel() {
        let continuation = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            switch state {
            case .notStarted:
                state = .cancelledEarly
                return nil
            case .waiting(let continuation):
                state = .done
                return continuation
            case .cancelledEarly, .done:
                return nil
            }
        }
        continuation?.resume(throwing: CancellationError())
    }
}

extension String {
    fileprivate func trimmingTrailingNewlines() -> String {
        var text = Substring(self)
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return String(text)
    }
}

/// Runs `body` with C-string pointers to copies of `strings` (nil stays nil),
/// all alive until `body` returns.
func withCStringArray<Result>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) throws -> Result) rethrows -> Result {
    var storage: [CChar] = []
    var offsets: [Int?] = []
    offsets.reserveCapacity(strings.count)
    for string in strings {
        guard let string else {
            offsets.append(nil)
            continue
        }
        offsets.append(storage.count)
        storage.append(contentsOf: string.utf8.map { CChar(bitPattern: $0) })
        storage.append(0)
    }
    return try storage.withUnsafeBufferPointer { buffer in
        try body(offsets.map { offset in offset.map { buffer.baseAddress! + $0 } })
    }
}
