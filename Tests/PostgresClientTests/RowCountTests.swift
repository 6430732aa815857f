import PostgresClient
import Testing

@Suite("A result without the expected row is an error, not a trap")
struct RowCountTests {
    @Test("onlyRow: one row is returned; none or several are decoding errors naming the count")
    func onlyRow() async throws {
        let connection = try await TestDatabase.connect()
        let one = try await connection.query("SELECT 7 AS n")
        #expect(try one.onlyRow()["n"].decode(Int64.self) == 7)
        for (sql, count) in [("SELECT 1 AS n WHERE false", 0), ("SELECT generate_series(1, 3) AS n", 3)] {
            let rows = try await connection.query(sql)
            do {
                _ = try rows.onlyRow()
                Issue.record("\(sql): a row was taken from \(count)")
            } catch {
                #expect(error.code == .decoding)
                #expect(error.message.contains("returned \(count)"), "\(error)")
            }
        }
        await connection.close()
    }
}
