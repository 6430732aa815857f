import OpenStackSimulator
import OrderedJSON
import Testing

@Suite("Keystone")
struct IdentityTests {
    private func passwordAuth(user: JSON, password: String, scope: JSON?) -> JSON {
        var userObject = user.objectValue ?? [:]
        userObject["password"] = .string(password)
        var auth: JSONObject = [
            "identity": ["methods": ["password"], "password": ["user": .object(userObject)]]
        ]
        if let scope { auth["scope"] = scope }
        return ["auth": .object(auth)]
    }

    @Test("password auth by user id and project id: 201, X-Subject-Token, token body and catalog")
    func passwordByIDs() async throws {
        try await SimulatorHarness.run { harness in
            let body = passwordAuth(
                user: ["id": .string(SimulatorDefaults.adminUserID)], password: "secret",
                scope: ["project": ["id": .string(SimulatorDefaults.demoProjectID)]])
            let response = try await harness.send(.POST, harness.keystone + "/auth/tokens", body: body, token: .none)
            #expect(response.status == 201)
            let tokenID = try #require(response.header("X-Subject-Token"))
            #expect(tokenID.hasPrefix("gAAAAAB"))
            let token = response.json[path: "token"]
            #expect(token[path: "methods"] == ["password"])
            #expect(token[path: "user", "name"] == "admin")
            #expect(token[path: "user", "domain", "id"] == "default")
            #expect(token[path: "project", "id"] == .string(SimulatorDefaults.demoProjectID))
            #expect(token[path: "project", "name"] == "demo")
            #expect(token[path: "is_domain"] == false)
            #expect(token[path: "roles"].arrayValue?.compactMap { $0["name"]?.stringValue } == ["reader", "member", "admin"])
            #expect(token[path: "audit_ids"].arrayValue?.count == 1)
            // Keystone's format: microseconds and Z.
            let issuedAt = try #require(token[path: "issued_at"].stringValue)
            #expect(issuedAt.count == 27 && issuedAt.hasSuffix("Z") && issuedAt.contains("."))
            #expect(token[path: "catalog"].arrayValue?.isEmpty == false)

            // The token works on a service.
            let volume = try await harness.send(
                .GET, harness.cinder + "/volumes/" + SimulatorDefaults.demoVolumeID, token: .token(tokenID))
            #expect(volume.status == 200)
        }
    }

    @Test("password auth by name and domain name, project by name and domain id")
    func passwordByNames() async throws {
        try await SimulatorHarness.run { harness in
            let body = passwordAuth(
                user: ["name": "mistral", "domain": ["name": "Default"]], password: "mistral-secret",
                scope: ["project": ["name": "service", "domain": ["id": "default"]]])
            let response = try await harness.send(.POST, harness.keystone + "/auth/tokens", body: body, token: .none)
            #expect(response.status == 201)
            #expect(response.json[path: "token", "user", "id"] == .string(SimulatorDefaults.mistralUserID))
            #expect(response.json[path: "token", "project", "id"] == .string(SimulatorDefaults.serviceProjectID))
            #expect(response.json[path: "token", "roles"].arrayValue?.contains { $0["name"] == "service" } == true)
        }
    }

    @Test("bad password and unknown project get 401 in Keystone's envelope")
    func badCredentials() async throws {
        try await SimulatorHarness.run { harness in
            let wrong = passwordAuth(
                user: ["name": "admin", "domain": ["id": "default"]], password: "nope",
                scope: ["project": ["name": "demo", "domain": ["id": "default"]]])
            let response = try await harness.send(.POST, harness.keystone + "/auth/tokens", body: wrong, token: .none)
            #expect(response.status == 401)
            #expect(
                response.json
                    == [
                        "error": [
                            "code": 401, "title": "Unauthorized",
                            "message": "The request you have made requires authentication.",
                        ]
                    ])
            #expect(response.header("X-Subject-Token") == nil)

            let noRole = passwordAuth(
                user: ["name": "mistral", "domain": ["id": "default"]], password: "mistral-secret",
                scope: ["project": ["id": .string(SimulatorDefaults.demoProjectID)]])
            let denied = try await harness.send(.POST, harness.keystone + "/auth/tokens", body: noRole, token: .none)
            #expect(denied.status == 401)
        }
    }

    @Test("nocatalog leaves the catalog out; an unscoped token has none")
    func noCatalog() async throws {
        try await SimulatorHarness.run { harness in
            let scoped = passwordAuth(
                user: ["id": .string(SimulatorDefaults.adminUserID)], password: "secret",
                scope: ["project": ["id": .string(SimulatorDefaults.demoProjectID)]])
            let response = try await harness.send(
                .POST, harness.keystone + "/auth/tokens?nocatalog", body: scoped, token: .none)
            #expect(response.status == 201)
            #expect(response.json[path: "token", "catalog"] == .null)
            #expect(response.json[path: "token", "project", "name"] == "demo")

            let unscoped = passwordAuth(user: ["id": .string(SimulatorDefaults.adminUserID)], password: "secret", scope: nil)
            let plain = try await harness.send(.POST, harness.keystone + "/auth/tokens", body: unscoped, token: .none)
            #expect(plain.status == 201)
            #expect(plain.json[path: "token", "catalog"] == .null)
            #expect(plain.json[path: "token", "project"] == .null)
            #expect(plain.json[path: "token", "roles"] == .null)
        }
    }

    @Test("the catalog has identity, compute, block-storage, volumev3, image, database in 2 regions × 3 interfaces, all URLs distinct")
    func catalogShape() async throws {
        try await SimulatorHarness.run { harness in
            let issued = try harness.simulator.issueToken()
            let catalog = try #require(issued.token[path: "catalog"].arrayValue)
            let types = catalog.compactMap { $0["type"]?.stringValue }
            #expect(types == ["identity", "compute", "block-storage", "volumev3", "image", "database"])
            var urls: [String] = []
            for service in catalog {
                let endpoints = try #require(service["endpoints"]?.arrayValue)
                #expect(endpoints.count == 6)
                let pairs = Set(endpoints.map { "\($0["region_id"]?.stringValue ?? "")/\($0["interface"]?.stringValue ?? "")" })
                #expect(pairs.count == 6)
                #expect(Set(endpoints.compactMap { $0["region"]?.stringValue }) == ["RegionOne", "RegionTwo"])
                urls += endpoints.compactMap { $0["url"]?.stringValue }
            }
            #expect(Set(urls).count == urls.count)
            let base = harness.simulator.baseURL
            let project = SimulatorDefaults.demoProjectID
            #expect(urls.contains("\(base)/RegionTwo/internal/volume/v3/\(project)"))
            #expect(urls.contains("\(base)/RegionOne/admin/volumev3/v3/\(project)"))
            #expect(urls.contains("\(base)/RegionOne/public/image"))
            #expect(urls.contains("\(base)/RegionTwo/public/database/v1.0/\(project)"))
            #expect(urls.contains("\(base)/RegionOne/public/compute/v2.1"))
            #expect(!urls.contains { $0.contains("$(") })
        }
    }

    @Test("GET/HEAD/DELETE /v3/auth/tokens validate and revoke; GET /v3/auth/catalog")
    func validateAndCatalog() async throws {
        try await SimulatorHarness.run { harness in
            let subject = try harness.simulator.issueToken(includeCatalog: false)
            let url = harness.keystone + "/auth/tokens"
            let validated = try await harness.send(.GET, url, headers: [("X-Subject-Token", subject.id)])
            #expect(validated.status == 200)
            #expect(validated.header("X-Subject-Token") == subject.id)
            #expect(validated.json[path: "token", "expires_at"] == .string(subject.expiresAt))
            #expect(validated.json[path: "token", "catalog"].arrayValue?.count == 6)

            let head = try await harness.send(.HEAD, url, headers: [("X-Subject-Token", subject.id)])
            #expect(head.status == 200)

            let unknown = try await harness.send(.GET, url, headers: [("X-Subject-Token", "bogus")])
            #expect(unknown.status == 404)
            #expect(unknown.json[path: "error", "message"] == "Could not find token: bogus.")

            let noCaller = try await harness.send(.GET, url, token: .none, headers: [("X-Subject-Token", subject.id)])
            #expect(noCaller.status == 401)

            // The catalog route works for a token issued without one.
            let catalog = try await harness.send(.GET, harness.keystone + "/auth/catalog", token: .token(subject.id))
            #expect(catalog.status == 200)
            #expect(catalog.json[path: "catalog"].arrayValue?.count == 6)
            #expect(catalog.json[path: "links", "self"].stringValue?.hasSuffix("/v3/auth/catalog") == true)

            let revoked = try await harness.send(.DELETE, url, headers: [("X-Subject-Token", subject.id)])
            #expect(revoked.status == 204)
            let gone = try await harness.send(.GET, url, headers: [("X-Subject-Token", subject.id)])
            #expect(gone.status == 404)
            let unusable = try await harness.send(.GET, harness.cinder + "/volumes", token: .token(subject.id))
            #expect(unusable.status == 401)
        }
    }

    @Test("token method re-scopes; trust scope gives the trustee a token on the trust's project")
    func tokenAndTrust() async throws {
        try await SimulatorHarness.run { harness in
            let unscoped = try harness.simulator.issueToken(project: nil)
            let rescope: JSON = [
                "auth": [
                    "identity": ["methods": ["token"], "token": ["id": .string(unscoped.id)]],
                    "scope": ["project": ["id": .string(SimulatorDefaults.demoProjectID)]],
                ]
            ]
            let response = try await harness.send(.POST, harness.keystone + "/auth/tokens", body: rescope, token: .none)
            #expect(response.status == 201)
            #expect(response.json[path: "token", "methods"] == ["token", "password"])
            #expect(response.json[path: "token", "expires_at"] == .string(unscoped.expiresAt))
            #expect(response.json[path: "token", "audit_ids"].arrayValue?.count == 2)

            let mistral = try harness.simulator.issueToken(user: "mistral", project: "service")
            let trust: JSON = [
                "auth": [
                    "identity": ["methods": ["token"], "token": ["id": .string(mistral.id)]],
                    "scope": ["OS-TRUST:trust": ["id": .string(SimulatorDefaults.demoTrustID)]],
                ]
            ]
            let trusted = try await harness.send(.POST, harness.keystone + "/auth/tokens", body: trust, token: .none)
            #expect(trusted.status == 201)
            #expect(trusted.json[path: "token", "project", "id"] == .string(SimulatorDefaults.demoProjectID))
            #expect(trusted.json[path: "token", "OS-TRUST:trust", "id"] == .string(SimulatorDefaults.demoTrustID))
            #expect(trusted.json[path: "token", "user", "name"] == "mistral")
        }
    }

    @Test("the bare auth URL serves a version list, /identity/v3 a version document")
    func versions() async throws {
        try await SimulatorHarness.run { harness in
            let list = try await harness.send(.GET, harness.simulator.authURL, token: .none)
            #expect(list.status == 300)
            #expect(list.json[path: "versions", "values"].arrayValue?.first?["id"] == "v3.14")
            let document = try await harness.send(.GET, harness.keystone, token: .none)
            #expect(document.status == 200)
            #expect(document.json[path: "version", "status"] == "stable")
        }
    }
}
