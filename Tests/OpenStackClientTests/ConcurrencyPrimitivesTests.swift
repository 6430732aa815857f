import Synchronization
import Testing

@testable import OpenStackClient

@Suite("AsyncSemaphore and SingleFlight")
struct ConcurrencyPrimitivesTests {
    /// Waits (without blocking) until `condition` holds, at most 5 s.
    func eventually(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("condition not met in time")
                return
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    @Test("permits are handed out first come, first served")
    func fifo() async throws {
        let semaphore = AsyncSemaphore(permits: 1)
        try await semaphore.acquire()
        let order = Locked<[Int]>([])
        let queued = Locked(0)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<5 {
                // Start the waiters one after another so that their order is known.
                group.addTask {
                    queued.withLock { $0 += 1 }
                    try await semaphore.acquire()
                    order.withLock { $0.append(index) }
                    semaphore.release()
                }
                try await eventually { queued.withLock { $0 } == index + 1 }
                try await Task.sleep(for: .milliseconds(10))
            }
            semaphore.release()
            try await group.waitForAll()
        }
        #expect(order.withLock { $0 } == [0, 1, 2, 3, 4])
    }

    @Test("a cancelled waiter leaves the queue and the permit goes to the next")
    func cancelledWaiter() async throws {
        let semaphore = AsyncSemaphore(permits: 1)
        try await semaphore.acquire()
        let first = Task { try await semaphore.acquire() }
        try await Task.sleep(for: .milliseconds(20))
        let second = Task {
            try await semaphore.acquire()
            semaphore.release()
            return true
        }
        try await Task.sleep(for: .milliseconds(20))
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
        let values = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<10 {
                group.addTask {
                    try await flight.value {
                        fetches.withLock { $0 += 1 }
                        try await Task.sleep(for: .milliseconds(100))
                        return 7
                    }
                }
            }
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
        let fetcher = Task {
            try await flight.value {
                try await Task.sleep(for: .seconds(10))
                return 1
            }
        }
        try await Task.sleep(for: .milliseconds(30))
        let waiter = Task { try await flight.value { 2 } }
        try await Task.sleep(for: .milliseconds(30))
        fetcher.cancel()
        await #expect(throws: CancellationError.self) { try await fetcher.value }
        #expect(try await waiter.value == 2)
    }
}
