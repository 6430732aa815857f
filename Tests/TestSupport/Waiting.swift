/// A wait of a test that did not end within its limit.
public struct TestTimeout: Error, CustomStringConvertible {
    public var what: String
    public var description: String { "timed out: \(what)" }

    public init(what: String) {
        self.what = what
    }
}

/// A test step that failed, with what went wrong.
public struct TestFailure: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }

    public init(description: String) {
        self.description = description
    }
}

/// Runs `body`, failing with ``TestTimeout`` if it takes longer than `limit`
/// (then `body` is cancelled). The limit guards against a hang; choose it
/// generous enough for a loaded machine running suites in parallel.
public func withTimeout<T: Sendable>(
    _ limit: Duration, _ what: String = "the operation", _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask {
            try await body()
        }
        group.addTask {
            try await Task.sleep(for: limit)
            throw TestTimeout(what: "\(what) (after \(limit))")
        }
        defer { group.cancelAll() }
        guard let result = try await group.next() else {
            throw TestTimeout(what: what)
        }
        return result
    }
}

/// Checks `condition` every `interval` until it holds, failing with
/// ``TestTimeout`` after `limit`.
///
/// Only for a condition outside the test's reach that announces nothing: a
/// broker's queue or consumer count, a server's lock table, a process's log
/// file, a connection's state. When the test itself can be told (a handler
/// ran, a log line was written, a request arrived), wait on an
/// ``AsyncCounter`` or a ``Signal`` instead. `limit` only guards against a
/// hang; it is no assumption about the machine's speed.
public func eventually(
    _ what: String,
    limit: Duration = .seconds(60),
    every interval: Duration = .milliseconds(20),
    fileID: String = #fileID,
    line: Int = #line,
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + limit
    while try await !condition() {
        guard ContinuousClock.now < deadline else {
            throw TestTimeout(what: "\(what) (not within \(limit), \(fileID):\(line))")
        }
        try await Task.sleep(for: interval)
    }
}
