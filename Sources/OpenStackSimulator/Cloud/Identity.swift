import Foundation
import OrderedJSON

struct UserRecord: Sendable {
    var id: String
    var name: String
    var domainID: String
    var password: String
    /// Role names per project id.
    var roles: [String: [String]]
}

struct ProjectRecord: Sendable {
    var id: String
    var name: String
    var domainID: String
}

/// A Keystone trust (OS-TRUST): the trustor delegates `roles` on `projectID` to the trustee.
struct TrustRecord: Sendable {
    var id: String
    var trustorUserID: String
    var trusteeUserID: String
    var projectID: String
    /// Role names.
    var roles: [String]
    var impersonation: Bool
    /// After this time Keystone answers as if the trust did not exist.
    var expiresAt: Timestamp? = nil
    /// Tokens that may still be issued through the trust; nil: no limit.
    var remainingUses: Int? = nil

    /// Whether Keystone still finds the trust (keystone/trust/backends/sql.py `get_trust`):
    /// not expired, and uses left when they are counted.
    func isUsable(at now: Timestamp) -> Bool {
        if let expiresAt, now > expiresAt { return false }
        if let remainingUses, remainingUses <= 0 { return false }
        return true
    }
}

/// An issued token and its scope.
struct TokenRecord: Sendable {
    var id: String
    var userID: String
    var projectID: String?
    var domainID: String?
    var systemScope = false
    var methods: [String]
    var auditIDs: [String]
    var issuedAt: Timestamp
    var expiresAt: Timestamp
    var revoked = false
    var trustID: String?
    var roles: [String]

    func isValid(at now: Timestamp) -> Bool { !revoked && expiresAt > now }
}

/// Keystone's data: one domain, three projects, four users, four roles, trusts and tokens.
struct IdentityDirectory: Sendable {
    var users: [UserRecord]
    var projects: [ProjectRecord]
    var roleNames: [String]
    var trusts: [TrustRecord]
    var tokens: [String: TokenRecord] = [:]

    static func standard() -> IdentityDirectory {
        IdentityDirectory(
            users: [
                UserRecord(
                    id: SimulatorDefaults.adminUserID, name: SimulatorDefaults.adminUserName,
                    domainID: SimulatorDefaults.domainID, password: SimulatorDefaults.adminPassword,
                    roles: [
                        SimulatorDefaults.demoProjectID: ["reader", "member", "admin"],
                        SimulatorDefaults.serviceProjectID: ["reader", "member", "admin"],
                    ]),
                UserRecord(
                    id: SimulatorDefaults.mistralUserID, name: SimulatorDefaults.mistralUserName,
                    domainID: SimulatorDefaults.domainID, password: SimulatorDefaults.mistralPassword,
                    roles: [SimulatorDefaults.serviceProjectID: ["reader", "member", "admin", "service"]]),
                UserRecord(
                    id: SimulatorDefaults.memberUserID, name: SimulatorDefaults.memberUserName,
                    domainID: SimulatorDefaults.domainID, password: SimulatorDefaults.memberPassword,
                    roles: [SimulatorDefaults.demoProjectID: ["reader", "member"]]),
                UserRecord(
                    id: SimulatorDefaults.altUserID, name: SimulatorDefaults.altUserName,
                    domainID: SimulatorDefaults.domainID, password: SimulatorDefaults.altPassword,
                    roles: [SimulatorDefaults.altProjectID: ["reader", "member"]]),
            ],
            projects: [
                ProjectRecord(
                    id: SimulatorDefaults.demoProjectID, name: SimulatorDefaults.demoProjectName,
                    domainID: SimulatorDefaults.domainID),
                ProjectRecord(
                    id: SimulatorDefaults.serviceProjectID, name: SimulatorDefaults.serviceProjectName,
                    domainID: SimulatorDefaults.domainID),
                ProjectRecord(
                    id: SimulatorDefaults.altProjectID, name: SimulatorDefaults.altProjectName,
                    domainID: SimulatorDefaults.domainID),
            ],
            roleNames: ["reader", "member", "admin", "service"],
            trusts: [
                TrustRecord(
                    id: SimulatorDefaults.demoTrustID, trustorUserID: SimulatorDefaults.adminUserID,
                    trusteeUserID: SimulatorDefaults.mistralUserID, projectID: SimulatorDefaults.demoProjectID,
                    roles: ["member"], impersonation: false),
                // As Mistral makes them for cron triggers (mistral/services/security.py create_trust):
                // impersonation on, the trustor's roles on the project.
                TrustRecord(
                    id: SimulatorDefaults.impersonatingTrustID, trustorUserID: SimulatorDefaults.adminUserID,
                    trusteeUserID: SimulatorDefaults.mistralUserID, projectID: SimulatorDefaults.demoProjectID,
                    roles: ["reader", "member", "admin"], impersonation: true),
            ])
    }

    /// A token services accept now. A trust-scoped token lives only as long as its trust:
    /// Keystone looks the trust up again on every validation.
    func validToken(_ id: String, at now: Timestamp) -> TokenRecord? {
        guard let token = tokens[id], token.isValid(at: now) else { return nil }
        if let trustID = token.trustID, usableTrust(trustID, at: now) == nil { return nil }
        return token
    }

    /// A trust Keystone finds: known, not deleted, not expired, uses left.
    func usableTrust(_ id: String, at now: Timestamp) -> TrustRecord? {
        trusts.first { $0.id == id && $0.isUsable(at: now) }
    }

    func user(id: String) -> UserRecord? { users.first { $0.id == id } }

    /// A user by id, or by name within a domain given by id or name.
    func user(reference: JSON) -> UserRecord? {
        if let id = reference["id"]?.stringValue { return user(id: id) }
        guard let name = reference["name"]?.stringValue, let domainID = domainID(reference["domain"]) else {
            return nil
        }
        return users.first { $0.name == name && $0.domainID == domainID }
    }

    /// A project by id, or by name within a domain given by id or name.
    func project(reference: JSON) -> ProjectRecord? {
        if let id = reference["id"]?.stringValue { return projects.first { $0.id == id } }
        guard let name = reference["name"]?.stringValue, let domainID = domainID(reference["domain"]) else {
            return nil
        }
        return projects.first { $0.name == name && $0.domainID == domainID }
    }

    func domainID(_ reference: JSON?) -> String? {
        guard let reference else { return nil }
        if let id = reference["id"]?.stringValue { return id == SimulatorDefaults.domainID ? id : nil }
        if let name = reference["name"]?.stringValue, name == SimulatorDefaults.domainName {
            return SimulatorDefaults.domainID
        }
        return nil
    }

    static func roleID(_ name: String) -> String { Identifiers.stableKeystoneID("role:" + name) }

    /// One token was issued through the trust (keystone/trust/backends/sql.py `consume_use`).
    mutating func consumeTrustUse(_ id: String) {
        guard let index = trusts.firstIndex(where: { $0.id == id }), let uses = trusts[index].remainingUses else { return }
        trusts[index].remainingUses = max(0, uses - 1)
    }
}

/// One service in the catalog: its type, name and the path of its endpoints below `<base>/<region>/<interface>/`.
private struct CatalogService {
    var type: String
    var name: String
    var path: String
    var needsProject: Bool
}

private let catalogServices = [
    CatalogService(type: "identity", name: "keystone", path: "identity/v3", needsProject: false),
    CatalogService(type: "compute", name: "nova", path: "compute/v2.1", needsProject: false),
    CatalogService(type: "block-storage", name: "cinder", path: "volume/v3/$(project_id)s", needsProject: true),
    CatalogService(type: "volumev3", name: "cinderv3", path: "volumev3/v3/$(project_id)s", needsProject: true),
    CatalogService(type: "image", name: "glance", path: "image", needsProject: false),
    CatalogService(type: "database", name: "trove", path: "database/v1.0/$(project_id)s", needsProject: true),
]

let unauthorizedMessage = "The request you have made requires authentication."

extension CloudState {
    /// The catalog as Keystone renders it for a token: project ids substituted; endpoints
    /// that need a project left out when there is none (domain or system scope).
    func catalog(projectID: String?) -> JSON {
        var services: [JSON] = []
        for service in catalogServices where projectID != nil || !service.needsProject {
            var endpoints: [JSON] = []
            for region in SimulatorDefaults.regions {
                for interface in SimulatorDefaults.interfaces {
                    let path = service.path.replacingOccurrences(of: "$(project_id)s", with: projectID ?? "")
                    endpoints.append([
                        "id": .string(Identifiers.stableKeystoneID("endpoint:\(service.type):\(region):\(interface)")),
                        "interface": .string(interface),
                        "region": .string(region),
                        "region_id": .string(region),
                        "url": .string("\(baseURL)/\(region)/\(interface)/\(path)"),
                    ])
                }
            }
            services.append([
                "endpoints": .array(endpoints),
                "id": .string(Identifiers.stableKeystoneID("service:" + service.type)),
                "type": .string(service.type),
                "name": .string(service.name),
            ])
        }
        return .array(services)
    }

    /// `{"token": {...}}` as Keystone returns it on issue and validation.
    func tokenBody(_ token: TokenRecord, includeCatalog: Bool) -> JSON {
        let user = identity.user(id: token.userID)
        let domain: JSON = ["id": .string(SimulatorDefaults.domainID), "name": .string(SimulatorDefaults.domainName)]
        var body: JSONObject = [
            "methods": .array(token.methods.map(JSON.string)),
            "user": [
                "domain": domain,
                "id": .string(token.userID),
                "name": .string(user?.name ?? token.userID),
                "password_expires_at": .null,
            ],
            "audit_ids": .array(token.auditIDs.map(JSON.string)),
            "expires_at": .string(token.expiresAt.keystoneFormat),
            "issued_at": .string(token.issuedAt.keystoneFormat),
        ]
        if let projectID = token.projectID {
            let project = identity.projects.first { $0.id == projectID }
            body["project"] = ["domain": domain, "id": .string(projectID), "name": .string(project?.name ?? projectID)]
            body["is_domain"] = false
        } else if token.domainID != nil {
            body["domain"] = domain
        } else if token.systemScope {
            body["system"] = ["all": true]
        }
        if token.projectID != nil || token.domainID != nil || token.systemScope {
            body["roles"] = .array(
                token.roles.map { ["id": .string(IdentityDirectory.roleID($0)), "name": .string($0)] })
        }
        if let trustID = token.trustID, let trust = identity.trusts.first(where: { $0.id == trustID }) {
            body["OS-TRUST:trust"] = [
                "id": .string(trust.id),
                "impersonation": .bool(trust.impersonation),
                "remaining_uses": trust.remainingUses.map { .integer(Int64($0)) } ?? .null,
                "expires_at": trust.expiresAt.map { .string($0.keystoneFormat) } ?? .null,
                "trustee_user": ["id": .string(trust.trusteeUserID)],
                "trustor_user": ["id": .string(trust.trustorUserID)],
            ]
        }
        if includeCatalog, token.projectID != nil || token.domainID != nil || token.systemScope {
            body["catalog"] = catalog(projectID: token.projectID)
        }
        return ["token": .object(body)]
    }

    // MARK: - Keystone API

    mutating func handleIdentity(_ request: HTTPRequestData, route: ServiceRoute, now: Timestamp) -> HTTPResponseData {
        do throws(ServiceFailure) {
            return try routeIdentity(request, route: route, now: now)
        } catch {
            var headers: [(String, String)] = []
            if error.status == 401 { headers.append(("WWW-Authenticate", "Keystone uri=\"\(authURL)\"")) }
            return ErrorEnvelope.response(for: error, service: .identity, acceptsJSON: true, extraHeaders: headers)
        }
    }

    private mutating func routeIdentity(
        _ request: HTTPRequestData, route: ServiceRoute, now: Timestamp
    ) throws(ServiceFailure) -> HTTPResponseData {
        let query = QueryParameters(parsing: request.query)
        let version: JSON = [
            "id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
            "links": [["rel": "self", "href": .string(route.applicationURL + "/")]],
            "media-types": [["base": "application/json", "type": "application/vnd.openstack.identity-v3+json"]],
        ]
        switch (request.method, route.segments) {
        case ("GET", []) where route.isVersionList:
            return .json(300, ["versions": ["values": [version]]])
        case ("GET", []):
            return .json(200, ["version": version])
        case ("POST", ["auth", "tokens"]):
            return try issueToken(request, query: query, now: now)
        case ("GET", ["auth", "tokens"]), ("HEAD", ["auth", "tokens"]):
            _ = try caller(request, now: now)
            guard let subjectID = request.header("X-Subject-Token"), let subject = identity.tokens[subjectID],
                !subject.revoked, subject.expiresAt > now || query.contains("allow_expired")
            else {
                throw .notFound("Could not find token: \(request.header("X-Subject-Token") ?? "").")
            }
            let headers = [("X-Subject-Token", subjectID)]
            if request.method == "HEAD" { return .empty(200, headers: headers) }
            return .json(200, tokenBody(subject, includeCatalog: !query.contains("nocatalog")), headers: headers)
        case ("DELETE", ["auth", "tokens"]):
            _ = try caller(request, now: now)
            guard let subjectID = request.header("X-Subject-Token"), identity.tokens[subjectID]?.isValid(at: now) == true
            else {
                throw .notFound("Could not find token: \(request.header("X-Subject-Token") ?? "").")
            }
            identity.tokens[subjectID]?.revoked = true
            return .empty(204)
        case ("GET", ["auth", "catalog"]):
            let token = try caller(request, now: now)
            guard token.projectID != nil || token.domainID != nil || token.systemScope else {
                throw ServiceFailure(403, "A project-scoped token is required to produce a service catalog.")
            }
            return .json(
                200,
                [
                    "catalog": catalog(projectID: token.projectID),
                    "links": ["self": .string(route.applicationURL + "/auth/catalog"), "previous": .null, "next": .null],
                ])
        case ("GET", ["auth", "projects"]):
            let token = try caller(request, now: now)
            let user = identity.user(id: token.userID)
            let projects = identity.projects.filter { user?.roles[$0.id]?.isEmpty == false }
            return .json(
                200,
                [
                    "projects": .array(
                        projects.map {
                            [
                                "id": .string($0.id), "name": .string($0.name), "domain_id": .string($0.domainID),
                                "enabled": true, "is_domain": false, "parent_id": .string($0.domainID),
                                "links": ["self": .string(route.applicationURL + "/projects/" + $0.id)],
                            ]
                        }),
                    "links": ["self": .string(route.applicationURL + "/auth/projects"), "previous": .null, "next": .null],
                ])
        case (_, let segments) where segments.first == "OS-TRUST" && segments.dropFirst().first == "trusts":
            return try handleTrusts(request, route: route, query: query, now: now)
        default:
            throw .notFound("The resource could not be found.")
        }
    }

    /// The token in `X-Auth-Token`; 401 when missing, unknown, revoked or expired.
    func caller(_ request: HTTPRequestData, now: Timestamp) throws(ServiceFailure) -> TokenRecord {
        guard let id = request.header("X-Auth-Token"), let token = identity.validToken(id, at: now) else {
            throw ServiceFailure(401, unauthorizedMessage)
        }
        return token
    }

    private mutating func issueToken(
        _ request: HTTPRequestData, query: QueryParameters, now: Timestamp
    ) throws(ServiceFailure) -> HTTPResponseData {
        guard case .success(let parsed?) = request.jsonBody, let auth = parsed["auth"]?.objectValue else {
            throw .badRequest(
                "Expecting to find auth in request body. The server could not comply with the request since it is "
                    + "either malformed or otherwise incorrect. The client is assumed to be in error.")
        }
        guard let identitySection = auth["identity"]?.objectValue,
            let methods = identitySection["methods"]?.arrayValue?.compactMap(\.stringValue), !methods.isEmpty
        else {
            throw .badRequest("Invalid input for field 'identity': 'methods' is a required property")
        }
        var userID: String?
        var sourceToken: TokenRecord?
        for method in methods {
            let resolved: String
            switch method {
            case "password":
                guard let reference = identitySection["password"]?["user"],
                    let user = identity.user(reference: reference),
                    reference["password"]?.stringValue == user.password
                else { throw ServiceFailure(401, unauthorizedMessage) }
                resolved = user.id
            case "token":
                guard let id = identitySection["token"]?["id"]?.stringValue,
                    let token = identity.validToken(id, at: now)
                else { throw ServiceFailure(401, unauthorizedMessage) }
                sourceToken = token
                resolved = token.userID
            default:
                throw ServiceFailure(401, "Attempted to authenticate with an unsupported method.")
            }
            if let userID, userID != resolved { throw ServiceFailure(401, unauthorizedMessage) }
            userID = resolved
        }
        guard let userID, let user = identity.user(id: userID) else { throw ServiceFailure(401, unauthorizedMessage) }

        var token = TokenRecord(
            id: Identifiers.token(), userID: userID, methods: [], auditIDs: [Identifiers.auditID()], issuedAt: now,
            expiresAt: now.adding(seconds: settings.tokenTTL), roles: [])
        if let sourceToken {
            // Re-scoping keeps the original expiry and audit chain (keystone/auth/core.py).
            token.methods = methods + sourceToken.methods.filter { !methods.contains($0) }
            token.auditIDs.append(sourceToken.auditIDs.last ?? sourceToken.auditIDs[0])
            token.expiresAt = sourceToken.expiresAt
        } else {
            token.methods = methods
        }

        if let scope = auth["scope"]?.objectValue {
            if let projectReference = scope["project"] {
                guard let project = identity.project(reference: projectReference),
                    let roles = user.roles[project.id], !roles.isEmpty
                else { throw ServiceFailure(401, unauthorizedMessage) }
                token.projectID = project.id
                token.roles = roles
            } else if let domainReference = scope["domain"] {
                guard identity.domainID(domainReference) != nil else { throw ServiceFailure(401, unauthorizedMessage) }
                token.domainID = SimulatorDefaults.domainID
                token.roles = user.roles.values.contains { $0.contains("admin") } ? ["admin", "member", "reader"] : []
                guard !token.roles.isEmpty else { throw ServiceFailure(401, unauthorizedMessage) }
            } else if scope["system"] != nil {
                guard user.roles.values.contains(where: { $0.contains("admin") }) else {
                    throw ServiceFailure(401, unauthorizedMessage)
                }
                token.systemScope = true
                token.roles = ["admin", "member", "reader"]
            } else if let trustReference = scope["OS-TRUST:trust"] {
                let trustID = trustReference["id"]?.stringValue ?? ""
                try applyTrustScope(to: &token, trustID: trustID, trustee: user, now: now)
                identity.consumeTrustUse(trustID)
            } else {
                throw .badRequest("Invalid input for field 'scope'.")
            }
        }
        identity.tokens[token.id] = token
        return .json(
            201, tokenBody(token, includeCatalog: !query.contains("nocatalog")),
            headers: [("X-Subject-Token", token.id)])
    }

    /// Scopes `token` to a trust the way Keystone does for its trustee: the trust's project and
    /// roles; with impersonation the token's user is the trustor (keystone/token/provider.py).
    ///
    /// A trust Keystone does not find (unknown, deleted, expired, no uses left) gives 401:
    /// Keystone turns its TrustNotFound into Unauthorized when authenticating
    /// (keystone/api/_shared/authentication.py).
    private func applyTrustScope(
        to token: inout TokenRecord, trustID: String, trustee: UserRecord, now: Timestamp
    ) throws(ServiceFailure) {
        guard let trust = identity.usableTrust(trustID, at: now) else {
            throw ServiceFailure(401, unauthorizedMessage)
        }
        guard trust.trusteeUserID == trustee.id else {
            throw ServiceFailure(403, "The requested user is not the trustee of this trust.")
        }
        token.projectID = trust.projectID
        token.roles = trust.roles
        token.trustID = trust.id
        if trust.impersonation { token.userID = trust.trustorUserID }
    }

    /// Mints a token for the trustee of `trustID`, scoped to the trust, without HTTP: what
    /// Mistral's engine gets (with the `[keystone_authtoken]` user's password) for a cron trigger.
    mutating func mintTrustToken(trustID: String, now: Timestamp) throws(SimulatorError) -> TokenRecord {
        guard let trust = identity.trusts.first(where: { $0.id == trustID }),
            let trustee = identity.user(id: trust.trusteeUserID)
        else { throw SimulatorError("unknown trust '\(trustID)'") }
        guard trust.isUsable(at: now) else { throw SimulatorError("trust '\(trustID)' has expired or has no uses left") }
        var token = TokenRecord(
            id: Identifiers.token(), userID: trustee.id, methods: ["password"], auditIDs: [Identifiers.auditID()],
            issuedAt: now, expiresAt: now.adding(seconds: settings.tokenTTL), roles: [])
        do {
            try applyTrustScope(to: &token, trustID: trustID, trustee: trustee, now: now)
        } catch {
            throw SimulatorError(error.message)
        }
        identity.consumeTrustUse(trustID)
        identity.tokens[token.id] = token
        return token
    }

    /// Mints a project-scoped token without HTTP (the in-process test helper).
    mutating func mintToken(userReference: String, projectReference: String?, now: Timestamp) throws(SimulatorError)
        -> TokenRecord
    {
        guard let user = identity.users.first(where: { $0.id == userReference || $0.name == userReference }) else {
            throw SimulatorError("unknown user '\(userReference)'")
        }
        var token = TokenRecord(
            id: Identifiers.token(), userID: user.id, methods: ["password"], auditIDs: [Identifiers.auditID()],
            issuedAt: now, expiresAt: now.adding(seconds: settings.tokenTTL), roles: [])
        if let projectReference {
            guard let project = identity.projects.first(where: { $0.id == projectReference || $0.name == projectReference })
            else { throw SimulatorError("unknown project '\(projectReference)'") }
            guard let roles = user.roles[project.id], !roles.isEmpty else {
                throw SimulatorError("user '\(user.name)' has no role on project '\(project.name)'")
            }
            token.projectID = project.id
            token.roles = roles
        }
        identity.tokens[token.id] = token
        return token
    }
}
