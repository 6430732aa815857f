import Logging
import OrderedJSON
import OsloMessaging
import Testing

@testable import OpenStackClient

/// Catalog-less, trust-scoped and token-less requests against a scripted
/// Keystone on the same server as the services.
@Suite("Keystone and service credentials")
struct KeystoneTests {
    /// Keystone lives under `/identity` (a devstack-style prefix, no `/v3`
    /// in the configured URL).
    static func serviceCredentials(_ server: ScriptedHTTPServer) -> ServiceCredentials {
        ServiceCredentials(
            authURL: "\(server.baseURL)/identity", username: "mistral", password: "s3cret-pw", projectName: "service")
    }

    static func settings(_ server: ScriptedHTTPServer) -> OpenStackSettings {
        testSettings(serviceCredentials: serviceCredentials(server))
    }

    static let tokensPath = "/identity/v3/auth/tokens"

    /// `POST /v3/auth/tokens` answers: 201, the token in `X-Subject-Token`.
    static func issued(_ server: ScriptedHTTPServer, token: String, delay: Duration = .zero) -> ScriptedResponse {
        .json(
            201, tokenBody(base: server.baseURL, projectID: "service-project"), headers: [("X-Subject-Token", token)],
            delay: delay)
    }

    @Test("trust-scoped context without a catalog: validated with the service token, user's token sent")
    func trustScoped() async throws {
        let recorder = LogRecorder()
        try await withServer(settings: Self.settings, recorder: recorder) { server, session in
            server.script("POST", Self.tokensPath, [Self.issued(server, token: "svc-token-1")])
            server.script(
                "GET", Self.tokensPath,
                [.json(200, tokenBody(base: server.baseURL, projectID: "trustor-project"), headers: [("X-Subject-Token", "trust-token")])])
            server.always("GET", "/volume/v3/trustor-project/backups", .json(200, #"{"backups": []}"#))
            let context = RequestContext(fields: [
                "auth_token": "trust-token", "project_id": "trustor-project", "is_trust_scoped": true,
                "trust_id": "t-1", "service_catalog": nil, "auth_uri": "",
            ])
            let client = session.client(
                credentials: OpenStackCredentials(securityContext: context), logger: recorder.logger())
            let response = try await client.get(.blockStorage, "/backups")
            #expect(response.body == ["backups": []])

            let issue = try #require(server.requests("POST", Self.tokensPath).first)
            let body = try parseJSON(issue.body)
            #expect(body["auth"]?["identity"]?["password"]?["user"]?["name"] == "mistral")
            #expect(body["auth"]?["identity"]?["password"]?["user"]?["domain"]?["name"] == "Default")
            #expect(body["auth"]?["scope"]?["project"]?["name"] == "service")
            #expect(body["auth"]?["scope"]?["project"]?["domain"]?["name"] == "Default")
            let validation = try #require(server.requests("GET", Self.tokensPath).first)
            #expect(validation.header("X-Auth-Token") == "svc-token-1")
            #expect(validation.header("X-Subject-Token") == "trust-token")
            let call = try #require(server.requests("GET", "/volume/v3/trustor-project/backups").first)
            #expect(call.header("X-Auth-Token") == "trust-token")

            // The catalog is kept for the client's next calls.
            _ = try await client.get(.blockStorage, "/backups")
            #expect(server.requests("GET", Self.tokensPath).count == 1)
            #expect(!recorder.allText.contains("s3cret-pw"))
            #expect(!recorder.allText.contains("svc-token-1"))
        }
    }

    @Test("a token Keystone does not know: .unauthenticated without the token in the message")
    func unknownToken() async throws {
        try await withServer(settings: Self.settings) { server, session in
            server.script("POST", Self.tokensPath, [Self.issued(server, token: "svc-token-1")])
            server.always(
                "GET", Self.tokensPath,
                .json(404, #"{"error": {"code": 404, "title": "Not Found", "message": "Could not find token: gAAAA-revoked."}}"#))
            let client = session.client(
                credentials: OpenStackCredentials(authToken: "gAAAA-revoked", projectID: "p", isTrustScoped: true),
                logger: quietLogger)
            let error = await #expect(throws: OpenStackError.self) { try await client.get(.compute, "/servers") }
            guard case .unauthenticated(let message) = error?.kind else {
                Issue.record("expected unauthenticated, got \(String(describing: error))")
                return
            }
            #expect(message.contains("Could not find token: ***"))
            #expect(error.map { !"\($0)".contains("gAAAA-revoked") } ?? false)
        }
    }

    @Test("no catalog, no service credentials: GET /v3/auth/catalog with the user's token")
    func catalogFromAuthURI() async throws {
        try await withServer { server, session in
            let token = try parseJSON(tokenBody(base: server.baseURL))
            let catalog = try #require(token["token"]?["catalog"])
            let catalogBody = try JSON.object(["catalog": catalog, "links": ["self": "x"]]).encodedString()
            server.script("GET", "/identity/v3/auth/catalog", [.json(200, catalogBody)])
            server.always("GET", "/compute/v2.1/servers", .json(200, #"{"servers": []}"#))
            let credentials = OpenStackCredentials(
                authToken: "user-token", projectID: "p", authURL: "\(server.baseURL)/identity/v3/")
            let client = session.client(credentials: credentials, logger: quietLogger)
            _ = try await client.get(.compute, "/servers")
            let fetch = try #require(server.requests("GET", "/identity/v3/auth/catalog").first)
            #expect(fetch.header("X-Auth-Token") == "user-token")
            #expect(server.requests("GET", "/compute/v2.1/servers").first?.header("X-Auth-Token") == "user-token")
        }
    }

    @Test("no catalog and no way to fetch one: a message that says what to configure")
    func noWayToCatalog() async throws {
        let session = OpenStackSession(settings: OpenStackSettings(), logger: quietLogger)
        let client = session.client(
            credentials: OpenStackCredentials(authToken: "t", isTrustScoped: true), logger: quietLogger)
        let error = await #expect(throws: OpenStackError.self) { try await client.get(.compute, "/servers") }
        guard case .unauthenticated(let message) = error?.kind else {
            Issue.record("expected unauthenticated, got \(String(describing: error))")
            return
        }
        #expect(message.contains("trust-scoped"))
        #expect(message.contains("[keystone_authtoken]"))
        #expect(error?.method == "GET" && error?.path == "/servers" && error?.service == .compute)
        try await session.shutdown()
    }

    @Test("no token and no service credentials: .unauthenticated")
    func noTokenNoServiceUser() async throws {
        let session = OpenStackSession(settings: OpenStackSettings(), logger: quietLogger)
        let client = session.client(credentials: OpenStackCredentials(securityContext: .mistralAdmin()), logger: quietLogger)
        let error = await #expect(throws: OpenStackError.self) { try await client.get(.compute, "/servers") }
        #expect(
            error?.kind
                == .unauthenticated(
                    "the request carries no Keystone token (is Mistral's authentication off?) and no service "
                        + "credentials are configured in [keystone_authtoken]"))
        try await session.shutdown()
    }

    @Test("no token: the service user's token and catalog; one info line per session")
    func noTokenUsesServiceUser() async throws {
        let recorder = LogRecorder()
        try await withServer(settings: Self.settings, recorder: recorder) { server, session in
            server.script("POST", Self.tokensPath, [Self.issued(server, token: "svc-token-1")])
            server.always("GET", "/volume/v3/service-project/volumes", .json(200, #"{"volumes": []}"#))
            for index in 0..<2 {
                let client = session.client(
                    credentials: OpenStackCredentials(securityContext: .mistralAdmin()),
                    logger: recorder.logger(label: "action\(index)"))
                _ = try await client.get(.blockStorage, "/volumes")
            }
            let calls = server.requests("GET", "/volume/v3/service-project/volumes")
            #expect(calls.count == 2)
            #expect(calls.allSatisfy { $0.header("X-Auth-Token") == "svc-token-1" })
            // One token for both clients.
            #expect(server.requests("POST", Self.tokensPath).count == 1)
            let announcements = recorder.records(containing: "use the service credentials")
            #expect(announcements.count == 1)
            #expect(announcements.first?.level == .info)
            #expect(!recorder.allText.contains("s3cret-pw"))
        }
    }

    @Test("concurrent clients share one service-token request")
    func sharedServiceTokenFetch() async throws {
        try await withServer(settings: Self.settings) { server, session in
            server.script("POST", Self.tokensPath, [Self.issued(server, token: "svc-token-1", delay: .milliseconds(200))])
            server.always("GET", "/compute/v2.1/servers", .json(200, #"{"servers": []}"#))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<5 {
                    let client = session.client(credentials: OpenStackCredentials(), logger: quietLogger)
                    group.addTask { _ = try await client.get(.compute, "/servers") }
                }
                try await group.waitForAll()
            }
            #expect(server.requests("POST", Self.tokensPath).count == 1)
            #expect(server.requests("GET", "/compute/v2.1/servers").count == 5)
        }
    }

    @Test("a 401 on a request with the cached service token: a new token, one more try")
    func serviceTokenRejected() async throws {
        let recorder = LogRecorder()
        try await withServer(settings: Self.settings, recorder: recorder) { server, session in
            server.script(
                "POST", Self.tokensPath, [Self.issued(server, token: "svc-token-1"), Self.issued(server, token: "svc-token-2")])
            server.script(
                "GET", "/compute/v2.1/servers",
                [
                    .json(401, #"{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}"#),
                    .json(200, #"{"servers": []}"#),
                ])
            let client = session.client(credentials: OpenStackCredentials(), logger: recorder.logger())
            _ = try await client.get(.compute, "/servers")
            let calls = server.requests("GET", "/compute/v2.1/servers")
            #expect(calls.map { $0.header("X-Auth-Token") } == ["svc-token-1", "svc-token-2"])
            #expect(server.requests("POST", Self.tokensPath).count == 2)

            // Only once: a second 401 is the answer.
            server.script("GET", "/compute/v2.1/servers", [.json(401), .json(401), .json(200)])
            server.script("POST", Self.tokensPath, [Self.issued(server, token: "svc-token-3")])
            let error = await #expect(throws: OpenStackError.self) { try await client.get(.compute, "/servers") }
            #expect(error?.status == 401)
            #expect(!recorder.allText.contains("svc-token"))
        }
    }

    @Test("a 401 on the user's own token is not retried")
    func userTokenRejected() async throws {
        try await withServer { server, session in
            server.always("GET", "/compute/v2.1/servers", .json(401))
            let client = session.client(credentials: try userCredentials(server), logger: quietLogger)
            let error = await #expect(throws: OpenStackError.self) { try await client.get(.compute, "/servers") }
            #expect(error?.status == 401)
            #expect(server.requests.count == 1)
        }
    }

    @Test("wrong service credentials: .unauthenticated naming the user, never the password")
    func badServicePassword() async throws {
        try await withServer(settings: Self.settings) { server, session in
            server.always(
                "POST", Self.tokensPath,
                .json(401, #"{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}"#))
            let client = session.client(credentials: OpenStackCredentials(), logger: quietLogger)
            let error = await #expect(throws: OpenStackError.self) { try await client.get(.compute, "/servers") }
            guard case .unauthenticated(let message) = error?.kind else {
                Issue.record("expected unauthenticated, got \(String(describing: error))")
                return
            }
            #expect(message.contains("mistral@service"))
            #expect(!message.contains("s3cret-pw"))
        }
    }

    @Test("the service token is replaced 5 minutes before it expires, or halfway through a short life")
    func serviceTokenExpiry() {
        let now = 1_000_000.0
        let issued = now - 3600
        #expect(ServiceToken(id: "a", expiresAt: now + 301, issuedAt: issued).isUsable(now: now))
        #expect(!ServiceToken(id: "a", expiresAt: now + 299, issuedAt: issued).isUsable(now: now))
        #expect(ServiceToken(id: "a", expiresAt: nil, issuedAt: issued).isUsable(now: now))
        let shortLived = ServiceToken(id: "a", expiresAt: now + 120, issuedAt: now)
        #expect(shortLived.isUsable(now: now + 59))
        #expect(!shortLived.isUsable(now: now + 61))
    }
}
