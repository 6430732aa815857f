import Foundation
import Logging
import MistralActionsTestSupport
import PostgresClient
import Testing

@Suite("Connecting, errors and reconnecting")
struct ConnectionTests {
    private static let wrongPassword = "Wr0ng-Pa55word-xyz"

    @Test("a non-PostgreSQL URL fails before connecting")
    func badURL() async throws {
        let error = await #expect(throws: PostgresError.self) {
            try await PostgresConnection.connect(to: "mysql+pymysql://mistral:secret@127.0.0.1/mistral", logger: TestLog.logger())
        }
        #expect(error?.code == .invalidURL)
        #expect(error?.description.contains("secret") == false)
    }

    @Test("a wrong password is an authentication failure naming the user, never the password")
    func wrongPassword() async throws {
        var configuration = try TestDatabase.configuration
        configuration.password = Self.wrongPassword
        let logs = CapturedLogs()
        let error = await #expect(throws: PostgresError.self) {
            try await PostgresConnection.connect(configuration: configuration, logger: TestLog.logger(capturingInto: logs))
        }
        let failure = try #require(error)
        #expect(failure.code == .authenticationFailed)
        #expect(failure.description.contains("\"\(configuration.user ?? "")\""))
        #expect(failure.description.hasPrefix("PostgreSQL authentication failed: the server rejected user"))
        for text in [failure.description, failure.debugDescription, failure.message, failure.libpqMessage ?? "", logs.text] {
            #expect(!text.contains(Self.wrongPassword))
        }
    }

    @Test("a missing password is an authentication failure")
    func missingPassword() async throws {
        var configuration = try TestDatabase.configuration
        configuration.password = nil
        configuration.options["passfile"] = "/nonexistent"  // no ~/.pgpass fallback
        let error = await #expect(throws: PostgresError.self) {
            try await PostgresConnection.connect(configuration: configuration, logger: TestLog.logger())
        }
        #expect(error?.code == .authenticationFailed)
        #expect(error?.message.contains("none was given") == true)
    }

    @Test("a closed port is a connection failure naming host and port")
    func connectionRefused() async throws {
        var configuration = try TestDatabase.configuration
        configuration.host = "127.0.0.1"
        configuration.port = 1
        let unreachable = configuration
        let error = await #expect(throws: PostgresError.self) {
            try await withTimeout(.seconds(20)) {
                try await PostgresConnection.connect(configuration: unreachable, logger: TestLog.logger())
            }
        }
        #expect(error?.code == .connectionFailed)
        #expect(error?.description.contains("127.0.0.1:1") == true)
        #expect(error?.libpqMessage?.contains("Connection refused") == true)
        #expect(error?.description.contains(configuration.password ?? "(none)") == false)
    }

    @Test("an unknown database is a connection failure")
    func unknownDatabase() async throws {
        var configuration = try TestDatabase.configuration
        configuration.database = TestDatabase.uniqueName("nodb")
        let error = await #expect(throws: PostgresError.self) {
            try await PostgresConnection.connect(configuration: configuration, logger: TestLog.logger())
        }
        #expect(error?.code == .connectionFailed)
        #expect(error?.libpqMessage?.contains("does not exist") == true)
    }

    @Test("connecting with the URL and logging to postgres.* metadata")
    func connectWithURL() async throws {
        let logs = CapturedLogs()
        let connection = try await PostgresConnection.connect(
            to: TestDatabase.url + "?application_name=pgclient-tests&charset=utf8",
            logger: TestLog.logger(capturingInto: logs)
        )
        let row = try await connection.query("SELECT current_setting('application_name') AS app, current_setting('TimeZone') AS tz")[0]
        #expect(try row["app"].decode(String.self) == "pgclient-tests")
        #expect(try row["tz"].decode(String.self) == "UTC")
        await connection.close()
        let connected = try #require(logs.all.first { $0.message == "connected to PostgreSQL" })
        #expect(connected.metadata["postgres.host"] != nil)
        #expect(connected.metadata["postgres.database"] != nil)
        #expect(logs.all.contains { $0.message.contains("charset") })  // the dropped option, at debug level
        #expect(!logs.text.contains(try TestDatabase.configuration.password ?? "(none)"))
    }

    @Test("a unique violation carries SQLSTATE 23505 and the server's message and detail")
    func uniqueViolation() async throws {
        try await TestDatabase.withTable("unique", columns: "name text PRIMARY KEY") { connection, table in
            try await connection.execute("INSERT INTO \(table) (name) VALUES ($1)", ["y"])
            let error = await #expect(throws: PostgresError.self) {
                try await connection.execute("INSERT INTO \(table) (name) VALUES ($1)", ["y"])
            }
            let failure = try #require(error)
            #expect(failure.code == .server)
            #expect(failure.sqlState == "23505")
            #expect(failure.sqlStateName == "unique_violation")
            #expect(failure.severity == "ERROR")
            #expect(failure.message == "duplicate key value violates unique constraint \"\(table)_pkey\"")
            #expect(failure.detail == "Key (name)=(y) already exists.")
            #expect(failure.constraintName == "\(table)_pkey")
            #expect(failure.tableName == table)
            #expect(failure.query == "INSERT INTO \(table) (name) VALUES ($1)")
            #expect(failure.description == "PostgreSQL error 23505 (unique_violation): duplicate key value violates unique constraint "
                + "\"\(table)_pkey\" — Key (name)=(y) already exists.")
            // The connection is fine afterwards.
            #expect(try await connection.execute("INSERT INTO \(table) (name) VALUES ($1)", ["z"]) == 1)
        }
    }

    @Test("a syntax error carries 42601 and the statement text")
    func syntaxError() async throws {
        let connection = try await TestDatabase.connect()
        let error = await #expect(throws: PostgresError.self) {
            try await connection.query("SELEC 1")
        }
        #expect(error?.sqlState == "42601")
        #expect(error?.sqlStateName == "syntax_error")
        #expect(error?.query == "SELEC 1")
        await connection.close()
    }

    @Test("after close, operations fail with connectionClosed")
    func closed() async throws {
        let connection = try await TestDatabase.connect()
        await connection.close()
        await connection.close()  // idempotent
        let error = await #expect(throws: PostgresError.self) {
            try await connection.query("SELECT 1")
        }
        #expect(error?.code == .connectionClosed)
    }
}

@Suite("Reconnecting after the server ends the session")
struct ReconnectTests {
    private func terminate(_ pid: Int32) async throws {
        let killer = try await TestDatabase.connect()
        // The timeout makes pg_terminate_backend wait until the process has exited.
        let terminated = try await killer.query("SELECT pg_terminate_backend($1::int, 5000) AS done", [.int(Int64(pid))])
        #expect(try terminated[0]["done"].decode(Bool.self))
        await killer.close()
    }

    @Test("the next query after the backend was terminated reconnects and succeeds")
    func reconnectWhenIdle() async throws {
        let logs = CapturedLogs()
        let connection = try await TestDatabase.connect(logger: TestLog.logger(capturingInto: logs))
        let pid = try await connection.backendPID()
        try await terminate(pid)

        let newPID = try await withTimeout(.seconds(30)) { try await connection.backendPID() }
        #expect(newPID != pid)
        // The session settings are back after the reset.
        #expect(try await connection.query("SHOW TimeZone")[0][0].decode(String.self) == "UTC")
        #expect(logs.all.contains { $0.level == .warning && $0.message.contains("reconnecting") })
        #expect(logs.all.contains { $0.message == "reconnected to PostgreSQL" })
        #expect(!logs.text.contains(try TestDatabase.configuration.password ?? "(none)"))
        await connection.close()
    }

    @Test("a statement running when the backend is terminated fails; the next one reconnects")
    func reconnectAfterFailedStatement() async throws {
        let connection = try await TestDatabase.connect()
        let watcher = try await TestDatabase.connect()
        let pid = try await connection.backendPID()
        try await withTimeout(.seconds(30)) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    let error = await #expect(throws: PostgresError.self) {
                        try await connection.query("SELECT pg_sleep(15)")
                    }
                    #expect(error?.code == .connectionLost)
                    #expect(error?.sqlState == "57P01", "\(String(reflecting: error))")
                }
                try await eventually("pg_sleep to run", limit: .seconds(10), every: .milliseconds(50)) {
                    try await watcher.query(
                        "SELECT count(*) AS n FROM pg_stat_activity WHERE pid = $1::int AND state = 'active'", [.int(Int64(pid))]
                    )[0]["n"].decode(Int.self) == 1
                }
                try await terminate(pid)
                try await group.waitForAll()
            }
        }
        #expect(try await connection.backendPID() != pid)
        await connection.close()
        await watcher.close()
    }

    @Test("inside a transaction a broken connection fails; after it, the connection reconnects")
    func noReconnectInsideTransaction() async throws {
        try await TestDatabase.withTable("broken", columns: "name text") { connection, table in
            let pid = try await connection.backendPID()
            let error = await #expect(throws: PostgresError.self) {
                try await connection.withTransaction { connection in
                    try await connection.execute("INSERT INTO \(table) VALUES ($1)", ["lost"])
                    try await terminate(pid)
                    try await connection.execute("INSERT INTO \(table) VALUES ($1)", ["never"])
                }
            }
            #expect(error?.code == .connectionLost)
            #expect(error?.message.contains("transaction") == true)
            // The next operation, outside the transaction, reconnects; nothing was committed.
            let count = try await connection.query("SELECT count(*) AS n FROM \(table)")[0]["n"].decode(Int.self)
            #expect(count == 0)
        }
    }

    @Test("a session advisory lock lost with the connection is reported, not silently dropped")
    func lostSessionLock() async throws {
        let connection = try await TestDatabase.connect()
        let key = PostgresConnection.advisoryLockKey(named: TestDatabase.uniqueName("lost"))
        #expect(try await connection.tryAdvisoryLock(key: key))
        try await terminate(try await connection.backendPID())
        let error = await #expect(throws: PostgresError.self) {
            try await connection.query("SELECT 1")
        }
        #expect(error?.code == .connectionLost)
        #expect(error?.message.contains("advisory lock") == true)
        // Reported once; the next operation reconnects.
        #expect(try await connection.query("SELECT 1 AS one")[0]["one"].decode(Int.self) == 1)
        await connection.close()
    }
}
