import Logging
import PostgresClient
@testable import StartClaims
import Testing

/// The batching decisions and the in-memory store, without a server.
@Suite("Start-claim logic")
struct ClaimLogicTests {
    func request(_ id: UInt64, _ ids: [String]) -> ClaimRequest {
        ClaimRequest(id: id, actionExecutionIDs: ids)
    }

    @Test("a batch claims each distinct id for the first call naming it")
    func batchPlan() {
        let plan = BatchPlan([request(1, ["a", "b", "a"]), request(2, ["b", "c"]), request(3, ["é", "e\u{301}"])])
        #expect(plan.ids == ["a", "b", "c", "é", "e\u{301}"])
        // "a" and "c" new, "b" was there before; both é spellings new.
        let results = plan.results(inserted: Set(["a", "c", "é", "e\u{301}"].map { Array($0.utf8) }))
        #expect(results[0] == ["b"])
        #expect(results[1] == ["b"], "b: claimed before, and by call 1 of the batch")
        #expect(results[2] == [])
        let none = plan.results(inserted: [])
        #expect(none[0] == ["a", "b"])
        #expect(none[1] == ["b", "c"])
    }

    @Test("calls queued during a statement go together, up to the batch size; a large call goes alone")
    func queueBatches() {
        var queue = ClaimQueue<Int, Int>(maximumBatchSize: 4)
        let started = queue.start()
        let startedAgain = queue.start()
        #expect(started)
        #expect(!startedAgain)
        for (id, ids) in [(1, ["a", "b"]), (2, ["c"]), (3, ["d", "e"]), (4, ["f", "g", "h", "i", "j"]), (5, ["k"])] as [(UInt64, [String])] {
            guard case .none = queue.enqueue(request(id, ids), continuation: Int(id), isCancelled: false) else {
                Issue.record("a running queue takes calls")
                return
            }
        }
        func ids(_ action: ClaimQueue<Int, Int>.NextAction) -> [UInt64] {
            if case .batch(let batch) = action { return batch.map(\.id) }
            return []
        }
        #expect(ids(queue.nextBatch()) == [1, 2])
        #expect(ids(queue.nextBatch()) == [3])
        #expect(ids(queue.nextBatch()) == [4])
        #expect(ids(queue.nextBatch()) == [5])
        if case .wait = queue.nextBatch() {} else { Issue.record("an empty running queue waits") }
        let parked = queue.park(7)
        #expect(parked)
        guard case .wakeLoop(7) = queue.enqueue(request(6, ["l"]), continuation: 6, isCancelled: false) else {
            Issue.record("a call wakes the parked loop")
            return
        }
        let parkedWithWork = queue.park(8)
        #expect(!parkedWithWork, "work is queued: the loop must not park")
        let completed = queue.complete(1)
        #expect(completed == 1)
        let abandoned = queue.abandon(6)
        #expect(abandoned == 6, "a queued call can leave")
        let completedAfterLeaving = queue.complete(6)
        #expect(completedAfterLeaving == nil)
        _ = queue.drain()
        if case .stop = queue.nextBatch() {} else { Issue.record("an empty draining queue stops") }
        guard case .fail(9, let error) = queue.enqueue(request(9, ["m"]), continuation: 9, isCancelled: false) else {
            Issue.record("a draining queue refuses calls")
            return
        }
        #expect((error as? StartClaimsError)?.code == .notRunning)
        let stopped = queue.stop()
        #expect(Set(stopped.waiters) == [2, 3, 4, 5], "stop hands back every waiter not yet answered")
    }

    @Test("ids are validated the same way by every store")
    func validation() async throws {
        let store = InMemoryStartClaims()
        for bad in ["", "a\u{0}b", String(repeating: "x", count: 256)] {
            await #expect {
                _ = try await store.claim([bad])
            } throws: { error in
                (error as? StartClaimsError)?.code == .invalidActionExecutionID
            }
        }
        #expect(try await store.claim([String(repeating: "x", count: 255)]) == [])
    }

    @Test("the in-memory store answers like the database one, and can be made unreachable")
    func inMemory() async throws {
        struct Down: Error {}
        let store = InMemoryStartClaims(claimed: ["old"])
        #expect(try await store.claim(["old", "new", "new"]) == ["old"])
        #expect(try await store.claim(["new", "é", "e\u{301}"]) == ["new"])
        store.setFailure(Down())
        await #expect(throws: Down.self) { _ = try await store.claim(["other"]) }
        store.setFailure(nil)
        #expect(try await store.claim(["other"]) == [])
        #expect(store.claimedIDs.count == 5, "é and e+U+0301 are two ids")
        #expect(store.claimCalls == 4)
    }

    @Test("a claim waiting for the store ends with CancellationError when its task is cancelled")
    func cancelledClaim() async throws {
        // Never run: the claim waits in the queue until cancelled.
        let store = try PostgresStartClaims(
            configuration: .init(database: try PostgresConfiguration(url: "postgresql://nobody@127.0.0.1:1/none"), worker: "w"),
            logger: Logger(label: "cancel")
        )
        let task = Task { try await store.claim(["waiting"]) }
        task.cancel()
        await #expect(throws: CancellationError.self) { _ = try await task.value }
    }

    @Test("a schema name PostgreSQL cannot hold is refused")
    func badSchemaName() throws {
        let database = try PostgresConfiguration(url: "postgresql://nobody@127.0.0.1:1/none")
        for schema in ["", String(repeating: "s", count: 64), "a\u{0}b"] {
            #expect(throws: StartClaimsError.self) {
                _ = try PostgresStartClaims(configuration: .init(database: database, worker: "w", schema: schema), logger: Logger(label: "x"))
            }
        }
        let quoted = try PostgresStartClaims(configuration: .init(database: database, worker: "w", schema: "we\"ird; schema"), logger: Logger(label: "x"))
        #expect(quoted.qualifiedTableName == "\"we\"\"ird; schema\".start_claims")
    }
}
