import Foundation
import MistralActionsTestSupport
import NIOSSL
import OpenStackClient
import OrderedJSON
import Testing

/// HTTPS endpoints: the request's CA file (`auth_cacert`) verifies them,
/// `insecure` skips verification, and an unknown issuer fails at once.
@Suite("TLS to OpenStack endpoints")
struct TLSTests {
    /// A self-signed certificate for 127.0.0.1, made with openssl.
    static func makeCertificate(in directory: URL) async throws -> (certificate: String, key: String) {
        let certificate = directory.appendingPathComponent("endpoint.pem").path
        let key = directory.appendingPathComponent("endpoint.key").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", certificate,
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        // Not waitUntilExit(): that would block a thread of the cooperative pool.
        let exit = ProcessExit(of: process)
        try process.run()
        try #require(try await exit.wait(limit: .seconds(60), "openssl") == 0, "openssl could not make a certificate")
        return (certificate, key)
    }

    @Test("auth_cacert verifies an HTTPS endpoint, insecure skips verification, an unknown CA fails without retries")
    func https() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("osc-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let (certificate, key) = try await Self.makeCertificate(in: directory)
        let tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
        let server = try await ScriptedHTTPServer.start(tls: tls)
        let session = OpenStackSession(settings: testSettings(maxRetries: 2), logger: quietLogger)
        do {
            #expect(server.baseURL.hasPrefix("https://"))
            server.always("GET", "/compute/v2.1/servers", .json(200, #"{"servers": []}"#))
            var credentials = try userCredentials(server)

            let error = await #expect(throws: OpenStackError.self) {
                try await session.client(credentials: credentials, logger: quietLogger).get(.compute, "/servers")
            }
            guard case .transport(let message)? = error?.kind else {
                Issue.record("expected a transport error, got \(String(describing: error))")
                throw CancellationError()
            }
            #expect(message.contains("TLS"), "\(message)")
            #expect(server.requests.isEmpty)

            credentials.caFile = certificate
            let verified = try await session.client(credentials: credentials, logger: quietLogger).get(.compute, "/servers")
            #expect(verified.body == ["servers": []])

            credentials.caFile = nil
            credentials.insecure = true
            let unverified = try await session.client(credentials: credentials, logger: quietLogger).get(.compute, "/servers")
            #expect(unverified.body == ["servers": []])
            #expect(server.requests.count == 2)
        } catch {
            try? await session.shutdown()
            try? await server.stop()
            throw error
        }
        try await session.shutdown()
        try await server.stop()
    }
}
