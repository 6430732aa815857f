import Foundation
import MistralActionsTestSupport
import PostgresClient
import Testing

/// Actor-isolated code uses transactions without making its closures Sendable.
actor SyncRecorder {
    private(set) var attempts = 0
    let connection: PostgresConnection

    init(connection: PostgresConnection) {
        self.connection = connection
    }

    func insert(_ name: String, into table: String) async throws -> Int {
        try await connection.withTransaction { connection in
            attempts += 1  // actor state, touched inside the transaction body
            try await connection.advisoryTransactionLock(key: PostgresConnection.advisoryLockKey(named: table))
            return try await connection.execute("INSERT INTO \(table) VALUES ($1)", [.text(name)])
        }
    }
}

@Suite("Sharing one connection")
struct ConcurrencyTests {
    @Test("many tasks share one connection; statements and transactions do not interleave")
    func manyTasks() async throws {
        try await TestDatabase.withTable("shared", columns: "task int, step int") { connection, table in
            try await withTimeout(.seconds(60)) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for task in 0..<20 {
                        group.addTask {
                            if task.isMultiple(of: 2) {
                                try await connection.withTransaction { connection in
                                    for step in 0..<3 {
                                        try await connection.execute("INSERT INTO \(table) VALUES ($1, $2)", [.int(Int64(task)), .int(Int64(step))])
                                    }
                                }
                            } else {
                                for step in 0..<3 {
                                    try await connection.execute("INSERT INTO \(table) VALUES ($1, $2)", [.int(Int64(task)), .int(Int64(step))])
                                }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            let total = try await connection.query("SELECT count(*) AS n FROM \(table)")[0]["n"].decode(Int.self)
            #expect(total == 60)
        }
    }

    @Test("an actor runs transactions with its own state in the body")
    func actorCaller() async throws {
        try await TestDatabase.withTable("actor", columns: "name text") { connection, table in
            let recorder = SyncRecorder(connection: connection)
            let inserted = try await recorder.insert("from-actor", into: table)
            #expect(inserted == 1)
            #expect(await recorder.attempts == 1)
        }
    }

    @Test("cancelling a running statement throws CancellationError; the connection stays usable")
    func cancelRunningStatement() async throws {
        let connection = try await TestDatabase.connect()
        // Only the cancellation can end the sleep early (no statement_timeout).
        try await connection.execute("SET statement_timeout = 0")
        let pid = try await connection.backendPID()
        let observer = try await TestDatabase.connect()
        var cancelled = ContinuousClock.now
        await #expect(throws: CancellationError.self) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    _ = try await connection.query("SELECT pg_sleep(300)")
                }
                // Cancel once the server runs the statement.
                try await eventually("pg_sleep to run", limit: .seconds(60), every: .milliseconds(50)) {
                    try await observer.query(
                        "SELECT count(*) AS n FROM pg_stat_activity WHERE pid = $1 AND state = 'active' AND query LIKE '%pg_sleep%'",
                        [.int(Int64(pid))]
                    )[0]["n"].decode(Int.self) > 0
                }
                cancelled = ContinuousClock.now
                group.cancelAll()
                try await group.waitForAll()
            }
        }
        // Far below the 300 s the statement would take; loose for any loaded machine.
        #expect(ContinuousClock.now - cancelled < .seconds(60))
        await observer.close()
        let one = try await connection.query("SELECT 1 AS one")[0]["one"].decode(Int.self)
        #expect(one == 1)
        await connection.close()
    }

    @Test("COPY is refused and leaves the connection usable")
    func copyRefused() async throws {
        let connection = try await TestDatabase.connect()
        let out = await #expect(throws: PostgresError.self) {
            try await connection.query("COPY (SELECT 1) TO STDOUT")
        }
        #expect(out?.code == .unsupported)
        try await connection.execute("CREATE TEMPORARY TABLE copy_target (x int)")
        let into = await #expect(throws: PostgresError.self) {
            try await connection.query("COPY copy_target FROM STDIN")
        }
        #expect(into?.code == .unsupported)
        let one = try await connection.query("SELECT 1 AS one")[0]["one"].decode(Int.self)
        #expect(one == 1)
        await connection.close()
    }
}
