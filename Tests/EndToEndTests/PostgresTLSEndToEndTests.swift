import Foundation
import Testing

/// `[database] connection` with `sslmode=verify-full&sslrootcert=...`, as
/// Mistral's mistral.conf holds it, read by the real `mistral-actions` binary
/// (`doctor` connects the way the worker does) against the TLS-only
/// PostgreSQL of scripts/postgres-tls.sh: the options reach libpq, the right
/// CA connects, another CA is refused with a TLS error.
@Suite(
    "[database] connection over TLS, end to end",
    .enabled(
        if: ProcessInfo.processInfo.environment["MA_TEST_POSTGRES_TLS_URL"] != nil,
        "needs the TLS PostgreSQL of scripts/postgres-tls.sh: run `scripts/postgres-tls.sh start` and `eval \"$(scripts/postgres-tls.sh env)\"` (MA_TEST_POSTGRES_TLS_URL is unset)"
    )
)
struct PostgresTLSEndToEndTests {
    @Test("doctor connects with the CA of the URL's sslrootcert and refuses the server under another CA")
    func doctorOverTLS() async throws {
        let environment = ProcessInfo.processInfo.environment
        let server = try #require(environment["MA_TEST_POSTGRES_TLS_URL"].flatMap { URLComponents(string: $0) })
        let ca = try #require(environment["MA_TEST_POSTGRES_TLS_CA"])
        let otherCA = try #require(environment["MA_TEST_POSTGRES_TLS_OTHER_CA"])
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ma-pgtls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        func doctor(rootCertificate: String) async throws -> (status: Int32, table: String) {
            var url = server
            url.scheme = "postgresql+psycopg2"
            url.queryItems = [URLQueryItem(name: "sslmode", value: "verify-full"), URLQueryItem(name: "sslrootcert", value: rootCertificate)]
            let path = directory.appendingPathComponent("mistral-\(UUID().uuidString.prefix(8)).conf").path
            try """
                [DEFAULT]
                transport_url = \(TestEnvironment.amqpURL)
                [database]
                connection = \(try #require(url.string))
                [mistral_actions]
                http_listen = off
                log_level = warning
                """.write(toFile: path, atomically: true, encoding: .utf8)
            let (status, table, errors) = try await runCLI(["doctor", "--config-file", path, "--timeout", "15"])
            return (status, table + errors)
        }

        let trusted = try await doctor(rootCertificate: ca)
        #expect(hasRow(trusted.table, "✔", "PostgreSQL"), "\(trusted.table)")
        #expect(trusted.table.contains("sslmode=verify-full&sslrootcert=\(ca)"), "\(trusted.table)")
        // The TLS server holds no Mistral schema: doctor goes on to say so (and fails).
        #expect(hasRow(trusted.table, "✘", "Mistral schema"), "\(trusted.table)")
        #expect(trusted.status != 0)

        let refused = try await doctor(rootCertificate: otherCA)
        #expect(hasRow(refused.table, "✘", "PostgreSQL"), "\(refused.table)")
        #expect(refused.table.contains("certificate verify failed"), "\(refused.table)")
        #expect(refused.table.contains("sslrootcert=\(otherCA)"), "\(refused.table)")
        #expect(refused.status != 0)
    }
}
