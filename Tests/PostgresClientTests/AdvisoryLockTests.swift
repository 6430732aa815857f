import Foundation
import MistralActionsTestSupport
import PostgresClient
import Testing

@Suite("Advisory locks")
struct AdvisoryLockTests {
    private func uniqueKey() -> Int64 {
        PostgresConnection.advisoryLockKey(named: TestDatabase.uniqueName("lock"))
    }

    @Test("A holds the lock: B's try fails, B's blocking lock waits until A releases")
    func sessionContention() async throws {
        let key = uniqueKey()
        let a = try await TestDatabase.connect()
        let b = try await TestDatabase.connect()
        let bPID = try await b.backendPID()
        let events = EventLog()

        try await withTimeout(.seconds(30)) {
            #expect(try await a.tryAdvisoryLock(key: key))
            #expect(try await b.tryAdvisoryLock(key: key) == false)

            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await b.withAdvisoryLock(key: key) {
                        events.record("B holds the lock")
                    }
                }
                // The server shows B waiting: B cannot hold the lock before A releases it.
                try await eventually("B to wait for the lock", limit: .seconds(60), every: .milliseconds(50)) {
                    try await a.isWaitingForAdvisoryLock(pid: bPID)
                }
                events.record("A releases the lock")
                #expect(try await a.advisoryUnlock(key: key))
                try await group.waitForAll()
            }
            // B released it at the end of withAdvisoryLock.
            #expect(try await a.tryAdvisoryLock(key: key))
            #expect(try await a.advisoryUnlock(key: key))
        }
        #expect(events.all == ["A releases the lock", "B holds the lock"])
        await a.close()
        await b.close()
    }

    @Test("withAdvisoryLock releases the lock when its body throws")
    func releasedOnThrow() async throws {
        let key = uniqueKey()
        let a = try await TestDatabase.connect()
        let b = try await TestDatabase.connect()
        try await withTimeout(.seconds(30)) {
            await #expect(throws: DeliberateFailure.self) {
                try await a.withAdvisoryLock(key: key) {
                    #expect(try await b.tryAdvisoryLock(key: key) == false)
                    throw DeliberateFailure()
                }
            }
            let locked = try await b.tryAdvisoryLock(key: key)
            let unlocked = try await b.advisoryUnlock(key: key)
            let unlockedAgain = try await b.advisoryUnlock(key: key)  // not held any more
            #expect(locked && unlocked && !unlockedAgain)
        }
        await a.close()
        await b.close()
    }

    @Test("transaction-level locks are held until the transaction ends")
    func transactionLocks() async throws {
        let key = uniqueKey()
        let a = try await TestDatabase.connect()
        let b = try await TestDatabase.connect()
        try await withTimeout(.seconds(30)) {
            try await a.withTransaction { a in
                try await a.advisoryTransactionLock(key: key)
                #expect(try await b.tryAdvisoryLock(key: key) == false)
                let bGotIt = try await b.withTransaction { b in try await b.tryAdvisoryTransactionLock(key: key) }
                #expect(bGotIt == false)
            }
            let bGotIt = try await b.withTransaction { b in try await b.tryAdvisoryTransactionLock(key: key) }
            #expect(bGotIt)
        }
        await a.close()
        await b.close()
    }

    @Test("cancelling a task waiting for a lock cancels the wait on the server")
    func cancelWaitingLock() async throws {
        let key = uniqueKey()
        let a = try await TestDatabase.connect()
        let b = try await TestDatabase.connect()
        #expect(try await a.tryAdvisoryLock(key: key))
        // No server-side timeout for B: only the cancellation can end its wait.
        try await b.execute("SET lock_timeout = 0")
        try await b.execute("SET statement_timeout = 0")
        let bPID = try await b.backendPID()

        let waiting = Task { try await b.withAdvisoryLock(key: key) {} }
        // Cancel once the server shows B waiting for the lock.
        try await eventually("B to wait for the lock", limit: .seconds(60), every: .milliseconds(50)) {
            try await a.isWaitingForAdvisoryLock(pid: bPID)
        }
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
        // B is usable and not stuck in the lock wait (A still holds the
        // lock, so a wait that was not cancelled would never end: the limit
        // only turns that hang into a failure).
        try await eventually("B to stop waiting", limit: .seconds(60), every: .milliseconds(50)) {
            try await !a.isWaitingForAdvisoryLock(pid: bPID)
        }
        let one = try await withTimeout(.seconds(60)) { try await b.query("SELECT 1 AS one")[0]["one"].decode(Int.self) }
        #expect(one == 1)
        #expect(try await b.tryAdvisoryLock(key: key) == false)
        #expect(try await a.advisoryUnlock(key: key))
        #expect(try await b.tryAdvisoryLock(key: key))
        await a.close()
        await b.close()
    }
}
