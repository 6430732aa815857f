import OpenStackSimulator
import OrderedJSON
import Testing

/// Trust-scoped tokens as a worker renews them: the trustee (`mistral`)
/// authenticates with its password and a trust scope; the tokens expire
/// when the simulated clock passes `token_ttl`.
@Suite("Keystone trusts and token lifetime")
struct TrustTokenTests {
    static func trusteeAuth(trustID: String, user: String = "mistral", password: String = "mistral-secret") -> JSON {
        [
            "auth": [
                "identity": [
                    "methods": ["password"],
                    "password": ["user": ["name": .string(user), "domain": ["name": "Default"], "password": .string(password)]],
                ],
                "scope": ["OS-TRUST:trust": ["id": .string(trustID)]],
            ]
        ]
    }

    static func issuedTokens(_ harness: SimulatorHarness) -> Int64? {
        harness.simulator.state()[path: "tokens", "issued"].intValue.map(Int64.init)
    }

    @Test("a trust token outlived: 401 from the services; the trustee's password with the trust scope gets a new one on the same trust, project and impersonated user")
    func renewalAfterExpiry() async throws {
        try await SimulatorHarness.run { harness in
            let control = harness.simulator.baseURL + "/_simulator"
            let settings = try await harness.send(.PUT, control + "/settings", body: ["token_ttl": 60], token: .none)
            #expect(settings.json[path: "token_ttl"].doubleValue == 60)

            let minted = try await harness.send(
                .POST, control + "/tokens", body: ["trust": .string(SimulatorDefaults.impersonatingTrustID)], token: .none)
            #expect(minted.status == 201)
            let first = try #require(minted.json[path: "id"].stringValue)
            #expect(minted.json[path: "body", "token", "user", "id"] == .string(SimulatorDefaults.adminUserID))
            #expect(minted.json[path: "body", "token", "OS-TRUST:trust", "impersonation"] == true)
            harness.simulator.clearRequestLog()

            let servers = harness.nova + "/servers"
            #expect(try await harness.send(.GET, servers, token: .token(first)).status == 200)
            harness.simulator.advanceClock(by: 61)
            let rejected = try await harness.send(.GET, servers, token: .token(first))
            #expect(rejected.status == 401)
            #expect(rejected.header("WWW-Authenticate") == "Keystone uri=\"\(harness.simulator.authURL)\"")

            let issuedBefore = Self.issuedTokens(harness)
            let renewal = try await harness.send(
                .POST, harness.keystone + "/auth/tokens",
                body: Self.trusteeAuth(trustID: SimulatorDefaults.impersonatingTrustID), token: .none)
            #expect(renewal.status == 201)
            #expect(Self.issuedTokens(harness) == issuedBefore.map { $0 + 1 })
            let second = try #require(renewal.header("X-Subject-Token"))
            #expect(second != first)
            let token = renewal.json[path: "token"]
            #expect(token[path: "OS-TRUST:trust", "id"] == .string(SimulatorDefaults.impersonatingTrustID))
            #expect(token[path: "OS-TRUST:trust", "impersonation"] == true)
            #expect(token[path: "OS-TRUST:trust", "trustee_user", "id"] == .string(SimulatorDefaults.mistralUserID))
            #expect(token[path: "OS-TRUST:trust", "trustor_user", "id"] == .string(SimulatorDefaults.adminUserID))
            #expect(token[path: "project", "id"] == .string(SimulatorDefaults.demoProjectID))
            // Impersonation: the token's user is the trustor, not the trustee who authenticated.
            #expect(token[path: "user", "id"] == .string(SimulatorDefaults.adminUserID))
            #expect(token[path: "user", "name"] == "admin")
            #expect(token[path: "roles"].arrayValue?.compactMap { $0["name"]?.stringValue } == ["reader", "member", "admin"])
            #expect(token[path: "catalog"].arrayValue?.isEmpty == false)
            #expect(token[path: "methods"] == ["password"])
            // The new token lives token_ttl from now.
            let issuedAt = try #require(token[path: "issued_at"].stringValue)
            let expiresAt = try #require(token[path: "expires_at"].stringValue)
            #expect(issuedAt != expiresAt)

            #expect(try await harness.send(.GET, servers, token: .token(second)).status == 200)

            // Keystone's own view of the new token: the same trust, project and user.
            let validated = try await harness.send(
                .GET, harness.keystone + "/auth/tokens", token: .token(second), headers: [("X-Subject-Token", second)])
            #expect(validated.status == 200)
            #expect(validated.json[path: "token", "user", "id"] == .string(SimulatorDefaults.adminUserID))
            #expect(validated.json[path: "token", "OS-TRUST:trust", "id"] == .string(SimulatorDefaults.impersonatingTrustID))
            #expect(validated.json[path: "token", "project", "id"] == .string(SimulatorDefaults.demoProjectID))

            // The request log tells which token each service call carried.
            let calls = harness.simulator.requestLog().filter { $0.service == .compute }
            #expect(calls.map { $0.headers["X-Auth-Token"] } == [first, first, second])
            #expect(calls.map(\.status) == [200, 401, 200])
            let renewals = harness.simulator.requestLog().filter {
                $0.method == "POST" && $0.body?[path: "auth", "scope", "OS-TRUST:trust", "id"] != nil
            }
            #expect(renewals.count == 1)
        }
    }

    @Test("without impersonation the trust token's user is the trustee")
    func withoutImpersonation() async throws {
        try await SimulatorHarness.run { harness in
            let response = try await harness.send(
                .POST, harness.keystone + "/auth/tokens", body: Self.trusteeAuth(trustID: SimulatorDefaults.demoTrustID),
                token: .none)
            #expect(response.status == 201)
            #expect(response.json[path: "token", "user", "id"] == .string(SimulatorDefaults.mistralUserID))
            #expect(response.json[path: "token", "OS-TRUST:trust", "impersonation"] == false)
            #expect(response.json[path: "token", "roles"].arrayValue?.compactMap { $0["name"]?.stringValue } == ["member"])

            let swift = try harness.simulator.issueTrustToken(SimulatorDefaults.demoTrustID)
            #expect(swift.token[path: "user", "id"] == .string(SimulatorDefaults.mistralUserID))
            let impersonating = try harness.simulator.issueTrustToken()
            #expect(impersonating.token[path: "user", "id"] == .string(SimulatorDefaults.adminUserID))
            #expect(impersonating.token[path: "OS-TRUST:trust", "id"] == .string(SimulatorDefaults.impersonatingTrustID))
            #expect(try harness.simulator.issueTrustToken(includeCatalog: false).token[path: "catalog"] == .null)
        }
    }

    @Test("a trust for someone else: 403; an unknown trust: 401; a wrong password: 401")
    func refusals() async throws {
        try await SimulatorHarness.run { harness in
            let url = harness.keystone + "/auth/tokens"
            let notTrustee = try await harness.send(
                .POST, url, body: Self.trusteeAuth(trustID: SimulatorDefaults.impersonatingTrustID, user: "admin", password: "secret"),
                token: .none)
            #expect(notTrustee.status == 403)
            #expect(notTrustee.json[path: "error", "message"] == "The requested user is not the trustee of this trust.")
            let unknown = try await harness.send(.POST, url, body: Self.trusteeAuth(trustID: "no-such-trust"), token: .none)
            // Keystone turns TrustNotFound into 401 when authenticating (keystone/api/_shared/authentication.py).
            #expect(unknown.status == 401)
            #expect(unknown.json[path: "error", "message"] == "The request you have made requires authentication.")
            let wrongPassword = try await harness.send(
                .POST, url, body: Self.trusteeAuth(trustID: SimulatorDefaults.impersonatingTrustID, password: "nope"),
                token: .none)
            #expect(wrongPassword.status == 401)
        }
    }

    @Test("the token control refuses unknown or malformed trusts; token_ttl refuses absurd lifetimes without trapping")
    func controlInputs() async throws {
        try await SimulatorHarness.run { harness in
            let control = harness.simulator.baseURL + "/_simulator"
            let unknown = try await harness.send(.POST, control + "/tokens", body: ["trust": "no-such-trust"], token: .none)
            #expect(unknown.status == 400)
            #expect(unknown.json[path: "error"] == "unknown trust 'no-such-trust'")
            let malformed = try await harness.send(.POST, control + "/tokens", body: ["trust": 5], token: .none)
            #expect(malformed.status == 400)

            for absurd: JSON in [1e300, -1, "soon", .integer(Int64.max), 315_360_001] {
                let response = try await harness.send(.PUT, control + "/settings", body: ["token_ttl": absurd], token: .none)
                #expect(response.status == 400, "\(absurd)")
            }
            #expect(harness.simulator.settings.tokenTTL == 3600)
            let longest = try await harness.send(.PUT, control + "/settings", body: ["token_ttl": 315_360_000], token: .none)
            #expect(longest.status == 200)
            // Ten years from now: still a Keystone timestamp.
            #expect(try harness.simulator.issueTrustToken().expiresAt.count == 27)
        }
    }
}
