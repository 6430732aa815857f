import Logging
import OrderedJSON
import OsloMessaging
import Testing

@testable import OpenStackClient

/// Each "OpenStack request" log line says whose credentials the call used
/// (`openstack.credential_source`, and `openstack.trust_scoped=true` for a
/// trust's token), never the token itself.
@Suite("Credential source in the request log")
struct CredentialSourceLogTests {
    static let serversPath = "/compute/v2.1/servers"

    /// The credential metadata of each "OpenStack request" line: (source, trust_scoped or "-").
    static func sources(_ recorder: LogRecorder) -> [String] {
        recorder.records(containing: "OpenStack request").map { record in
            let source = record.metadata["openstack.credential_source"].map { "\($0)" } ?? "none"
            let trust = record.metadata["openstack.trust_scoped"].map { "\($0)" } ?? "-"
            return "\(source) \(trust)"
        }
    }

    static func context(token: String?, trustScoped: Bool, catalog: String) throws -> OpenStackCredentials {
        var fields: JSONObject = ["project_id": "a6944d763bf64ee6a275f1263fae0352", "auth_uri": ""]
        if let token { fields["auth_token"] = .string(token) }
        if trustScoped {
            fields["is_trust_scoped"] = true
            fields["trust_id"] = "trust-42"
        }
        fields["service_catalog"] = try #require(try parseJSON(catalog)["token"])
        return OpenStackCredentials(securityContext: RequestContext(fields: fields))
    }

    @Test("the caller's own token: request_token; a cron trigger's trust-scoped token: request_token and trust_scoped; no token: service_user")
    func sourcesByCredentials() async throws {
        let recorder = LogRecorder()
        try await withServer(settings: KeystoneTests.settings, recorder: recorder) { server, session in
            server.always("GET", Self.serversPath, .json(200, #"{"servers": []}"#))
            server.always("POST", KeystoneTests.tokensPath, KeystoneTests.issued(server, token: "service-token-7"))
            let catalog = tokenBody(base: server.baseURL)

            let user = session.client(
                credentials: try Self.context(token: "user-token-1", trustScoped: false, catalog: catalog),
                logger: recorder.logger())
            _ = try await user.get(.compute, "/servers")
            #expect(Self.sources(recorder) == ["request_token -"])

            let trust = session.client(
                credentials: try Self.context(token: "trust-token-1", trustScoped: true, catalog: catalog),
                logger: recorder.logger())
            _ = try await trust.get(.compute, "/servers")
            #expect(Self.sources(recorder) == ["request_token -", "request_token true"])

            // No token (a Mistral without Keystone): the service user's token, got with its password.
            let service = session.client(
                credentials: try Self.context(token: nil, trustScoped: false, catalog: catalog), logger: recorder.logger())
            _ = try await service.get(.compute, "/servers")
            #expect(Self.sources(recorder) == ["request_token -", "request_token true", "service_user -", "service_user -"])

            let sent = server.requests("GET", Self.serversPath).map { $0.header("X-Auth-Token") }
            #expect(sent == ["user-token-1", "trust-token-1", "service-token-7"])
            for secret in ["user-token-1", "trust-token-1", "service-token-7", "s3cret-pw"] {
                #expect(!recorder.allText.contains(secret), "\(secret) logged")
            }
        }
    }
}

extension CredentialSourceLogTests {
    @Test("a renewal refused with 401 (Keystone's answer for a deleted trust, and for a wrong password) names both causes, not the trust id")
    func deletedTrustOnRenewal() async throws {
        try await withServer(settings: KeystoneTests.settings) { server, session in
            server.always("GET", Self.serversPath, .json(401))
            server.always(
                "POST", KeystoneTests.tokensPath,
                .json(401, #"{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}"#))
            let catalog = tokenBody(base: server.baseURL)
            let client = session.client(
                credentials: try Self.context(token: "trust-token-1", trustScoped: true, catalog: catalog), logger: quietLogger)
            let error = await #expect(throws: OpenStackError.self) { try await client.get(.compute, "/servers") }
            let message = error?.message ?? ""
            #expect(message.contains("rejected the trustee credentials of [keystone_authtoken]"), "\(message)")
            #expect(message.contains("or the request's trust (deleted, expired or used up)"), "\(message)")
            #expect(!message.contains("trust-42") && !message.contains("s3cret-pw"))
            // One renewal was tried, as the trustee with the trust scope.
            #expect(server.requests("POST", KeystoneTests.tokensPath).count == 1)
        }
    }
}
