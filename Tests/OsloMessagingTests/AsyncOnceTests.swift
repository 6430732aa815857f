@testable import OsloMessaging
import Synchronization
import Testing

/// The once-gate behind the client's exchange declaration and reply queue
/// setup, without a broker.
@Suite struct AsyncOnceTests {
    @Test func concurrentCallersShareOneRun() async throws {
        let once = AsyncOnce<Int>()
        let runs = RunCount()
        let (release, releaseSource) = AsyncStream.makeStream(of: Void.self)
        let values = try await withThrowingTaskGroup(of: Int.self, returning: [Int].self) { group in
            for _ in 0..<10 {
                group.addTask {
                    try await once.value {
                        runs.value.add(1, ordering: .relaxed)
                        for await _ in release { break }
                        return 42
                    }
                }
            }
            // Let the callers queue up behind the first, then let it finish.
            try await Task.sleep(for: .milliseconds(50))
            releaseSource.yield()
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(values == Array(repeating: 42, count: 10))
        #expect(runs.value.load(ordering: .relaxed) == 1)
        // Remembered: no further run.
        #expect(try await once.value { 7 } == 42)
        // Forgotten: the next caller runs it again.
        once.forget { $0 == 42 }
        #expect(try await once.value { 7 } == 7)
    }

    @Test func aFailureIsNotRemembered() async throws {
        struct Refused: Error {}
        let once = AsyncOnce<Int>()
        await #expect(throws: Refused.self) {
            try await once.value { throw Refused() }
        }
        #expect(try await once.value { 1 } == 1)
    }

    /// A cancelled first caller does not pass its cancellation on: a caller
    /// waiting behind it runs the operation itself.
    @Test func aCancelledRunIsHandedToAWaiter() async throws {
        let once = AsyncOnce<Int>()
        let (started, startedSource) = AsyncStream.makeStream(of: Void.self)
        let first = Task {
            try await once.value {
                startedSource.yield()
                try await Task.sleep(for: .seconds(600))
                return 1
            }
        }
        for await _ in started { break }
        let second = Task {
            try await once.value { 2 }
        }
        // The second caller is waiting behind the first (or is about to).
        try await Task.sleep(for: .milliseconds(50))
        first.cancel()
        await #expect(throws: CancellationError.self) {
            try await first.value
        }
        #expect(try await second.value == 2)
    }
}

private final class RunCount: Sendable {
    let value = Atomic(0)
}
