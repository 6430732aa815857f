import Foundation
import MistralActionsTestSupport
import PostgresClient
import Testing

struct DeliberateFailure: Error {}

@Suite("Transactions")
struct TransactionTests {
    private func count(_ connection: PostgresConnection, _ table: String) async throws -> Int {
        try await connection.query("SELECT count(*) AS n FROM \(table)")[0]["n"].decode(Int.self)
    }

    @Test("commit keeps the rows and returns the body's value")
    func commit() async throws {
        try await TestDatabase.withTable("commit", columns: "name text PRIMARY KEY") { connection, table in
            let inserted = try await connection.withTransaction { connection in
                try await connection.execute("INSERT INTO \(table) VALUES ($1), ($2)", ["a", "b"])
            }
            #expect(inserted == 2)
            #expect(try await count(connection, table) == 2)
        }
    }

    @Test("an error thrown by the body rolls everything back and is rethrown")
    func rollbackOnThrow() async throws {
        try await TestDatabase.withTable("rollback", columns: "name text PRIMARY KEY") { connection, table in
            await #expect(throws: DeliberateFailure.self) {
                try await connection.withTransaction { connection in
                    try await connection.execute("INSERT INTO \(table) VALUES ($1)", ["a"])
                    #expect(try await count(connection, table) == 1)  // visible inside
                    throw DeliberateFailure()
                }
            }
            #expect(try await count(connection, table) == 0)
            // Still usable, and a new transaction works.
            try await connection.withTransaction { connection in
                try await connection.execute("INSERT INTO \(table) VALUES ($1)", ["b"])
            }
            #expect(try await count(connection, table) == 1)
        }
    }

    @Test("a failing statement rolls everything back")
    func rollbackOnFailingStatement() async throws {
        try await TestDatabase.withTable("failing", columns: "name text PRIMARY KEY, n int NOT NULL") { connection, table in
            let error = await #expect(throws: PostgresError.self) {
                try await connection.withTransaction { connection in
                    try await connection.execute("INSERT INTO \(table) VALUES ($1, $2)", ["a", 1])
                    try await connection.execute("INSERT INTO \(table) VALUES ($1, $2)", ["b", nil])
                }
            }
            #expect(error?.sqlState == "23502")
            #expect(error?.code == .server)
            let remaining = try await count(connection, table)
            #expect(remaining == 0)
            let one = try await connection.query("SELECT 1 AS one")[0]["one"].decode(Int.self)
            #expect(one == 1)
        }
    }

    @Test("a caught statement error makes the commit fail with transactionAborted")
    func caughtErrorAborts() async throws {
        try await TestDatabase.withTable("aborted", columns: "name text PRIMARY KEY") { connection, table in
            let error = await #expect(throws: PostgresError.self) {
                try await connection.withTransaction { connection in
                    try await connection.execute("INSERT INTO \(table) VALUES ($1)", ["a"])
                    _ = try? await connection.execute("INSERT INTO \(table) VALUES ($1)", ["a"])  // duplicate, swallowed
                }
            }
            #expect(error?.code == .transactionAborted)
            let remaining = try await count(connection, table)
            #expect(remaining == 0)
        }
    }

    @Test("nested transactions are savepoints: an inner failure keeps the outer work")
    func nested() async throws {
        try await TestDatabase.withTable("nested", columns: "name text PRIMARY KEY") { connection, table in
            try await connection.withTransaction { connection in
                try await connection.execute("INSERT INTO \(table) VALUES ($1)", ["outer"])
                await #expect(throws: DeliberateFailure.self) {
                    try await connection.withTransaction { connection in
                        try await connection.execute("INSERT INTO \(table) VALUES ($1)", ["inner-rolled-back"])
                        throw DeliberateFailure()
                    }
                }
                await #expect(throws: PostgresError.self) {
                    try await connection.withTransaction { connection in
                        try await connection.execute("INSERT INTO \(table) VALUES ($1)", ["outer"])  // duplicate
                    }
                }
                try await connection.withTransaction { connection in
                    try await connection.execute("INSERT INTO \(table) VALUES ($1)", ["inner-kept"])
                }
            }
            let names = try await connection.query("SELECT name FROM \(table) ORDER BY name").map { try $0["name"].decode(String.self) }
            #expect(names == ["inner-kept", "outer"])
        }
    }

    @Test("statements of other tasks wait until a transaction ends")
    func otherTasksWait() async throws {
        try await TestDatabase.withTable("isolation", columns: "name text PRIMARY KEY") { connection, table in
            let (started, startedContinuation) = AsyncStream.makeStream(of: Void.self)
            let events = EventLog()
            try await withTimeout(.seconds(30)) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        do {
                            try await connection.withTransaction { transaction in
                                try await transaction.execute("INSERT INTO \(table) VALUES ($1)", ["in-transaction"])
                                startedContinuation.yield()
                                try await Task.sleep(for: .milliseconds(300))
                                // The other task's INSERT has not landed in this transaction.
                                #expect(try await count(transaction, table) == 1)
                                events.record("transaction ends")
                                throw DeliberateFailure()
                            }
                        } catch is DeliberateFailure {}
                    }
                    group.addTask {
                        for await _ in started { break }
                        try await connection.execute("INSERT INTO \(table) VALUES ($1)", ["outside"])
                        events.record("outside insert done")
                    }
                    try await group.waitForAll()
                }
            }
            #expect(events.all == ["transaction ends", "outside insert done"])
            let names = try await connection.query("SELECT name FROM \(table)").map { try $0["name"].decode(String.self) }
            #expect(names == ["outside"])
        }
    }

    @Test("transaction-level advisory locks need a transaction")
    func transactionLockOutside() async throws {
        let connection = try await TestDatabase.connect()
        let error = await #expect(throws: PostgresError.self) {
            try await connection.advisoryTransactionLock(key: 1)
        }
        #expect(error?.code == .invalidUse)
        await connection.close()
    }
}
