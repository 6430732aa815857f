import Synchronization
import Testing

@testable import OpenStackClient

// The waiters below start with `Task.immediate` / `addImmediateTask`: the
// new task runs on the caller's thread until it first suspends, which is
// inside `acquire()` or `value()` once it has joined the queue. So when the
// call returns, the waiter is queued: the order of the queue is the order
// of the calls, on any machine.
@Suite("AsyncSemaphore and SingleFlight")
struct ConcurrencyPrimitivesTests {
    @Test("permits are handed out first come, first served")
    func fifo() async throws {
        let semaphore = AsyncSemaphore(permits: 1)
        try await semaphore.acquire()
        let order = Locked<[Int]>([])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<5 {
                group.addImmediateTask {
                    try await semaphore.acquire()
                    order.withLock { $0.append(index) }
                    semaphore.release()
                }
            }
            #expect(order.value.isEmpty)
            semaphore.release()
            try await group.waitForAll()
        }
        #expect(order.value == [0, 1, 2, 3, 4])
    }

    @Test("a cancelled waiter leaves the queue and the permit goes to the next")
    func cancelledWaiter() async throws {
        let semaphore = AsyncSemaphore(permits: 1)
        try await semaphore.acquire()
        let first = Task.immediate { try await semaphore.acquire() }
        let second = Task.immediate {
            try await semaphore.acquire()
            semaphore.release()
            return true
        }
        first.cancel()
        await #expect(throws: CancellationError.self) { try await first.value }
        semaphore.release()
        #expect(try await second.value)
        // All permits are back.
        try await semaphore.acquire()
        semaphore.release()
    }

    @Test("concurrent callers share one fetch; the value is kept while usable")
    func sharedFetch() async throws {
        let flight = SingleFlight<Int>()
        let fetches = Locked(0)
        let (fetched, finishFetch) = AsyncStream.makeStream(of: Int.self)
        let values = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<10 {
                group.addImmediateTask {
                    try await flight.value {
                        fetches.withLock { $0 += 1 }
                        // The fetch ends only when all ten callers are in.
                        for await value in fetched { return value }
                        return 0
                    }
                }
            }
            finishFetch.yield(7)
            finishFetch.finish()
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(values == Array(repeating: 7, count: 10))
        #expect(fetches.withLock { $0 } == 1)
        #expect(try await flight.value { 8 } == 7)
        #expect(try await flight.value(isUsable: { $0 > 7 }) { 9 } == 9)
        flight.invalidate { $0 == 9 }
        #expect(try await flight.value { 10 } == 10)
    }

    @Test("a failed fetch is not kept and its waiters get the error")
    func failedFetch() async throws {
        struct Failure: Error {}
        let flight = SingleFlight<Int>()
        await #expect(throws: Failure.self) {
            try await flight.value { throw Failure() }
        }
        #expect(try await flight.value { 1 } == 1)
    }

    @Test("when the fetching task is cancelled, a waiter takes over")
    func cancelledFetcher() async throws {
        let flight = SingleFlight<Int>()
        let fetcher = Task.immediate {
            try await flight.value {
                try await Task.sleep(for: .seconds(600))
                return 1
            }
        }
        let waiter = Task.immediate { try await flight.value { 2 } }
        fetcher.cancel()
        await #expect(throws: CancellationError.self) { try await fetcher.value }
        #expect(try await waiter.value == 2)
    }
}
