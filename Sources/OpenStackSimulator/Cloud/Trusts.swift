import OrderedJSON

/// Keystone's OS-TRUST API (`/v3/OS-TRUST/trusts`), with the rules of Keystone's default
/// policy (keystone/api/trusts.py, keystone/common/policies/trust.py):
///
/// * create: a project-scoped, not trust-scoped token whose user is `trustor_user_id`;
///   the trustee must exist; roles (by id or name) must be roles the trustor has on the
///   project (Keystone answers 404 "Could not find role" otherwise);
/// * show: 404 for a trust Keystone does not find (unknown, deleted, expired, used up)
///   before any policy check, then admin, trustor or trustee;
/// * list: unfiltered for admins only; `trustor_user_id` / `trustee_user_id` for admins or
///   that user (a request with both is filtered by the trustor, as Keystone does);
/// * delete: admin or trustor, 204.
extension CloudState {
    mutating func handleTrusts(
        _ request: HTTPRequestData, route: ServiceRoute, query: QueryParameters, now: Timestamp
    ) throws(ServiceFailure) -> HTTPResponseData {
        let caller = try caller(request, now: now)
        let rest = Array(route.segments.dropFirst(2))
        let collectionURL = route.applicationURL + "/OS-TRUST/trusts"
        let id = rest.first ?? ""
        switch (request.method, rest.count) {
        case ("POST", 0):
            let trust = try createTrust(request, caller: caller, now: now)
            return .json(201, ["trust": trustBody(trust, collectionURL: collectionURL, applicationURL: route.applicationURL)])
        case ("GET", 0), ("HEAD", 0):
            let trusts = try listTrusts(query: query, caller: caller)
            let body: JSON = [
                "trusts": .array(trusts.map { trustBody($0, collectionURL: collectionURL, applicationURL: nil) }),
                "links": [
                    "self": .string(collectionURL + (request.query.map { $0.isEmpty ? "" : "?" + $0 } ?? "")),
                    "previous": .null, "next": .null,
                ],
            ]
            return request.method == "HEAD" ? .empty(200) : .json(200, body)
        case ("GET", 1), ("HEAD", 1):
            let trust = try foundTrust(id, now: now)
            guard isAdmin(caller) || caller.userID == trust.trustorUserID || caller.userID == trust.trusteeUserID else {
                throw forbiddenAction("identity:get_trust")
            }
            if request.method == "HEAD" { return .empty(200) }
            return .json(200, ["trust": trustBody(trust, collectionURL: collectionURL, applicationURL: route.applicationURL)])
        case ("DELETE", 1):
            let trust = try foundTrust(id, now: now)
            guard isAdmin(caller) || caller.userID == trust.trustorUserID else {
                throw forbiddenAction("identity:delete_trust")
            }
            identity.trusts.removeAll { $0.id == trust.id }
            return .empty(204)
        case (_, 0), (_, 1):
            throw ServiceFailure(405, "The method is not allowed for the requested URL.")
        default:
            throw .notFound("The resource could not be found.")
        }
    }

    private func isAdmin(_ token: TokenRecord) -> Bool { token.roles.contains("admin") }

    private func forbiddenAction(_ action: String) -> ServiceFailure {
        ServiceFailure(403, "You are not authorized to perform the requested action: \(action).")
    }

    /// A trust Keystone finds, else its 404.
    private func foundTrust(_ id: String, now: Timestamp) throws(ServiceFailure) -> TrustRecord {
        guard let trust = identity.usableTrust(id, at: now) else { throw .notFound("Could not find trust: \(id).") }
        return trust
    }

    private func listTrusts(query: QueryParameters, caller: TokenRecord) throws(ServiceFailure) -> [TrustRecord] {
        // Empty values count as absent, as Keystone's `if trustor_user_id:` does.
        let trustor = query.all("trustor_user_id").first.flatMap { $0.isEmpty ? nil : $0 }
        let trustee = query.all("trustee_user_id").first.flatMap { $0.isEmpty ? nil : $0 }
        if let trustor {
            guard isAdmin(caller) || caller.userID == trustor else {
                throw forbiddenAction("identity:list_trusts_for_trustor")
            }
            return identity.trusts.filter { $0.trustorUserID == trustor }
        }
        if let trustee {
            guard isAdmin(caller) || caller.userID == trustee else {
                throw forbiddenAction("identity:list_trusts_for_trustee")
            }
            return identity.trusts.filter { $0.trusteeUserID == trustee }
        }
        guard isAdmin(caller) else { throw forbiddenAction("identity:list_trusts") }
        // Keystone lists everything only without any query parameter; other parameters
        // match no branch of its handler and give an empty list.
        return query.items.isEmpty ? identity.trusts : []
    }

    /// Checks and stores a new trust as `POST /v3/OS-TRUST/trusts` does.
    private mutating func createTrust(
        _ request: HTTPRequestData, caller: TokenRecord, now: Timestamp
    ) throws(ServiceFailure) -> TrustRecord {
        guard case .success(let parsed?) = request.jsonBody, let body = parsed.objectValue else {
            throw .badRequest("Expecting to find trust in request body. The server could not comply with the request "
                + "since it is either malformed or otherwise incorrect. The client is assumed to be in error.")
        }
        guard let trustValue = body["trust"] else { throw .badRequest("'trust' is a required property") }
        if let extra = body.keys.first(where: { $0 != "trust" }) {
            throw .badRequest("Additional properties are not allowed ('\(extra)' was unexpected)")
        }
        guard let trust = trustValue.objectValue else {
            throw .badRequest("Invalid input for field 'trust': \(trustValue) is not of type 'object'")
        }
        func invalid(_ field: String, _ message: String) -> ServiceFailure {
            .badRequest("Invalid input for field 'trust/\(field)': \(message)")
        }
        for required in ["trustor_user_id", "trustee_user_id", "impersonation"] where trust[required] == nil {
            throw .badRequest("Invalid input for field 'trust': '\(required)' is a required property")
        }
        func string(_ field: String, nullable: Bool) throws(ServiceFailure) -> String? {
            guard let value = trust[field] else { return nil }
            if value.isNull, nullable { return nil }
            guard let text = value.stringValue else {
                throw invalid(field, "\(value) is not of type \(nullable ? "'string', 'null'" : "'string'")")
            }
            return text
        }
        let trustorID = try string("trustor_user_id", nullable: false) ?? ""
        let trusteeID = try string("trustee_user_id", nullable: false) ?? ""
        guard case .bool(let impersonation)? = trust["impersonation"] else {
            throw invalid("impersonation", "\(trust["impersonation"] ?? .null) is not of type 'boolean'")
        }
        let projectID = try string("project_id", nullable: true)
        let expiresText = try string("expires_at", nullable: true)
        var remainingUses: Int?
        switch trust["remaining_uses"] {
        case nil, .null?: remainingUses = nil
        case .integer(let uses)?:
            guard uses >= 1 else { throw invalid("remaining_uses", "\(uses) is less than the minimum of 1") }
            remainingUses = uses > Int64(Int32.max) ? Int(Int32.max) : Int(uses)
        case let other?:
            throw invalid("remaining_uses", "\(other) is not of type 'integer', 'null'")
        }
        var roleReferences: [(id: String?, name: String?)] = []
        if let rolesValue = trust["roles"] {
            guard let items = rolesValue.arrayValue else { throw invalid("roles", "\(rolesValue) is not of type 'array'") }
            for (index, item) in items.enumerated() {
                guard let object = item.objectValue, object.count == 1,
                    let key = object.keys.first, key == "id" || key == "name", let text = object[key]?.stringValue
                else {
                    throw invalid("roles/\(index)", "\(item) is not valid: give exactly one of 'id' or 'name' as a string")
                }
                roleReferences.append(key == "id" ? (text, nil) : (nil, text))
            }
        }
        if let redelegation = trust["allow_redelegation"], redelegation.boolValue == true {
            throw ServiceFailure(403, "Redelegation is not supported by this simulator.")
        }

        // The policy (identity:create_trust): the caller must be the trustor, with a project-scoped token.
        guard caller.userID == trustorID, caller.projectID != nil else { throw forbiddenAction("identity:create_trust") }
        if caller.trustID != nil {
            // A trust-scoped token redelegates; trusts here have a redelegation depth of 0.
            throw ServiceFailure(403, "Remaining redelegation depth of 0 out of allowed range of [0..3]")
        }
        if let projectID, !projectID.isEmpty, roleReferences.isEmpty {
            throw forbiddenAction("At least one role should be specified")
        }
        guard identity.user(id: trusteeID) != nil else { throw .notFound("Could not find user: \(trusteeID).") }

        // Roles by name become ids; unknown names are 404, as Keystone's lookup by name.
        var roleNames: [String] = []
        for reference in roleReferences {
            let name: String
            if let id = reference.id {
                name = identity.roleNames.first { IdentityDirectory.roleID($0) == id } ?? id
            } else {
                let given = reference.name ?? ""
                guard let known = identity.roleNames.first(where: { $0 == given }) else {
                    throw .notFound("Could not find role: \(given).")
                }
                name = known
            }
            if !roleNames.contains(name) { roleNames.append(name) }
        }
        var project = ""
        if let projectID, !projectID.isEmpty {
            guard identity.projects.contains(where: { $0.id == projectID }) else {
                throw .notFound("Could not find project: \(projectID).")
            }
            let trustorRoles = identity.user(id: trustorID)?.roles[projectID] ?? []
            for name in roleNames where !trustorRoles.contains(name) {
                throw .notFound("Could not find role: \(IdentityDirectory.roleID(name)).")
            }
            project = projectID
        } else if !roleNames.isEmpty {
            // Without a project the trustor has no role to delegate.
            throw .notFound("Could not find role: \(IdentityDirectory.roleID(roleNames[0])).")
        }

        var expiresAt: Timestamp?
        if let expiresText {
            let zulu = expiresText.hasSuffix("Z") ? expiresText : expiresText + "Z"
            guard let parsed = Timestamp(parsing: zulu) ?? Timestamp(parsing: expiresText) else {
                throw .badRequest("Timestamp not in expected format. The server could not comply with the request since "
                    + "it is either malformed or otherwise incorrect. The client is assumed to be in error.")
            }
            guard parsed > now else {
                throw .badRequest("The 'expires_at' must not be before now. The server could not comply with the request "
                    + "since it is either malformed or otherwise incorrect. The client is assumed to be in error.")
            }
            expiresAt = parsed
        }
        let record = TrustRecord(
            id: Identifiers.keystoneID(), trustorUserID: trustorID, trusteeUserID: trusteeID, projectID: project,
            roles: roleNames, impersonation: impersonation, expiresAt: expiresAt, remainingUses: remainingUses)
        identity.trusts.append(record)
        return record
    }

    /// A trust as Keystone renders it; with `applicationURL` (show, create) its roles too,
    /// without (list) no roles, as Keystone's list leaves them out.
    func trustBody(_ trust: TrustRecord, collectionURL: String, applicationURL: String?) -> JSON {
        var body: JSONObject = [
            "id": .string(trust.id),
            "trustor_user_id": .string(trust.trustorUserID),
            "trustee_user_id": .string(trust.trusteeUserID),
            "project_id": trust.projectID.isEmpty ? .null : .string(trust.projectID),
            "impersonation": .bool(trust.impersonation),
            "expires_at": trust.expiresAt.map { .string($0.keystoneFormat) } ?? .null,
            "remaining_uses": trust.remainingUses.map { .integer(Int64($0)) } ?? .null,
            "redelegated_trust_id": .null,
            "redelegation_count": 0,
            "deleted_at": .null,
            "links": ["self": .string(collectionURL + "/" + trust.id)],
        ]
        if let applicationURL {
            body["roles"] = .array(
                trust.roles.map { name in
                    let id = IdentityDirectory.roleID(name)
                    return [
                        "id": .string(id), "name": .string(name), "domain_id": .null, "description": .null,
                        "options": [:], "links": ["self": .string(applicationURL + "/roles/" + id)],
                    ]
                })
            body["roles_links"] = [
                "self": .string(collectionURL + "/" + trust.id + "/roles"), "previous": .null, "next": .null,
            ]
        }
        return .object(body)
    }
}
