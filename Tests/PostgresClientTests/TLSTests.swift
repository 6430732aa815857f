import Foundation
import Logging
import MistralActionsTestSupport
import PostgresClient
import Testing

/// The database client over TLS against a real PostgreSQL that accepts TLS
/// connections only (scripts/postgres-tls.sh: a CA of its own, a server
/// certificate naming localhost and 127.0.0.1). The URLs are written the way
/// Mistral's `[database] connection` holds them and go through the same
/// parsing as the worker's, so `sslmode` and `sslrootcert` in the URL are what
/// reaches libpq.
@Suite(
    "PostgreSQL over TLS (sslmode=verify-full)",
    .enabled(
        if: TLSServer.url != nil,
        "needs the TLS PostgreSQL of scripts/postgres-tls.sh: run `scripts/postgres-tls.sh start` and `eval \"$(scripts/postgres-tls.sh env)\"` (MA_TEST_POSTGRES_TLS_URL is unset)"
    )
)
struct PostgresTLSTests {
    @Test("verify-full with the CA that signed the server's certificate connects, and the session is encrypted")
    func verifyFullConnects() async throws {
        let url = try TLSServer.sqlalchemyURL(sslmode: "verify-full", rootCertificate: TLSServer.ca)
        let configuration = try PostgresConfiguration(url: url)
        #expect(configuration.options["sslmode"] == "verify-full")
        #expect(configuration.options["sslrootcert"] == TLSServer.ca)
        let connection = try await PostgresConnection.connect(configuration: configuration, logger: TestLog.logger())
        let rows = try await connection.query("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        let row = try rows.onlyRow()
        #expect(try row.decode("ssl", as: Bool.self))
        let version = try row.decode("version", as: String.self)
        #expect(version.hasPrefix("TLS"), "\(version)")
        await connection.close()
    }

    @Test("the server takes no connection without TLS (so a connected session above was not plain text)")
    func plainTextRefused() async throws {
        let url = try TLSServer.sqlalchemyURL(sslmode: "disable", rootCertificate: nil)
        let error = await #expect(throws: PostgresError.self) {
            try await PostgresConnection.connect(configuration: try PostgresConfiguration(url: url), logger: TestLog.logger())
        }
        #expect(error?.description.contains("no encryption") == true, "\(String(describing: error))")
    }

    @Test("a CA that did not sign the server's certificate fails with a TLS error naming sslrootcert")
    func wrongCA() async throws {
        let url = try TLSServer.sqlalchemyURL(sslmode: "verify-full", rootCertificate: TLSServer.otherCA)
        let error = await #expect(throws: PostgresError.self) {
            try await PostgresConnection.connect(configuration: try PostgresConfiguration(url: url), logger: TestLog.logger())
        }
        let failure = try #require(error)
        #expect(failure.code == .connectionFailed)
        #expect(failure.description.contains("certificate verify failed"), "\(failure)")
        #expect(failure.hint?.contains("sslrootcert=\(TLSServer.otherCA)") == true, "\(failure)")
        #expect(!failure.description.contains(TLSServer.password), "\(failure)")
    }

    @Test("verify-full refuses a host name the certificate does not hold; verify-ca (CA only) accepts it")
    func hostNameNotInCertificate() async throws {
        // The same server, reached at 127.0.0.1 (hostaddr) under a name the
        // certificate does not hold: libpq checks the certificate against `host`.
        let name = "not-in-the-certificate.invalid"
        let url = try TLSServer.sqlalchemyURL(sslmode: "verify-full", rootCertificate: TLSServer.ca, host: name) + "&hostaddr=127.0.0.1"
        let error = await #expect(throws: PostgresError.self) {
            try await PostgresConnection.connect(configuration: try PostgresConfiguration(url: url), logger: TestLog.logger())
        }
        let failure = try #require(error)
        #expect(failure.code == .connectionFailed)
        #expect(failure.description.contains("does not match host name \"\(name)\""), "\(failure)")
        #expect(failure.hint?.contains("does not name the host \(name)") == true, "\(failure)")

        let caOnly = try TLSServer.sqlalchemyURL(sslmode: "verify-ca", rootCertificate: TLSServer.ca, host: name) + "&hostaddr=127.0.0.1"
        let connection = try await PostgresConnection.connect(configuration: try PostgresConfiguration(url: caOnly), logger: TestLog.logger())
        let row = try await connection.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").onlyRow()
        #expect(try row.decode("ssl", as: Bool.self))
        await connection.close()
    }
}

/// The TLS server of scripts/postgres-tls.sh, from its `env` variables.
enum TLSServer {
    static var variables: [String: String] { ProcessInfo.processInfo.environment }
    static var url: String? { variables["MA_TEST_POSTGRES_TLS_URL"] }
    static var ca: String { variables["MA_TEST_POSTGRES_TLS_CA"] ?? "" }
    static var otherCA: String { variables["MA_TEST_POSTGRES_TLS_OTHER_CA"] ?? "" }
    static var password: String { (url.flatMap { URLComponents(string: $0) }?.password) ?? "" }

    /// The server's URL as `[database] connection` would hold it
    /// (`postgresql+psycopg2://...?sslmode=...&sslrootcert=...`).
    static func sqlalchemyURL(sslmode: String, rootCertificate: String?, host: String? = nil) throws -> String {
        let base = try #require(url.flatMap { URLComponents(string: $0) }, "MA_TEST_POSTGRES_TLS_URL is no URL")
        var components = base
        components.scheme = "postgresql+psycopg2"
        if let host { components.host = host }
        var query = [URLQueryItem(name: "sslmode", value: sslmode)]
        if let rootCertificate { query.append(URLQueryItem(name: "sslrootcert", value: rootCertificate)) }
        components.queryItems = query
        return try #require(components.string)
    }
}
