import Foundation
import PostgresClient
import Testing

@Suite("Errors, lock keys")
struct ErrorAndKeyTests {
    @Test("SQLSTATE names", arguments: [
        ("23505", "unique_violation"),
        ("23503", "foreign_key_violation"),
        ("40001", "serialization_failure"),
        ("40P01", "deadlock_detected"),
        ("42P01", "undefined_table"),
        ("28P01", "invalid_password"),
        ("57P01", "admin_shutdown"),
        ("55P03", "lock_not_available"),
        ("57014", "query_canceled"),
    ])
    func sqlStateNames(state: String, name: String) {
        #expect(PostgresError.sqlStateName(for: state) == name)
        #expect(PostgresError.sqlStateName(for: state.lowercased()) == name)
    }

    @Test("unknown SQLSTATEs have no name")
    func unknownSQLState() {
        #expect(PostgresError.sqlStateName(for: "ZZ999") == nil)
        var error = PostgresError(code: .server, message: "odd", sqlState: "ZZ999")
        error.detail = nil
        #expect(error.description == "PostgreSQL error ZZ999 (unknown condition): odd")
    }

    @Test("a server error reads as one line with state, name, message and detail")
    func serverErrorDescription() {
        let error = PostgresError(
            code: .server,
            message: "duplicate key value violates unique constraint \"x\"",
            sqlState: "23505",
            detail: "Key (name)=(y) already exists.",
            query: "INSERT INTO t (name) VALUES ($1)"
        )
        #expect(error.description
            == "PostgreSQL error 23505 (unique_violation): duplicate key value violates unique constraint \"x\" — Key (name)=(y) already exists.")
        #expect(error.debugDescription.hasSuffix("[query: INSERT INTO t (name) VALUES ($1)]"))
    }

    @Test("a connection error includes libpq's message on one line")
    func connectionErrorDescription() {
        let error = PostgresError(
            code: .connectionFailed,
            message: "could not connect to 127.0.0.1:1",
            libpqMessage: "connection to server at \"127.0.0.1\", port 1 failed: Connection refused\n\tIs the server running?"
        )
        #expect(!error.description.contains("\n"))
        #expect(error.description.contains("Connection refused Is the server running?"))
        #expect(error.description.hasPrefix("PostgreSQL connection failed: could not connect to 127.0.0.1:1"))
    }

    @Test("error codes compare and print")
    func codes() {
        #expect(PostgresError.Code.server == .server)
        #expect(PostgresError.Code.server != .decoding)
        #expect("\(PostgresError.Code.authenticationFailed)" == "authentication failed")
    }

    @Test("advisory lock keys are stable and distinct")
    func lockKeys() {
        // FNV-1a 64 of "" and "a" are published constants.
        #expect(PostgresConnection.advisoryLockKey(named: "") == Int64(bitPattern: 0xcbf2_9ce4_8422_2325))
        #expect(PostgresConnection.advisoryLockKey(named: "a") == Int64(bitPattern: 0xaf63_dc4c_8601_ec8c))
        #expect(PostgresConnection.advisoryLockKey(named: "mistral-actions.sync")
            == PostgresConnection.advisoryLockKey(named: "mistral-actions.sync"))
        #expect(PostgresConnection.advisoryLockKey(named: "mistral-actions.sync")
            != PostgresConnection.advisoryLockKey(named: "mistral-actions.sync2"))
    }
}
