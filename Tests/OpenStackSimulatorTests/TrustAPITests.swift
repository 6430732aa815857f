import Foundation
import OpenStackSimulator
import OrderedJSON
import Testing

/// Keystone's OS-TRUST API as Mistral uses it for cron triggers: the user creates a trust
/// to Mistral's service user (impersonation, the user's roles by name), the service user
/// gets trust-scoped tokens with its password, and the trust is deleted after the trigger.
@Suite("Keystone OS-TRUST API")
struct TrustAPITests {
    static let admin = SimulatorDefaults.adminUserID
    static let mistral = SimulatorDefaults.mistralUserID
    static let member = SimulatorDefaults.memberUserID

    /// The body keystoneclient's `trusts.create` sends for Mistral (mistral/services/security.py).
    static func mistralTrust(
        trustor: String = admin, trustee: String = mistral, roles: [String] = ["reader", "member", "admin"],
        extra: JSONObject = [:]
    ) -> JSON {
        var trust: JSONObject = [
            "trustor_user_id": .string(trustor), "trustee_user_id": .string(trustee), "impersonation": true,
            "project_id": .string(SimulatorDefaults.demoProjectID), "roles": .array(roles.map { ["name": .string($0)] }),
        ]
        for (key, value) in extra { trust[key] = value }
        return ["trust": .object(trust)]
    }

    func trusts(_ harness: SimulatorHarness) -> String { harness.keystone + "/OS-TRUST/trusts" }

    func token(_ harness: SimulatorHarness, user: String, project: String = SimulatorDefaults.demoProjectName) throws -> String {
        try harness.simulator.issueToken(user: user, project: project).id
    }

    /// The trustee's password with the trust scope: the renewal request of a worker.
    func trustToken(_ harness: SimulatorHarness, _ trustID: String, user: String = "mistral", password: String = "mistral-secret")
        async throws -> TestResponse
    {
        try await harness.send(
            .POST, harness.keystone + "/auth/tokens",
            body: TrustTokenTests.trusteeAuth(trustID: trustID, user: user, password: password), token: .none)
    }

    @Test("a trust made as Mistral makes it: 201 with Keystone's body; the trustee's tokens impersonate the trustor on the trust's project")
    func createAsMistral() async throws {
        try await SimulatorHarness.run { harness in
            let created = try await harness.send(.POST, trusts(harness), body: Self.mistralTrust())
            #expect(created.status == 201, "\(created.text)")
            let trust = created.json[path: "trust"]
            let id = try #require(trust[path: "id"].stringValue)
            #expect(id != SimulatorDefaults.impersonatingTrustID && id != SimulatorDefaults.demoTrustID)
            #expect(trust[path: "trustor_user_id"] == .string(Self.admin))
            #expect(trust[path: "trustee_user_id"] == .string(Self.mistral))
            #expect(trust[path: "project_id"] == .string(SimulatorDefaults.demoProjectID))
            #expect(trust[path: "impersonation"] == true)
            #expect(trust[path: "expires_at"] == .null)
            #expect(trust[path: "remaining_uses"] == .null)
            #expect(trust[path: "links", "self"] == .string(trusts(harness) + "/" + id))
            #expect(trust[path: "roles_links", "self"] == .string(trusts(harness) + "/" + id + "/roles"))
            let roles = trust[path: "roles"].arrayValue ?? []
            #expect(roles.compactMap { $0["name"]?.stringValue } == ["reader", "member", "admin"])
            // Role ids are the ones tokens carry.
            let tokenRoles = try harness.simulator.issueToken().token[path: "roles"].arrayValue ?? []
            #expect(Set(roles.compactMap { $0["id"] }) == Set(tokenRoles.compactMap { $0["id"] }))
            #expect(roles.allSatisfy { $0["links"]?["self"] != nil })

            let issued = try await trustToken(harness, id)
            #expect(issued.status == 201, "\(issued.text)")
            let body = issued.json[path: "token"]
            #expect(body[path: "user", "id"] == .string(Self.admin))
            #expect(body[path: "project", "id"] == .string(SimulatorDefaults.demoProjectID))
            #expect(body[path: "OS-TRUST:trust", "id"] == .string(id))
            #expect(body[path: "OS-TRUST:trust", "trustee_user", "id"] == .string(Self.mistral))
            #expect(body[path: "roles"].arrayValue?.compactMap { $0["name"]?.stringValue } == ["reader", "member", "admin"])
            let trustToken = try #require(issued.header("X-Subject-Token"))
            #expect(try await harness.send(.GET, harness.cinder + "/volumes", token: .token(trustToken)).status == 200)

            // Shown to the trustor and to the trustee, and in the state view.
            #expect(try await harness.get(trusts(harness) + "/" + id).json[path: "trust", "id"] == .string(id))
            let asTrustee = try await harness.send(
                .GET, trusts(harness) + "/" + id,
                token: .token(try token(harness, user: "mistral", project: SimulatorDefaults.serviceProjectName)))
            #expect(asTrustee.status == 200)
            let inState = harness.simulator.state()[path: "trusts"].arrayValue?.first { $0["id"]?.stringValue == id }
            #expect(inState?[path: "impersonation"] == true)
        }
    }

    @Test("create refusals as Keystone answers them: 401 without token, 403 for someone else's trust, 404 for unknown users and roles, 400 for bad input")
    func createRefusals() async throws {
        try await SimulatorHarness.run { harness in
            let url = trusts(harness)
            let memberToken = try token(harness, user: "demo")
            let adminRoleID = try #require(
                harness.simulator.issueToken().token[path: "roles"].arrayValue?
                    .first { $0["name"] == "admin" }?["id"]?.stringValue)
            func post(_ body: JSON, as token: SimulatorHarness.Credential = .harness) async throws -> TestResponse {
                try await harness.send(.POST, url, body: body, token: token)
            }
            func message(_ response: TestResponse) -> String { response.json[path: "error", "message"].stringValue ?? "" }

            #expect(try await post(Self.mistralTrust(), as: .none).status == 401)
            #expect(try await post(Self.mistralTrust(), as: .token("not-a-token")).status == 401)

            // The token's user must be the trustor.
            let notTrustor = try await post(Self.mistralTrust(trustor: Self.member))
            #expect(notTrustor.status == 403)
            #expect(message(notTrustor) == "You are not authorized to perform the requested action: identity:create_trust.")
            // Project-scoped tokens only.
            let unscoped = try harness.simulator.issueToken(user: "admin", project: nil).id
            #expect(try await post(Self.mistralTrust(), as: .token(unscoped)).status == 403)
            // A trust-scoped token cannot delegate again.
            let trustScoped = try harness.simulator.issueTrustToken().id
            let redelegated = try await post(Self.mistralTrust(), as: .token(trustScoped))
            #expect(redelegated.status == 403)

            let unknownTrustee = try await post(Self.mistralTrust(trustee: "no-such-user"))
            #expect(unknownTrustee.status == 404)
            #expect(message(unknownTrustee) == "Could not find user: no-such-user.")
            // A role the trustor does not have on the project: Keystone's 404 RoleNotFound.
            let notHeld = try await post(Self.mistralTrust(trustor: Self.member, roles: ["member", "admin"]), as: .token(memberToken))
            #expect(notHeld.status == 404)
            #expect(message(notHeld) == "Could not find role: \(adminRoleID).")
            let unknownRole = try await post(Self.mistralTrust(roles: ["superuser"]))
            #expect(unknownRole.status == 404)
            #expect(message(unknownRole) == "Could not find role: superuser.")
            let noRoles = try await post(Self.mistralTrust(roles: []))
            #expect(noRoles.status == 403)
            #expect(message(noRoles) == "You are not authorized to perform the requested action: At least one role should be specified.")
            let unknownProject = try await post(Self.mistralTrust(extra: ["project_id": "no-such-project"]))
            #expect(unknownProject.status == 404)

            let missing = try await post(["trust": ["trustor_user_id": .string(Self.admin), "trustee_user_id": .string(Self.mistral)]])
            #expect(missing.status == 400)
            #expect(message(missing) == "Invalid input for field 'trust': 'impersonation' is a required property")
            #expect(try await post(["trusts": [:]]).status == 400)
            #expect(try await post(Self.mistralTrust(extra: ["impersonation": "yes"])).status == 400)
            let zeroUses = try await post(Self.mistralTrust(extra: ["remaining_uses": 0]))
            #expect(zeroUses.status == 400)
            #expect(message(zeroUses) == "Invalid input for field 'trust/remaining_uses': 0 is less than the minimum of 1")
            #expect(try await post(Self.mistralTrust(extra: ["remaining_uses": 1e300])).status == 400)
            #expect(try await post(Self.mistralTrust(extra: ["roles": [["id": "x", "name": "y"]]])).status == 400)
            let past = try await post(Self.mistralTrust(extra: ["expires_at": "2001-01-01T00:00:00.000000Z"]))
            #expect(past.status == 400)
            #expect(message(past).hasPrefix("The 'expires_at' must not be before now."))
            let garbled = try await post(Self.mistralTrust(extra: ["expires_at": "tomorrow"]))
            #expect(garbled.status == 400)
            #expect(message(garbled).hasPrefix("Timestamp not in expected format."))
            // Nothing was stored by the refused requests.
            #expect(harness.simulator.state()[path: "trusts"].arrayValue?.count == 2)
        }
    }

    @Test("show, list and delete follow Keystone's policy: admin, trustor or trustee; listing filtered by one's own id; delete by trustor or admin")
    func showListDelete() async throws {
        try await SimulatorHarness.run { harness in
            let url = trusts(harness)
            let memberToken = try token(harness, user: "demo")
            // admin trusts the non-admin `demo` user.
            let created = try await harness.send(.POST, url, body: Self.mistralTrust(trustee: Self.member, roles: ["member"]))
            let id = try #require(created.json[path: "trust", "id"].stringValue)

            let all = try await harness.get(url)
            #expect(all.status == 200)
            let listed = all.json[path: "trusts"].arrayValue ?? []
            #expect(Set(listed.compactMap { $0["id"]?.stringValue })
                == [id, SimulatorDefaults.demoTrustID, SimulatorDefaults.impersonatingTrustID])
            #expect(listed.allSatisfy { $0["roles"] == nil })
            #expect(all.json[path: "links", "self"] == .string(url))

            let unfiltered = try await harness.send(.GET, url, token: .token(memberToken))
            #expect(unfiltered.status == 403)
            #expect(unfiltered.json[path: "error", "message"] == "You are not authorized to perform the requested action: identity:list_trusts.")
            let own = try await harness.send(.GET, url + "?trustee_user_id=\(Self.member)", token: .token(memberToken))
            #expect(own.status == 200)
            #expect(own.json[path: "trusts"].arrayValue?.compactMap { $0["id"]?.stringValue } == [id])
            let asTrustor = try await harness.send(.GET, url + "?trustor_user_id=\(Self.member)", token: .token(memberToken))
            #expect(asTrustor.json[path: "trusts"].arrayValue?.isEmpty == true)
            let others = try await harness.send(.GET, url + "?trustee_user_id=\(Self.mistral)", token: .token(memberToken))
            #expect(others.status == 403)
            let othersAsTrustor = try await harness.send(.GET, url + "?trustor_user_id=\(Self.admin)", token: .token(memberToken))
            #expect(othersAsTrustor.status == 403)
            let byAdmin = try await harness.get(url + "?trustee_user_id=\(Self.mistral)")
            #expect(Set(byAdmin.json[path: "trusts"].arrayValue?.compactMap { $0["id"]?.stringValue } ?? [])
                == [SimulatorDefaults.demoTrustID, SimulatorDefaults.impersonatingTrustID])

            // The trustee sees the trust; a user with no relation does not.
            #expect(try await harness.send(.GET, url + "/" + id, token: .token(memberToken)).status == 200)
            let unrelated = try await harness.send(.GET, url + "/" + SimulatorDefaults.demoTrustID, token: .token(memberToken))
            #expect(unrelated.status == 403)
            #expect(unrelated.json[path: "error", "message"] == "You are not authorized to perform the requested action: identity:get_trust.")
            // Unknown: 404 before any policy check.
            let unknown = try await harness.send(.GET, url + "/no-such-trust", token: .token(memberToken))
            #expect(unknown.status == 404)
            #expect(unknown.json[path: "error", "message"] == "Could not find trust: no-such-trust.")

            // The trustee's token for the trust works until the trust is deleted.
            let issued = try await trustToken(harness, id, user: "demo", password: "demo-secret")
            #expect(issued.status == 201)
            let delegated = try #require(issued.header("X-Subject-Token"))
            #expect(try await harness.send(.GET, harness.cinder + "/volumes", token: .token(delegated)).status == 200)

            // The trustee (not admin) may not delete; the trustor may.
            let byTrustee = try await harness.send(.DELETE, url + "/" + id, token: .token(memberToken))
            #expect(byTrustee.status == 403)
            #expect(byTrustee.json[path: "error", "message"] == "You are not authorized to perform the requested action: identity:delete_trust.")
            let deleted = try await harness.send(.DELETE, url + "/" + id)
            #expect(deleted.status == 204)
            #expect(deleted.text.isEmpty)
            #expect(try await harness.get(url + "/" + id).status == 404)
            #expect(try await harness.send(.DELETE, url + "/" + id).status == 404)
            // Its tokens stop working, and no new one is issued for it.
            #expect(try await harness.send(.GET, harness.cinder + "/volumes", token: .token(delegated)).status == 401)
            #expect(try await trustToken(harness, id, user: "demo", password: "demo-secret").status == 401)
            #expect(harness.simulator.state()[path: "trusts"].arrayValue?.contains { $0["id"]?.stringValue == id } == false)
        }
    }

    @Test("remaining_uses counts issued tokens and expires_at ends the trust: then 401 for new tokens, 404 on show, and its tokens stop working")
    func usesAndExpiry() async throws {
        try await SimulatorHarness.run { harness in
            let url = trusts(harness)
            let limited = try await harness.send(.POST, url, body: Self.mistralTrust(extra: ["remaining_uses": 2]))
            #expect(limited.json[path: "trust", "remaining_uses"] == 2)
            let limitedID = try #require(limited.json[path: "trust", "id"].stringValue)
            let first = try await trustToken(harness, limitedID)
            #expect(first.status == 201)
            #expect(first.json[path: "token", "OS-TRUST:trust", "remaining_uses"] == 1)
            #expect(try await trustToken(harness, limitedID).status == 201)
            let third = try await trustToken(harness, limitedID)
            #expect(third.status == 401)
            #expect(third.json[path: "error", "message"] == "The request you have made requires authentication.")
            #expect(try await harness.get(url + "/" + limitedID).status == 404)

            // A trust that ends in two minutes (the simulator's clock is the wall clock until moved).
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime]
            let expiry = String(formatter.string(from: Date().addingTimeInterval(120)).dropLast())  // no "Z", as Keystone allows
            let expiring = try await harness.send(.POST, url, body: Self.mistralTrust(extra: ["expires_at": .string(expiry)]))
            #expect(expiring.status == 201, "\(expiring.text)")
            let shown = try #require(expiring.json[path: "trust", "expires_at"].stringValue)
            #expect(shown == expiry + ".000000Z")
            let expiringID = try #require(expiring.json[path: "trust", "id"].stringValue)
            let issued = try await trustToken(harness, expiringID)
            #expect(issued.json[path: "token", "OS-TRUST:trust", "expires_at"] == .string(shown))
            let token = try #require(issued.header("X-Subject-Token"))
            #expect(try await harness.send(.GET, harness.nova + "/servers", token: .token(token)).status == 200)

            // Past the trust's expiry, well within the token's own hour: only the trust ends it.
            harness.simulator.advanceClock(by: 180)
            #expect(try await harness.send(.GET, harness.nova + "/servers", token: .token(token)).status == 401)
            #expect(try await trustToken(harness, expiringID).status == 401)
            #expect(try await harness.get(url + "/" + expiringID).status == 404)
            // The admin token of the harness, issued at the same time, still works.
            #expect(try await harness.get(harness.nova + "/servers").status == 200)
        }
    }

    @Test("the token control expires only the listed tokens; a malformed list is refused")
    func expireListedTokens() async throws {
        try await SimulatorHarness.run { harness in
            let control = harness.simulator.baseURL + "/_simulator/tokens/expire"
            let doomed = try token(harness, user: "demo")
            let kept = try token(harness, user: "demo")
            let answer = try await harness.send(.POST, control, body: ["tokens": [.string(doomed), "unknown"]], token: .none)
            #expect(answer.status == 200)
            #expect(answer.json[path: "expired"] == 1)
            #expect(try await harness.send(.GET, harness.cinder + "/volumes", token: .token(doomed)).status == 401)
            #expect(try await harness.send(.GET, harness.cinder + "/volumes", token: .token(kept)).status == 200)
            #expect(try await harness.send(.GET, harness.cinder + "/volumes").status == 200)
            #expect(try await harness.send(.POST, control, body: ["tokens": [5]], token: .none).status == 400)
            #expect(harness.simulator.expireTokens([kept]) == 1)
            #expect(try await harness.send(.GET, harness.cinder + "/volumes", token: .token(kept)).status == 401)
        }
    }
}

extension TrustAPITests {
    @Test("the request log names whose token each request carried: user, project and the trust of a trust-scoped one")
    func requestLogCredentials() async throws {
        try await SimulatorHarness.run { harness in
            let trustToken = try harness.simulator.issueTrustToken().id
            harness.simulator.clearRequestLog()
            _ = try await harness.get(harness.cinder + "/volumes")
            _ = try await harness.send(.GET, harness.cinder + "/volumes", token: .token(trustToken))
            _ = try await harness.send(.GET, harness.cinder + "/volumes", token: .none)
            let log = harness.simulator.requestLog()
            #expect(log.count == 3)
            let user = try #require(log.first?.credentials)
            #expect(user[path: "user_name"] == "admin")
            #expect(user[path: "project_id"] == .string(SimulatorDefaults.demoProjectID))
            #expect(user[path: "trust_id"] == .null)
            #expect(user[path: "valid"] == true)
            let trust = try #require(log.dropFirst().first?.credentials)
            #expect(trust[path: "trust_id"] == .string(SimulatorDefaults.impersonatingTrustID))
            #expect(trust[path: "user_id"] == .string(SimulatorDefaults.adminUserID))
            #expect(log.last?.credentials == nil)
            #expect(log.last?.json[path: "credentials"] == .null)
        }
    }
}
