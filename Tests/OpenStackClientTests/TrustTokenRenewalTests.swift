import Logging
import OrderedJSON
import OsloMessaging
import Testing

@testable import OpenStackClient

/// Long actions outlive their token: a trust-scoped token is renewed for
/// the same trust (as the `[keystone_authtoken]` user, the trustee), ahead
/// of its expiry or after a 401; a user's token is not, and its expiry is
/// named. Keystone and the services are one scripted server; every call's
/// token is read back from its request log.
@Suite("Trust-scoped token renewal")
struct TrustTokenRenewalTests {
    static let tokensPath = "/identity/v3/auth/tokens"
    static let serversPath = "/compute/v2.1/servers"
    static let trustID = "trust-0123456789abcdef"
    static let projectID = "trustor-project"

    static func settings(_ server: ScriptedHTTPServer) -> OpenStackSettings {
        testSettings(serviceCredentials: KeystoneTests.serviceCredentials(server))
    }

    /// What Keystone answers the trustee for the trust: 201, a token
    /// scoped to the trust and its project, the user the trustor
    /// (impersonation), the catalog at `base` (or `services`).
    static func renewal(
        _ server: ScriptedHTTPServer, token: String, trustID: String = trustID, projectID: String = projectID,
        issuedAt: String = "2026-01-01T00:00:00.000000Z", expiresAt: String = "2026-01-01T01:00:00.000000Z",
        services: [(type: String, path: String)]? = nil
    ) throws -> ScriptedResponse {
        let text =
            if let services {
                tokenBody(base: server.baseURL, projectID: projectID, expiresAt: expiresAt, services: services)
            } else {
                tokenBody(base: server.baseURL, projectID: projectID, expiresAt: expiresAt)
            }
        var body = try #require(try parseJSON(text)["token"]?.objectValue)
        body["issued_at"] = .string(issuedAt)
        body["user"] = ["id": "trustor-user", "name": "alice", "domain": ["id": "default", "name": "Default"]]
        body["OS-TRUST:trust"] = [
            "id": .string(trustID), "impersonation": true, "trustee_user": ["id": "mistral-user"],
            "trustor_user": ["id": "trustor-user"],
        ]
        return .json(201, try JSON.object(["token": .object(body)]).encodedString(), headers: [("X-Subject-Token", token)])
    }

    /// A cron trigger's request: a trust-scoped token, its trust and project,
    /// with or without the token's catalog and expiry.
    static func trustContext(
        _ server: ScriptedHTTPServer, token: String = "trust-token-1", catalog: Bool = true, expiresAt: JSON = nil,
        trustID: JSON = .string(trustID)
    ) throws -> OpenStackCredentials {
        let catalogJSON: JSON = catalog ? try #require(try parseJSON(tokenBody(base: server.baseURL))["token"]) : nil
        return OpenStackCredentials(
            securityContext: RequestContext(fields: [
                "auth_token": .string(token), "project_id": .string(projectID), "is_trust_scoped": true,
                "trust_id": trustID, "service_catalog": catalogJSON, "expires_at": expiresAt, "auth_uri": "",
            ]))
    }

    static func tokens(_ server: ScriptedHTTPServer, _ path: String = serversPath) -> [String?] {
        server.requests("GET", path).map { $0.header("X-Auth-Token") }
    }

    /// The `POST /v3/auth/tokens` requests that asked for a trust scope.
    static func renewals(_ server: ScriptedHTTPServer) throws -> [JSON] {
        try server.requests("POST", tokensPath).map { try parseJSON($0.body) }
            .filter { $0["auth"]?["scope"]?["OS-TRUST:trust"] != nil }
    }

    // MARK: Renewal after a 401

    @Test("a trust-scoped token that expires mid-action: one renewal for the same trust, the call retried once")
    func renewsAfter401() async throws {
        let recorder = LogRecorder()
        try await withServer(settings: Self.settings, recorder: recorder) { server, session in
            server.script("GET", Self.serversPath, [.json(200, #"{"servers": []}"#), .json(401)])
            server.always("GET", Self.serversPath, .json(200, #"{"servers": []}"#))
            server.script("POST", Self.tokensPath, [try Self.renewal(server, token: "trust-token-2")])
            let client = session.client(credentials: try Self.trustContext(server), logger: recorder.logger())

            _ = try await client.get(.compute, "/servers")
            // Keystone's token lifetime ends here: the next call gets a 401,
            // renews, and goes on.
            let response = try await client.get(.compute, "/servers")
            #expect(response.body == ["servers": []])
            _ = try await client.get(.compute, "/servers")
            #expect(Self.tokens(server) == ["trust-token-1", "trust-token-1", "trust-token-2", "trust-token-2"])

            let renewals = try Self.renewals(server)
            #expect(renewals.count == 1)
            let auth = try #require(renewals.first?["auth"])
            #expect(auth["identity"]?["methods"] == ["password"])
            #expect(auth["identity"]?["password"]?["user"]?["name"] == "mistral")
            #expect(auth["identity"]?["password"]?["user"]?["domain"]?["name"] == "Default")
            #expect(auth["identity"]?["password"]?["user"]?["password"] == "s3cret-pw")
            // A trust scope only: Keystone refuses a trust together with a project.
            #expect(auth["scope"] == ["OS-TRUST:trust": ["id": .string(Self.trustID)]])

            let sources = recorder.records(containing: "OpenStack request").map {
                $0.metadata["openstack.credential_source"].map { "\($0)" } ?? "none"
            }
            #expect(sources == ["request_token", "request_token", "service_user", "refreshed_trust_token", "refreshed_trust_token"])
            #expect(recorder.records(containing: "Renewed the request's trust-scoped token").count == 1)
            for secret in ["s3cret-pw", "trust-token-1", "trust-token-2", Self.trustID] {
                #expect(!recorder.allText.contains(secret), "\(secret) logged")
            }
        }
    }

    @Test("concurrent calls rejected at expiry share one renewal")
    func concurrentCallsShareOneRenewal() async throws {
        let calls = 8
        try await withServer(settings: Self.settings) { server, session in
            server.script("GET", Self.serversPath, Array(repeating: .json(401), count: calls))
            server.always("GET", Self.serversPath, .json(200, #"{"servers": []}"#))
            server.script("POST", Self.tokensPath, [try Self.renewal(server, token: "trust-token-2")])
            server.always("POST", Self.tokensPath, try Self.renewal(server, token: "trust-token-unexpected"))
            let client = session.client(credentials: try Self.trustContext(server), logger: quietLogger)

            // Every call is in flight with the old token before any 401 comes back.
            server.hold("GET", Self.serversPath)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<calls {
                    group.addTask { _ = try await client.get(.compute, "/servers") }
                }
                try await server.waitForRequests("GET", Self.serversPath, count: calls)
                server.releaseAll("GET", Self.serversPath)
                try await group.waitForAll()
            }
            #expect(try Self.renewals(server).count == 1)
            let tokens = Self.tokens(server)
            #expect(tokens.count == 2 * calls)
            #expect(tokens.prefix(calls).allSatisfy { $0 == "trust-token-1" })
            #expect(tokens.suffix(calls).allSatisfy { $0 == "trust-token-2" })
        }
    }

    @Test("a renewed token rejected too: the 401 says so; one renewal, one retry")
    func renewedTokenRejectedToo() async throws {
        try await withServer(settings: Self.settings) { server, session in
            server.always("GET", Self.serversPath, .json(401))
            server.script("POST", Self.tokensPath, [try Self.renewal(server, token: "trust-token-2")])
            let client = session.client(credentials: try Self.trustContext(server), logger: quietLogger)
            let error = await #expect(throws: OpenStackError.self) { try await client.get(.compute, "/servers") }
            #expect(error?.status == 401)
            #expect(error?.message.contains("a token Keystone had just issued for the request's trust was rejected too") == true)
            #expect(Self.tokens(server) == ["trust-token-1", "trust-token-2"])
            #expect(try Self.renewals(server).count == 1)
        }
    }

    // MARK: Renewal ahead of expiry

    /// A margin that puts any expiry before 3000 "about to expire".
    static let wideMargin = 2000.0 * 365 * 86_400

    @Test(
        "a trust-scoped token past or near its expires_at is renewed before the call; the old one is never sent",
        arguments: ["2000-01-01T00:00:00Z", "2999-01-01T00:00:00Z"])
    func renewsAheadOfExpiry(expiresAt: String) async throws {
        try await withServer(settings: Self.settings) { server, session in
            server.always("GET", Self.serversPath, .json(200, #"{"servers": []}"#))
            server.script("POST", Self.tokensPath, [try Self.renewal(server, token: "trust-token-2")])
            var client = session.client(
                credentials: try Self.trustContext(server, expiresAt: .string(expiresAt)), logger: quietLogger)
            // 2999 is "near" with this margin; the renewed token (one hour, on
            // Keystone's clock) is judged by its own life, not by the margin.
            client.trustRenewalMargin = Self.wideMargin
            _ = try await client.get(.compute, "/servers")
            _ = try await client.get(.compute, "/servers")
            #expect(Self.tokens(server) == ["trust-token-2", "trust-token-2"])
            #expect(try Self.renewals(server).count == 1)
        }
    }

    @Test("concurrent calls with an expired trust token share one renewal")
    func concurrentProactiveRenewal() async throws {
        try await withServer(settings: Self.settings) { server, session in
            server.always("GET", Self.serversPath, .json(200, #"{"servers": []}"#))
            server.script("POST", Self.tokensPath, [try Self.renewal(server, token: "trust-token-2")])
            server.always("POST", Self.tokensPath, try Self.renewal(server, token: "trust-token-unexpected"))
            // The renewal waits until every call is waiting for it.
            server.hold("POST", Self.tokensPath)
            let client = session.client(
                credentials: try Self.trustContext(server, expiresAt: "2000-01-01T00:00:00Z"), logger: quietLogger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask { _ = try await client.get(.compute, "/servers") }
                }
                try await server.waitForRequests("POST", Self.tokensPath, count: 1)
                server.releaseAll("POST", Self.tokensPath)
                try await group.waitForAll()
            }
            #expect(try Self.renewals(server).count == 1)
            #expect(Self.tokens(server) == Array(repeating: "trust-token-2", count: 8))
        }
    }

    @Test("a renewed token is renewed again when its own life runs out")
    func renewsRepeatedly() async throws {
        try await withServer(settings: Self.settings) { server, session in
            server.always("GET", Self.serversPath, .json(200, #"{"servers": []}"#))
            // Keystone's tokens here live 0 s (issued_at == expires_at): each
            // call needs a new one; the tokens' ids tell the calls apart.
            let instant = "2026-01-01T00:00:00Z"
            server.script(
                "POST", Self.tokensPath,
                [
                    try Self.renewal(server, token: "trust-token-2", issuedAt: instant, expiresAt: instant),
                    try Self.renewal(server, token: "trust-token-3", issuedAt: instant, expiresAt: instant),
                ])
            let client = session.client(
                credentials: try Self.trustContext(server, expiresAt: "2000-01-01T00:00:00Z"), logger: quietLogger)
            _ = try await client.get(.compute, "/servers")
            _ = try await client.get(.compute, "/servers")
            #expect(Self.tokens(server) == ["trust-token-2", "trust-token-3"])
            #expect(try Self.renewals(server).count == 2)
        }
    }

    // MARK: Catalog

    @Test("a trust-scoped request without a catalog whose token expired: the renewed token's catalog is used")
    func renewedCatalog() async throws {
        try await withServer(settings: Self.settings) { server, session in
            server.always("GET", "/renewed/compute/v2.1/servers", .json(200, #"{"servers": []}"#))
            server.script(
                "POST", Self.tokensPath,
                [
                    try Self.renewal(
                        server, token: "trust-token-2",
                        services: [("compute", "/renewed/compute/v2.1"), ("identity", "/identity/v3")])
                ])
            let credentials = try Self.trustContext(server, catalog: false, expiresAt: "2000-01-01T00:00:00Z")
            let client = session.client(credentials: credentials, logger: quietLogger)
            _ = try await client.get(.compute, "/servers")
            #expect(Self.tokens(server, "/renewed/compute/v2.1/servers") == ["trust-token-2"])
            // The expired token was never looked up: its renewal brought the catalog.
            #expect(server.requests("GET", Self.tokensPath).isEmpty)
            #expect(try Self.renewals(server).count == 1)
        }
    }

    @Test("without expires_at (as Mistral sends trust contexts), Keystone's expiry of the token decides")
    func learnsExpiryFromKeystone() async throws {
        try await withServer(settings: Self.settings) { server, session in
            server.script(
                "POST", Self.tokensPath,
                [KeystoneTests.issued(server, token: "svc-token-1"), try Self.renewal(server, token: "trust-token-2")])
            // Keystone looks the request's token up: it expires in 2999,
            // "soon" with the test's margin.
            server.script(
                "GET", Self.tokensPath,
                [
                    .json(
                        200, tokenBody(base: server.baseURL, projectID: Self.projectID, expiresAt: "2999-01-01T00:00:00Z"),
                        headers: [("X-Subject-Token", "trust-token-1")])
                ])
            server.always("GET", Self.serversPath, .json(200, #"{"servers": []}"#))
            var client = session.client(
                credentials: try Self.trustContext(server, catalog: false), logger: quietLogger)
            client.trustRenewalMargin = Self.wideMargin
            _ = try await client.get(.compute, "/servers")
            #expect(server.requests("GET", Self.tokensPath).first?.header("X-Subject-Token") == "trust-token-1")
            #expect(Self.tokens(server) == ["trust-token-2"])
            #expect(try Self.renewals(server).count == 1)
        }
    }

    @Test("a catalog-less trust token Keystone no longer accepts is renewed; the renewal brings the catalog")
    func validationRejectsThenRenews() async throws {
        try await withServer(settings: Self.settings) { server, session in
            server.script(
                "POST", Self.tokensPath,
                [KeystoneTests.issued(server, token: "svc-token-1"), try Self.renewal(server, token: "trust-token-2")])
            server.script(
                "GET", Self.tokensPath,
                [.json(404, #"{"error": {"code": 404, "title": "Not Found", "message": "Could not find token: trust-token-1."}}"#)])
            server.always("GET", Self.serversPath, .json(200, #"{"servers": []}"#))
            let client = session.client(
                credentials: try Self.trustContext(server, catalog: false), logger: quietLogger)
            _ = try await client.get(.compute, "/servers")
            #expect(Self.tokens(server) == ["trust-token-2"])
        }
    }

    // MARK: Renewal impossible or refused

    @Test("no [keystone_authtoken] user: a 401 names what to configure; no retry, no other credentials")
    func noTrusteeCredentialsAfter401() async throws {
        try await withServer { server, session in
            server.always("GET", Self.serversPath, .json(401))
            let client = session.client(
                credentials: try Self.trustContext(server, expiresAt: "2999-01-01T00:00:00Z"), logger: quietLogger)
            let error = await #expect(throws: OpenStackError.self) { try await client.get(.compute, "/servers") }
            guard case .unauthenticated(let message) = error?.kind else {
                Issue.record("expected unauthenticated, got \(String(describing: error))")
                return
            }
            #expect(message.hasPrefix("Nova rejected the request's trust-scoped Keystone token (401"))
            #expect(message.contains("it expires at 2999-01-01T00:00:00Z"))
            #expect(message.contains("the worker cannot get a new token for the trust"))
            #expect(message.contains("[keystone_authtoken] auth_url (or www_authenticate_uri), username, password and project_name"))
            #expect(error?.service == .compute && error?.method == "GET" && error?.path == "/servers")
            #expect(server.requests.count == 1)
        }
    }

    @Test("no [keystone_authtoken] user and an expired trust token: the error comes before any call")
    func noTrusteeCredentialsExpired() async throws {
        try await withServer { server, session in
            let client = session.client(
                credentials: try Self.trustContext(server, expiresAt: "2001-02-03T04:05:06Z"), logger: quietLogger)
            let error = await #expect(throws: OpenStackError.self) { try await client.get(.compute, "/servers") }
            #expect(
                error?.description
                    == "Nova GET /servers: the request's trust-scoped Keystone token expired at 2001-02-03T04:05:06Z, "
                    + "and the worker cannot get a new token for the trust: the worker authenticates as the trustee, "
                    + "the [keystone_authtoken] user Mistral made the trust for, and no such user is configured: set "
                    + "[keystone_authtoken] auth_url (or www_authenticate_uri), username, password and project_name "
                    + "as in Mistral's own configuration")
            #expect(server.requests.isEmpty)
        }
    }

    @Test("no [keystone_authtoken] user and a trust token near its expiry: it is used while it lasts")
    func noTrusteeCredentialsNearExpiry() async throws {
        try await withServer { server, session in
            server.always("GET", Self.serversPath, .json(200, #"{"servers": []}"#))
            var client = session.client(
                credentials: try Self.trustContext(server, expiresAt: "2999-01-01T00:00:00Z"), logger: quietLogger)
            client.trustRenewalMargin = Self.wideMargin
            _ = try await client.get(.compute, "/servers")
            _ = try await client.get(.compute, "/servers")
            #expect(Self.tokens(server) == ["trust-token-1", "trust-token-1"])
        }
    }

    @Test("a trust-scoped context without trust_id cannot be renewed: the error says so")
    func noTrustID() async throws {
        try await withServer(settings: Self.settings) { server, session in
            server.always("GET", Self.serversPath, .json(401))
            let client = session.client(
                credentials: try Self.trustContext(server, trustID: nil), logger: quietLogger)
            let error = await #expect(throws: OpenStackError.self) { try await client.get(.compute, "/servers") }
            #expect(error?.message.hasSuffix("the worker cannot get a new token for the trust: the request's context carries no trust_id") == true)
            #expect(server.requests("POST", Self.tokensPath).isEmpty)
        }
    }

    @Test("Keystone does not know the trust: a clear error without the trust id")
    func unknownTrust() async throws {
        try await withServer(settings: Self.settings) { server, session in
            server.always("GET", Self.serversPath, .json(401))
            server.always(
                "POST", Self.tokensPath,
                .json(404, #"{"error": {"code": 404, "title": "Not Found", "message": "Could not find trust: \#(Self.trustID)."}}"#))
            let client = session.client(credentials: try Self.trustContext(server), logger: quietLogger)
            let error = await #expect(throws: OpenStackError.self) { try await client.get(.compute, "/servers") }
            #expect(error?.message == "Keystone does not know the request's trust (deleted, or expired): Could not find trust: ***.")
            #expect(error.map { !"\($0)".contains(Self.trustID) } ?? false)
        }
    }

    @Test("Keystone's token for the trust names another project: refused")
    func renewalForAnotherProject() async throws {
        try await withServer(settings: Self.settings) { server, session in
            server.always("GET", Self.serversPath, .json(401))
            server.script("POST", Self.tokensPath, [try Self.renewal(server, token: "trust-token-2", projectID: "other")])
            let client = session.client(credentials: try Self.trustContext(server), logger: quietLogger)
            let error = await #expect(throws: OpenStackError.self) { try await client.get(.compute, "/servers") }
            #expect(error?.message.contains("scoped to project other, not to the request's project trustor-project") == true)
            #expect(Self.tokens(server) == ["trust-token-1"])
        }
    }

    @Test("Keystone's token is for another trust: refused")
    func renewalForAnotherTrust() async throws {
        try await withServer(settings: Self.settings) { server, session in
            server.always("GET", Self.serversPath, .json(401))
            server.script("POST", Self.tokensPath, [try Self.renewal(server, token: "trust-token-2", trustID: "other-trust")])
            let client = session.client(credentials: try Self.trustContext(server), logger: quietLogger)
            let error = await #expect(throws: OpenStackError.self) { try await client.get(.compute, "/servers") }
            #expect(error?.kind == .invalidResponse("Keystone's token for the request's trust is not scoped to that trust"))
        }
    }

    // MARK: User tokens

    @Test("a user's token past its expires_at: the expiry is named, before any call")
    func userTokenExpiredBeforeCall() async throws {
        try await withServer(settings: Self.settings) { server, session in
            var credentials = try userCredentials(server)
            credentials.expiresAt = "2001-02-03T04:05:06Z"
            let client = session.client(credentials: credentials, logger: quietLogger)
            let error = await #expect(throws: OpenStackError.self) { try await client.get(.compute, "/servers") }
            #expect(
                error?.kind
                    == .unauthenticated(
                        "the request's Keystone token expired at 2001-02-03T04:05:06Z (Mistral's user token; the "
                            + "action ran past it) — the worker cannot renew a user's token: keep the action within "
                            + "the token's lifetime (Keystone's [token] expiration), or run it from a cron trigger, "
                            + "whose trust-scoped token the worker renews"))
            #expect(server.requests.isEmpty)
        }
    }

    @Test("a 401 for a user's token never falls back to the service user")
    func userToken401NoFallback() async throws {
        try await withServer(settings: Self.settings) { server, session in
            server.always("GET", Self.serversPath, .json(401))
            var credentials = try userCredentials(server)
            credentials.expiresAt = "2999-01-01T00:00:00Z"
            let client = session.client(credentials: credentials, logger: quietLogger)
            let error = await #expect(throws: OpenStackError.self) { try await client.get(.compute, "/servers") }
            #expect(error?.status == 401)
            #expect(error?.message.contains("was to expire at 2999-01-01T00:00:00Z") == true)
            #expect(server.requests.count == 1)
            #expect(server.requests("POST", Self.tokensPath).isEmpty)
        }
    }

    @Test("a 401 after the user's token expired names the expiry")
    func userToken401AfterExpiry() throws {
        let session = OpenStackSession(settings: OpenStackSettings(), logger: quietLogger)
        let expiresAt = "2026-12-06T10:00:00Z"
        let expiry = try #require(Timestamps.parseISO8601(expiresAt))
        let client = session.client(
            credentials: OpenStackCredentials(authToken: "user-token", projectID: "p", expiresAt: expiresAt),
            logger: quietLogger)
        let call = HTTPCall(
            service: .blockStorage, method: "GET", url: "http://127.0.0.1:9/volume/v3/p/backups/b", path: "/backups/b",
            headers: [], body: nil, isIdempotent: true, tls: .standard, redaction: Redaction(secrets: ["user-token"]))
        let result = HTTPResult(
            status: 401, headers: [],
            body: Array(#"{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}"#.utf8))

        let expired = client.userTokenRejected(result, call: call, now: expiry + 1)
        #expect(
            expired.description
                == "Cinder GET /backups/b: the request's Keystone token expired at 2026-12-06T10:00:00Z (Mistral's user "
                + "token; the action ran past it) — the worker cannot renew a user's token: keep the action within the "
                + "token's lifetime (Keystone's [token] expiration), or run it from a cron trigger, whose trust-scoped "
                + "token the worker renews")

        let revoked = client.userTokenRejected(result, call: call, now: expiry - 600)
        #expect(revoked.status == 401)
        #expect(revoked.message.hasSuffix("was to expire at 2026-12-06T10:00:00Z: Keystone revoked it, or Keystone's and the worker's clocks disagree)"))
    }

    // MARK: Hostile expires_at

    static let hostileExpiries: [JSON] = [
        "", "garbage", "99999-01-01T00:00:00Z", 1e300, .integer(Int64.max), -1e300, true, ["2000-01-01T00:00:00Z"],
        "2026-13-45T99:99:99Z", "9999-99-99T99:99:99.99999999999999999999Z", .string(String(repeating: "9", count: 100_000)),
        "2026-01-01T00:00:00+99:99", "\u{0}2000-01-01T00:00:00Z",
    ]

    @Test("an absurd _context_expires_at never traps: the token is used until a service says otherwise", arguments: hostileExpiries)
    func hostileExpiresAt(expiresAt: JSON) async throws {
        try await withServer(settings: Self.settings) { server, session in
            server.always("GET", Self.serversPath, .json(200, #"{"servers": []}"#))
            let trust = try Self.trustContext(server, expiresAt: expiresAt)
            _ = try await session.client(credentials: trust, logger: quietLogger).get(.compute, "/servers")

            let catalog = try #require(try parseJSON(tokenBody(base: server.baseURL))["token"])
            let user = OpenStackCredentials(
                securityContext: RequestContext(fields: [
                    "auth_token": "user-token-1", "project_id": "p-1", "is_trust_scoped": false,
                    "expires_at": expiresAt, "service_catalog": catalog,
                ]))
            _ = try await session.client(credentials: user, logger: quietLogger).get(.compute, "/servers")

            #expect(Self.tokens(server) == ["trust-token-1", "user-token-1"])
            #expect(server.requests("POST", Self.tokensPath).isEmpty)
        }
    }

    @Test("an offset past 23:59 makes a timestamp unreadable, not a date days away")
    func absurdOffset() {
        #expect(Timestamps.parseISO8601("2026-01-01T00:00:00+99:99") == nil)
        #expect(Timestamps.parseISO8601("2026-01-01T00:00:00+05:60") == nil)
        #expect(Timestamps.parseISO8601("2026-01-01T05:30:00+05:30") == Timestamps.parseISO8601("2026-01-01T00:00:00Z"))
    }

    @Test("absurd expiries Keystone gives a renewed token never trap", arguments: [
        "garbage", "", "99999-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z",
    ])
    func hostileRenewedExpiry(expiresAt: String) async throws {
        try await withServer(settings: Self.settings) { server, session in
            server.always("GET", Self.serversPath, .json(200, #"{"servers": []}"#))
            server.always("POST", Self.tokensPath, try Self.renewal(server, token: "trust-token-2", expiresAt: expiresAt))
            let client = session.client(
                credentials: try Self.trustContext(server, expiresAt: "2000-01-01T00:00:00Z"), logger: quietLogger)
            _ = try await client.get(.compute, "/servers")
            #expect(Self.tokens(server) == ["trust-token-2"])
        }
    }
}
