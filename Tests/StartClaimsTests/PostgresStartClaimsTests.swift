import Foundation
import Logging
import PostgresClient
@testable import StartClaims
import Testing

/// The PostgreSQL store against a real server (see TestDatabase).
@Suite("Start claims in PostgreSQL")
struct PostgresStartClaimsTests {
    @Test("the first claim of an id finds nothing; every later one finds it claimed")
    func claimTwice() async throws {
        try await TestDatabase.withRunningStore("twice") { store, schema in
            #expect(try await store.claim(["ex-1"]) == [])
            #expect(try await store.claim(["ex-1"]) == ["ex-1"])
            #expect(try await store.claim(["ex-1", "ex-2"]) == ["ex-1"])
            // Repeated within one call: claimed by that call, not before it.
            #expect(try await store.claim(["ex-3", "ex-3"]) == [])
            #expect(try await store.claim([]) == [])

            let connection = try await TestDatabase.connect()
            let rows = try await connection.query("SELECT action_execution_id, worker FROM \"\(schema)\".start_claims ORDER BY 1")
            await connection.close()
            #expect(try rows.map { try $0.decode("action_execution_id", as: String.self) } == ["ex-1", "ex-2", "ex-3"])
            #expect(try rows.map { try $0.decode("worker", as: String.self) } == ["test-worker", "test-worker", "test-worker"])
        }
    }

    @Test("200 concurrent claims of distinct ids are all recorded, in fewer INSERTs than calls")
    func concurrentDistinctClaims() async throws {
        try await TestDatabase.withRunningStore("concurrent") { store, schema in
            let before = store.statistics.insertStatements
            let results = try await withThrowingTaskGroup(of: Set<String>.self) { group in
                for index in 0..<200 {
                    group.addTask { try await store.claim(["concurrent-\(index)"]) }
                }
                return try await group.reduce(into: [Set<String>]()) { $0.append($1) }
            }
            #expect(results.count == 200)
            #expect(results.allSatisfy { $0.isEmpty })
            let statements = store.statistics.insertStatements - before
            #expect(statements < 200, "the calls queued during an INSERT should share the next one")
            #expect(statements >= 1)

            let connection = try await TestDatabase.connect()
            let count = try await connection.query("SELECT count(*) AS n FROM \"\(schema)\".start_claims").onlyRow()["n"].decode(Int.self)
            await connection.close()
            #expect(count == 200)
        }
    }

    @Test("of many concurrent claims of one id, exactly one finds it unclaimed")
    func concurrentClaimsOfOneID() async throws {
        try await TestDatabase.withRunningStore("same") { store, _ in
            let results = try await withThrowingTaskGroup(of: Set<String>.self) { group in
                for _ in 0..<50 {
                    group.addTask { try await store.claim(["the-one"]) }
                }
                return try await group.reduce(into: [Set<String>]()) { $0.append($1) }
            }
            #expect(results.filter(\.isEmpty).count == 1)
            #expect(results.filter { $0 == ["the-one"] }.count == 49)
        }
    }

    @Test("two stores (two workers) agree: an id is new for exactly one of them")
    func twoStoresOnOneTable() async throws {
        try await TestDatabase.withRunningStore("two") { first, schema in
            var configuration = PostgresStartClaims.Configuration(database: try TestDatabase.configuration, worker: "other-worker", schema: schema)
            configuration.maximumBatchSize = 8
            let second = try PostgresStartClaims(configuration: configuration, logger: Logger(label: "second"))
            try await second.prepare()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await second.run() }
                let ids = (0..<40).map { "shared-\($0)" }
                async let fromFirst = first.claim(ids)
                async let fromSecond = second.claim(ids)
                let (claimedBeforeFirst, claimedBeforeSecond) = try await (fromFirst, fromSecond)
                // Every id was new for exactly one of the two.
                #expect(claimedBeforeFirst.union(claimedBeforeSecond) == Set(ids))
                #expect(claimedBeforeFirst.intersection(claimedBeforeSecond).isEmpty)
                group.cancelAll()
            }
        }
    }

    @Test("a terminated backend: the next claim reconnects and works")
    func terminatedBackend() async throws {
        try await TestDatabase.withRunningStore("killed") { store, schema in
            #expect(try await store.claim(["before-kill"]) == [])
            let admin = try await TestDatabase.connect()
            let myPID = try await admin.query("SELECT pg_backend_pid() AS pid").onlyRow()["pid"].decode(Int32.self)
            // The store's session is the other one whose last statement named the schema.
            let pids = try await admin.query(
                "SELECT pid FROM pg_stat_activity WHERE pid <> $1 AND query LIKE $2",
                [.int(Int64(myPID)), .text("%\(schema)%")]
            ).map { try $0.decode("pid", as: Int32.self) }
            #expect(pids.count == 1)
            for pid in pids {
                _ = try await admin.query("SELECT pg_terminate_backend($1::int)", [.int(Int64(pid))])
            }
            // Wait for the session to be gone (a signal, not a time bound).
            while try await admin.query(
                "SELECT count(*) AS n FROM pg_stat_activity WHERE pid = ANY($1::int[])", [.text("{\(pids.map(String.init).joined(separator: ","))}")]
            ).onlyRow()["n"].decode(Int.self) > 0 {
                try await Task.sleep(for: .milliseconds(20))
            }
            await admin.close()

            #expect(try await store.claim(["after-kill"]) == [])
            #expect(try await store.claim(["before-kill", "after-kill"]) == ["before-kill", "after-kill"])
        }
    }

    @Test("ids are data: injection text, quotes, unicode look-alikes round-trip byte for byte")
    func hostileIDsRoundTrip() async throws {
        let ids = [
            "'); DROP TABLE start_claims; --",
            "\" OR 1=1 --",
            "$1, $2) ON CONFLICT DO NOTHING; --",
            "back\\slash\\\\",
            "é",  // precomposed U+00E9
            "e\u{301}",  // e + combining acute: equal as Swift strings, distinct bytes
            "\u{FFFD}\u{FEFF}\u{200B}\u{202E}rtl",
            "emoji 👩‍👩‍👧‍👦",
            "tab\tnew\nline\r",
            "\u{10FFFF}\u{E000}",
            String(repeating: "x", count: 255),
            String(repeating: "é", count: 127),  // 254 bytes
        ]
        try await TestDatabase.withRunningStore("hostile") { store, schema in
            #expect(try await store.claim(ids) == [])
            // One id a call: a Set<String> merges canonically equivalent
            // spellings, so the two é would be one element of one answer.
            for id in ids {
                let again = try await store.claim([id])
                #expect(again.map { Array($0.utf8) } == [Array(id.utf8)])
            }

            let connection = try await TestDatabase.connect()
            let stored = try await connection.query("SELECT action_execution_id FROM \"\(schema)\".start_claims")
                .map { Array(try $0.decode("action_execution_id", as: String.self).utf8) }
            await connection.close()
            #expect(Set(stored) == Set(ids.map { Array($0.utf8) }))
            #expect(stored.count == ids.count, "é and e+U+0301 are two ids")
        }
    }

    @Test("an id that is empty, has NUL or is over 255 bytes is refused; the calls batched with it are not affected")
    func refusedIDs() async throws {
        try await TestDatabase.withRunningStore("refused") { store, schema in
            for bad in ["", "nul\u{0}inside", String(repeating: "y", count: 256), String(repeating: "é", count: 128)] {
                await #expect {
                    _ = try await store.claim(["fine-\(bad.utf8.count)", bad])
                } throws: { error in
                    (error as? StartClaimsError)?.code == .invalidActionExecutionID
                }
            }
            async let good = store.claim(["good"])
            async let bad: Set<String>? = try? store.claim([String(repeating: "z", count: 300)])
            #expect(try await good == [])
            #expect(await bad == nil)

            let connection = try await TestDatabase.connect()
            let stored = try await connection.query("SELECT action_execution_id FROM \"\(schema)\".start_claims")
                .map { try $0.decode("action_execution_id", as: String.self) }
            await connection.close()
            #expect(stored == ["good"], "a call with a refused id records nothing")
        }
    }

    @Test("a value the server refuses fails only its own call, not the calls batched with it")
    func refusedValueInABatch() async throws {
        let schema = TestDatabase.uniqueSchema("poison")
        let store = try PostgresStartClaims(
            configuration: .init(database: try TestDatabase.configuration, worker: "w", schema: schema), logger: Logger(label: "poison")
        )
        do {
            try await store.prepare()
            let connection = try await TestDatabase.connect()
            try await connection.execute("ALTER TABLE \"\(schema)\".start_claims ADD CONSTRAINT no_poison CHECK (action_execution_id <> 'poison')")
            await connection.close()
            try await withThrowingTaskGroup(of: Void.self) { outer in
                let claims = Task {
                    await withTaskGroup(of: (String, Result<Set<String>, any Error>).self) { group in
                        for index in 0..<40 {
                            let id = index == 20 ? "poison" : "good-\(index)"
                            group.addTask {
                                do {
                                    return (id, .success(try await store.claim([id])))
                                } catch {
                                    return (id, .failure(error))
                                }
                            }
                        }
                        return await group.reduce(into: [String: Result<Set<String>, any Error>]()) { $0[$1.0] = $1.1 }
                    }
                }
                // All 40 wait for run(), so they go in one batch.
                while store.queuedCallCount < 40 { try await Task.sleep(for: .milliseconds(5)) }
                outer.addTask { try await store.run() }
                let results = await claims.value
                #expect(results.count == 40)
                for (id, result) in results {
                    switch result {
                    case .success(let before):
                        #expect(id != "poison")
                        #expect(before.isEmpty)
                    case .failure(let error):
                        #expect(id == "poison", "\(id): \(error)")
                        #expect((error as? StartClaimsError)?.underlying?.sqlState == "23514")
                    }
                }
                #expect(store.statistics.insertStatements == 41, "one refused batch, then each call alone")
                outer.cancelAll()
            }
        } catch {
            try? await TestDatabase.dropSchema(schema)
            throw error
        }
        try await TestDatabase.dropSchema(schema)
    }

    @Test("retention deletes claims older than the retention, in batches, and keeps the others")
    func retention() async throws {
        try await TestDatabase.withRunningStore("retention", configure: { $0.retentionBatchSize = 3 }) { store, schema in
            #expect(try await store.claim(["fresh-1", "fresh-2"]) == [])
            let connection = try await TestDatabase.connect()
            for index in 0..<7 {
                try await connection.execute(
                    "INSERT INTO \"\(schema)\".start_claims (action_execution_id, claimed_at, worker) VALUES ($1, now() - interval '8 days', 'old')",
                    [.text("old-\(index)")]
                )
            }
            // Just inside the default 7 days.
            try await connection.execute(
                "INSERT INTO \"\(schema)\".start_claims (action_execution_id, claimed_at, worker) VALUES ('recent', now() - interval '6 days 23 hours', 'old')"
            )
            let deleted = try await store.deleteExpiredClaims()
            #expect(deleted == 7)
            let remaining = try await connection.query("SELECT action_execution_id FROM \"\(schema)\".start_claims ORDER BY 1")
                .map { try $0.decode("action_execution_id", as: String.self) }
            await connection.close()
            #expect(remaining == ["fresh-1", "fresh-2", "recent"])
            #expect(try await store.deleteExpiredClaims() == 0)
            // An expired claim is forgotten: the id is new again.
            #expect(try await store.claim(["old-1"]) == [])
        }
    }

    @Test("workers preparing the same new schema at once all succeed")
    func concurrentPrepare() async throws {
        let schema = TestDatabase.uniqueSchema("race")
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<8 {
                    group.addTask {
                        let store = try PostgresStartClaims(
                            configuration: .init(database: try TestDatabase.configuration, worker: "w\(index)", schema: schema),
                            logger: Logger(label: "race")
                        )
                        try await store.prepare()
                    }
                }
                try await group.waitForAll()
            }
        } catch {
            try? await TestDatabase.dropSchema(schema)
            throw error
        }
        try await TestDatabase.dropSchema(schema)
    }

    @Test("a table dropped under a running store is created again by the next claim")
    func droppedTable() async throws {
        try await TestDatabase.withRunningStore("dropped") { store, schema in
            #expect(try await store.claim(["a"]) == [])
            try await TestDatabase.dropSchema(schema)
            #expect(try await store.claim(["a"]) == [])
            #expect(try await store.claim(["a"]) == ["a"])
        }
    }

    @Test("graceful end: a stopped store refuses claims")
    func stoppedStoreRefuses() async throws {
        let schema = TestDatabase.uniqueSchema("stopped")
        let store = try PostgresStartClaims(
            configuration: .init(database: try TestDatabase.configuration, worker: "w", schema: schema), logger: Logger(label: "stopped")
        )
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await store.run() }
                #expect(try await store.claim(["x"]) == [])
                group.cancelAll()
                try await group.waitForAll()
            }
            await #expect {
                _ = try await store.claim(["y"])
            } throws: { error in
                (error as? StartClaimsError)?.code == .notRunning
            }
        } catch {
            try? await TestDatabase.dropSchema(schema)
            throw error
        }
        try await TestDatabase.dropSchema(schema)
    }

    @Test("an unreachable database: the claim fails with a clear error, and the store keeps serving")
    func unreachableDatabase() async throws {
        // A port nothing listens on (the PostgreSQL test port plus 7).
        var database = try TestDatabase.configuration
        database.port = (database.port ?? 5432) + 7
        database.options["connect_timeout"] = "2"
        let logs = CapturedLogs()
        let store = try PostgresStartClaims(configuration: .init(database: database, worker: "w"), logger: logs.logger)
        await #expect {
            try await store.prepare()
        } throws: { error in
            (error as? StartClaimsError)?.code == .unavailable
        }
        await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await store.run() }
            for _ in 0..<2 {
                await #expect {
                    _ = try await store.claim(["x"])
                } throws: { error in
                    guard let error = error as? StartClaimsError else { return false }
                    return error.code == .unavailable && error.description.contains("cannot connect")
                }
            }
            group.cancelAll()
        }
        #expect(logs.all.contains { $0.level == .warning && $0.message == "cannot record action starts" })
    }
}
