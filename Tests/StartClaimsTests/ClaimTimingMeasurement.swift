import Foundation
import Logging
import PostgresClient
import StartClaims
import Testing

/// Not a test: how long claims take against the test server. Runs only with
/// MA_MEASURE_START_CLAIMS=1 and prints the figures; asserts nothing about time.
///
///     MA_MEASURE_START_CLAIMS=1 swift test --filter ClaimTimingMeasurement
@Suite("Start-claim timing (measurement)", .enabled(if: ProcessInfo.processInfo.environment["MA_MEASURE_START_CLAIMS"] == "1"))
struct ClaimTimingMeasurement {
    static let claims = 10_000

    @Test("10,000 claims at concurrency 1 and with 64 concurrent callers")
    func measure() async throws {
        try await TestDatabase.withRunningStore("timing") { store, schema in
            _ = try await store.claim(["warm-up"])
            // The floor: the same single-row INSERT straight on a connection, no queue.
            let connection = try await TestDatabase.connect()
            let direct = try await ContinuousClock().measure {
                for index in 0..<Self.claims {
                    _ = try await connection.query(
                        "INSERT INTO \"\(schema)\".start_claims (action_execution_id, worker) VALUES ($2, $1) "
                            + "ON CONFLICT (action_execution_id) DO NOTHING RETURNING action_execution_id",
                        [.text("direct"), .text("direct-\(index)")]
                    )
                }
            }
            await connection.close()
            let directMicroseconds = Double(direct.components.seconds) * 1e6 + Double(direct.components.attoseconds) / 1e12
            print("start claims: baseline, \(Self.claims) INSERTs straight on a connection: \(String(format: "%.1f", directMicroseconds / Double(Self.claims))) µs each")
            for callers in [1, 64] {
                let statementsBefore = store.statistics.insertStatements
                let perCaller = Self.claims / callers
                let clock = ContinuousClock()
                let elapsed = try await clock.measure {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for caller in 0..<callers {
                            group.addTask {
                                for index in 0..<perCaller {
                                    _ = try await store.claim(["c\(callers)-\(caller)-\(index)"])
                                }
                            }
                        }
                        try await group.waitForAll()
                    }
                }
                let total = perCaller * callers
                let microseconds = Double(elapsed.components.seconds) * 1e6 + Double(elapsed.components.attoseconds) / 1e12
                let statements = store.statistics.insertStatements - statementsBefore
                print(
                    "start claims: \(total) claims, \(callers) concurrent caller(s): \(String(format: "%.1f", microseconds / 1e3)) ms, "
                        + "\(String(format: "%.1f", microseconds / Double(total))) µs per claim, \(statements) INSERT statements "
                        + "(\(String(format: "%.1f", Double(total) / Double(max(statements, 1)))) claims each)"
                )
            }
        }
    }
}
