import OrderedJSON

/// Everything the simulated cloud knows, as one value guarded by the simulator's lock.
///
/// Time moves lazily: every request first applies the transitions that have come due
/// (a backup finishing, a task state moving on), stamping them with their due time, so
/// what a client sees depends only on the clock and the configured delays.
struct CloudState: Sendable {
    let baseURL: String
    var clock = MonotonicClock()
    var settings: SimulatorSettings
    var identity: IdentityDirectory

    var volumes: [VolumeRecord] = []
    var snapshots: [SnapshotRecord] = []
    var backups: [VolumeBackupRecord] = []
    var servers: [ServerRecord] = []
    var images: [ImageRecord] = []
    var databaseInstances: [DatabaseInstanceRecord] = []
    var databaseBackups: [DatabaseBackupRecord] = []

    var pending: [PendingTransition] = []
    var nextSequence = 0
    var faults: [ActiveFault] = []
    var requestLog: [LoggedRequest] = []

    init(baseURL: String, settings: SimulatorSettings) {
        self.baseURL = baseURL
        self.settings = settings
        identity = IdentityDirectory.standard()
    }

    /// The Keystone URI keystonemiddleware names in `WWW-Authenticate`.
    var authURL: String { baseURL + "/identity" }

    /// Drops every resource, pending transition, fault and log entry (users and tokens stay).
    mutating func clearResources() {
        volumes = []
        snapshots = []
        backups = []
        servers = []
        images = []
        databaseInstances = []
        databaseBackups = []
        pending = []
        faults = []
        requestLog = []
        identity.trusts = IdentityDirectory.standard().trusts
    }

    // MARK: - Clock

    mutating func schedule(_ transition: Transition, after seconds: Double, from now: Timestamp) {
        pending.append(PendingTransition(dueAt: now.adding(seconds: seconds), sequence: nextSequence, transition: transition))
        nextSequence += 1
    }

    /// Applies, in order, every transition due at or before `now`.
    mutating func advance(to now: Timestamp) {
        guard pending.contains(where: { $0.dueAt <= now }) else { return }
        pending.sort { ($0.dueAt, $0.sequence) < ($1.dueAt, $1.sequence) }
        while let first = pending.first, first.dueAt <= now {
            pending.removeFirst()
            apply(first.transition, at: first.dueAt)
        }
    }

    private mutating func apply(_ transition: Transition, at time: Timestamp) {
        switch transition {
        case .volumeBackupFinished(let id, let fails): finishVolumeBackup(id: id, fails: fails, at: time)
        case .volumeBackupDeleted(let id): removeVolumeBackup(id: id)
        case .snapshotFinished(let id, let fails):
            if let index = snapshots.firstIndex(where: { $0.id == id }), snapshots[index].status == "creating" {
                snapshots[index].status = fails ? "error" : "available"
                snapshots[index].updatedAt = time
            }
        case .snapshotDeleted(let id):
            snapshots.removeAll { $0.id == id }
        case .serverTask(let id, let taskState, let vmState, let powerState):
            guard let index = servers.firstIndex(where: { $0.id == id }) else { return }
            servers[index].taskState = taskState
            if let vmState { servers[index].vmState = vmState }
            if let powerState { servers[index].powerState = powerState }
            servers[index].updatedAt = time
        case .imageStatus(let id, let status):
            guard let index = images.firstIndex(where: { $0.id == id }) else { return }
            images[index].status = status
            images[index].updatedAt = time
            if status == "active" {
                images[index].size = 41_126_400
                images[index].virtualSize = 1_073_741_824
                images[index].checksum = String(Identifiers.keystoneID())
            }
        case .databaseBackupStatus(let id, let status):
            guard let index = databaseBackups.firstIndex(where: { $0.id == id }) else { return }
            databaseBackups[index].status = status
            databaseBackups[index].updatedAt = time
            if status == "COMPLETED" { databaseBackups[index].size = 0.12 }
        }
    }

    // MARK: - Service requests

    /// Answers one service request: due transitions, fault rules, auth, microversions, the
    /// service itself; then logs it.
    mutating func handleService(_ request: HTTPRequestData, match: RouteMatch) -> HTTPResponseData {
        let now = clock.now()
        advance(to: now)
        var route: ServiceRoute?
        if case .service(let matched) = match { route = matched }
        // Whose token it is, looked up before the request can revoke it.
        let credentials = request.header("X-Auth-Token").flatMap { id -> JSON? in
            guard let token = identity.tokens[id] else { return nil }
            return [
                "user_id": .string(token.userID),
                "user_name": identity.user(id: token.userID).map { .string($0.name) } ?? .null,
                "project_id": token.projectID.map(JSON.string) ?? .null,
                "trust_id": token.trustID.map(JSON.string) ?? .null,
                "valid": .bool(identity.validToken(id, at: now) != nil),
            ]
        }

        var response: HTTPResponseData
        if let route, let rule = takeFault(for: request, route: route) {
            if rule.reset {
                response = HTTPResponseData(status: 0)
                response.resetConnection = true
            } else if let status = rule.status {
                response = faultResponse(rule, status: status, request: request, route: route)
            } else {
                response = dispatch(request, route: route, now: now)
            }
            response.delay = rule.delay
        } else if let route {
            response = dispatch(request, route: route, now: now)
        } else {
            response = .json(404, ["error": ["code": 404, "title": "Not Found", "message": "The resource could not be found."]])
        }
        response.headers.append(("X-OpenStack-Request-ID", "req-" + Identifiers.uuid()))

        let loggedHeaderNames = [
            "X-Auth-Token", "X-Subject-Token", "OpenStack-API-Version", "X-OpenStack-Nova-API-Version",
            "Content-Type", "Accept",
        ]
        var headers: [String: String] = [:]
        for name in loggedHeaderNames {
            if let value = request.header(name) { headers[name] = value }
        }
        let body: JSON? = (try? request.jsonBody.get()) ?? nil
        requestLog.append(
            LoggedRequest(
                method: request.method, path: request.path, query: request.query, service: route?.service,
                region: route?.region, interface: route?.interface, servicePath: route?.servicePath,
                headers: headers, body: body, status: response.resetConnection ? nil : response.status,
                credentials: credentials))
        return response
    }

    private mutating func takeFault(for request: HTTPRequestData, route: ServiceRoute) -> FaultRule? {
        for index in faults.indices where faults[index].remaining > 0 {
            let rule = faults[index].rule
            if let method = rule.method, method != request.method { continue }
            if let service = rule.service, service != route.service { continue }
            if let pattern = rule.path {
                guard let regex = try? Regex(pattern), (try? regex.wholeMatch(in: route.servicePath)) != nil else {
                    continue
                }
            }
            faults[index].remaining -= 1
            return rule
        }
        return nil
    }

    private func faultResponse(
        _ rule: FaultRule, status: Int, request: HTTPRequestData, route: ServiceRoute
    ) -> HTTPResponseData {
        var headers: [(String, String)] = []
        if let retryAfter = rule.retryAfter { headers.append(("Retry-After", retryAfter)) }
        if let body = rule.body { return .json(status, body, headers: headers) }
        if rule.form == "rate_limit", route.service == .blockStorage {
            // cinder/api/middleware/rate_limit.py: the limiter's own body, not the fault envelope.
            let fault: JSON = [
                "overLimitFault": [
                    "code": .integer(Int64(status)),
                    "message": "This request was rate-limited.",
                    "details": .string("Only 10 \(request.method) request(s) can be made to * every minute."),
                ]
            ]
            return .json(status, fault, headers: headers)
        }
        let failure = ServiceFailure(status, ErrorEnvelope.defaultFaultMessage(status: status), retryAfter: rule.retryAfter)
        return ErrorEnvelope.response(for: failure, service: route.service, acceptsJSON: request.acceptsJSON)
    }

    private mutating func dispatch(_ request: HTTPRequestData, route: ServiceRoute, now: Timestamp) -> HTTPResponseData {
        if route.service == .identity {
            return handleIdentity(request, route: route, now: now)
        }
        // keystonemiddleware rejects before the service sees anything (api-facts §0).
        guard let tokenID = request.header("X-Auth-Token"), let token = identity.validToken(tokenID, at: now) else {
            return .json(
                401, ErrorEnvelope.keystoneBody(status: 401, message: "The request you have made requires authentication."),
                headers: [("WWW-Authenticate", "Keystone uri=\"\(authURL)\"")])
        }
        var version = Microversion(1, 0)
        var versionHeaders: [(String, String)] = []
        let policy: MicroversionPolicy? =
            switch route.service {
            case .compute: .compute
            case .blockStorage: .blockStorage
            default: nil
            }
        if let policy {
            let resolution = policy.resolve(
                headerValue: request.header("OpenStack-API-Version"),
                legacyValue: request.header("X-OpenStack-Nova-API-Version"))
            switch resolution {
            case .version(let resolved):
                version = resolved
                versionHeaders = policy.responseHeaders(for: resolved)
            case .malformed(let text):
                return ErrorEnvelope.response(
                    for: .badRequest(policy.malformedMessage(text)), service: route.service, acceptsJSON: true)
            case .unsupported(let text):
                return ErrorEnvelope.response(
                    for: ServiceFailure(406, policy.unsupportedMessage(text)), service: route.service, acceptsJSON: true)
            }
        }
        let call = ServiceCall(
            request: request, route: route, token: token, query: QueryParameters(parsing: request.query), now: now,
            version: version)
        do throws(ServiceFailure) {
            guard token.projectID != nil else {
                throw ServiceFailure(403, "A project-scoped token is required for this request.")
            }
            var response: HTTPResponseData
            switch route.service {
            case .compute: response = try handleCompute(call)
            case .blockStorage: response = try handleBlockStorage(call)
            case .image: response = try handleImage(call)
            case .database: response = try handleDatabase(call)
            case .identity: response = .empty(404)
            }
            response.headers += versionHeaders
            return response
        } catch {
            return ErrorEnvelope.response(
                for: error, service: route.service, acceptsJSON: request.acceptsJSON, extraHeaders: versionHeaders)
        }
    }
}

/// One authenticated service request with what every handler needs.
struct ServiceCall: Sendable {
    let request: HTTPRequestData
    let route: ServiceRoute
    let token: TokenRecord
    let query: QueryParameters
    let now: Timestamp
    let version: Microversion

    var method: String { request.method }
    var segments: [String] { route.segments }
    /// The token's project (handlers run only for project-scoped tokens).
    var projectID: String { token.projectID ?? "" }
    var userID: String { token.userID }

    /// The body as JSON; 400 when missing or malformed.
    func jsonBody() throws(ServiceFailure) -> JSON {
        switch request.jsonBody {
        case .success(let json?): return json
        case .success(nil), .failure: throw .badRequest("Malformed request body")
        }
    }

    /// `true` from microversion `major.minor`.
    func atLeast(_ major: Int, _ minor: Int) -> Bool {
        version >= Microversion(major, minor)
    }
}
