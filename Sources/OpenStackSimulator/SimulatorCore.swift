import Logging
import OrderedJSON
import Synchronization

/// The simulator behind the HTTP server: the locked cloud state, the control API and the
/// per-request log line. Every call is short and synchronous, so it runs on the event loop.
final class SimulatorCore: Sendable {
    let baseURL: String
    private let state: Mutex<CloudState>
    /// What `reset` goes back to: the default seed (if enabled) and the configured extra seed.
    private let seeds: [JSON]
    private let logger: Logger

    init(baseURL: String, configuration: SimulatorConfiguration) throws(SimulatorError) {
        self.baseURL = baseURL
        var seeds: [JSON] = []
        if configuration.loadDefaultSeed { seeds.append(defaultSeed) }
        if let extra = configuration.seed { seeds.append(extra) }
        self.seeds = seeds
        logger = configuration.logger
        var initial = CloudState(baseURL: baseURL, settings: configuration.settings)
        for seed in seeds {
            _ = try initial.seed(seed)
        }
        state = Mutex(initial)
    }

    func withState<Result: Sendable>(_ body: (inout CloudState) throws(SimulatorError) -> Result) throws(SimulatorError)
        -> Result
    {
        try state.withLock { (state: inout CloudState) throws(SimulatorError) -> Result in try body(&state) }
    }

    func access<Result: Sendable>(_ body: (inout CloudState) -> Result) -> Result {
        state.withLock { body(&$0) }
    }

    /// Back to the seed state: resources re-seeded; faults, request log and pending transitions
    /// cleared. Users, tokens and settings are kept.
    func reset() {
        state.withLock { state in
            state.clearResources()
            for seed in seeds {
                _ = try? state.seed(seed)
            }
        }
    }

    // MARK: - Requests

    func respond(to request: HTTPRequestData) -> HTTPResponseData {
        let match = Router.match(request, baseURL: baseURL)
        if case .control(let segments) = match {
            let response = control(request, segments: segments)
            logger.debug("\(request.method) \(request.path) \(response.status)")
            return response
        }
        let response = state.withLock { $0.handleService(request, match: match) }
        if response.resetConnection {
            logger.info("\(request.method) \(request.path) reset")
        } else {
            logger.info("\(request.method) \(request.path) \(response.status)")
        }
        return response
    }

    // MARK: - Control API (`/_simulator/...`, no auth)

    private func control(_ request: HTTPRequestData, segments: [String]) -> HTTPResponseData {
        do throws(SimulatorError) {
            return try routeControl(request, segments: segments)
        } catch {
            return .json(400, ["error": .string(error.message)])
        }
    }

    private func body(_ request: HTTPRequestData) throws(SimulatorError) -> JSON {
        switch request.jsonBody {
        case .success(let json?): return json
        case .success(nil): throw SimulatorError("a JSON body is required")
        case .failure(let error): throw SimulatorError("the body is not valid JSON: \(error)")
        }
    }

    private func routeControl(_ request: HTTPRequestData, segments: [String]) throws(SimulatorError) -> HTTPResponseData {
        switch (request.method, segments) {
        case ("GET", ["health"]):
            return .json(200, ["status": "ok"])
        case ("POST", ["reset"]):
            reset()
            return .json(200, ["status": "ok"])
        case ("POST", ["seed"]):
            let seed = try body(request)
            return .json(200, try withState { (state: inout CloudState) throws(SimulatorError) -> JSON in try state.seed(seed) })
        case ("GET", ["state"]):
            return .json(200, access { $0.stateView() })
        case ("GET", ["faults"]):
            return .json(200, .array(access { $0.faults.map(\.rule.json) }))
        case ("PUT", ["faults"]), ("POST", ["faults"]):
            let json = try body(request)
            guard let list = json.arrayValue ?? json["faults"]?.arrayValue else {
                throw SimulatorError("expected a list of fault rules")
            }
            var rules: [FaultRule] = []
            for item in list { rules.append(try FaultRule(json: item)) }
            setFaults(rules)
            return .json(200, .array(rules.map(\.json)))
        case ("DELETE", ["faults"]):
            setFaults([])
            return .empty(204)
        case ("GET", ["requests"]):
            return .json(200, .array(access { $0.requestLog.map(\.json) }))
        case ("DELETE", ["requests"]):
            access { $0.requestLog = [] }
            return .empty(204)
        case ("POST", ["tokens", "expire"]):
            // `{"tokens": ["<id>", ...]}` expires only those; no body (or no list) expires all.
            let json = (try? body(request)) ?? [:]
            var only: [String]?
            if let list = json["tokens"] {
                guard let ids = list.arrayValue?.compactMap(\.stringValue), ids.count == list.arrayValue?.count else {
                    throw SimulatorError("tokens must be a list of token ids")
                }
                only = ids
            }
            return .json(200, ["expired": .integer(Int64(expireTokens(only: only)))])
        case ("POST", ["tokens"]):
            let json = (try? body(request)) ?? [:]
            if let trust = json["trust"] {
                // A token for the trust's trustee, scoped to the trust (a cron trigger's token).
                guard let trustID = trust.stringValue else { throw SimulatorError("trust must be a trust id") }
                let issued = try issueTrustToken(
                    trustID: trustID, includeCatalog: json["nocatalog"]?.boolValue != true)
                return .json(
                    201, ["id": .string(issued.id), "body": issued.response], headers: [("X-Subject-Token", issued.id)])
            }
            let issued = try issueToken(
                user: json["user"]?.stringValue ?? SimulatorDefaults.adminUserName,
                project: json["project"].map { $0.isNull ? nil : $0.stringValue } ?? SimulatorDefaults.demoProjectName,
                includeCatalog: json["nocatalog"]?.boolValue != true)
            return .json(201, ["id": .string(issued.id), "body": issued.response], headers: [("X-Subject-Token", issued.id)])
        case ("POST", ["clock", "advance"]):
            let seconds = (try? body(request))?["seconds"]?.doubleValue
            guard let seconds, seconds >= 0 else { throw SimulatorError("expected {\"seconds\": <non-negative number>}") }
            return .json(200, ["now": .string(advanceClock(by: seconds).keystoneFormat)])
        case ("GET", ["settings"]):
            return .json(200, access { $0.settings.json })
        case ("PUT", ["settings"]), ("POST", ["settings"]), ("PATCH", ["settings"]):
            let json = try body(request)
            let settings = try withState { (state: inout CloudState) throws(SimulatorError) -> SimulatorSettings in
                var updated = state.settings
                try updated.apply(json)
                state.settings = updated
                return updated
            }
            return .json(200, settings.json)
        default:
            return .json(404, ["error": .string("no control operation \(request.method) /_simulator/\(segments.joined(separator: "/"))")])
        }
    }

    // MARK: - Operations shared by the control API and the Swift API

    func setFaults(_ rules: [FaultRule]) {
        access { $0.faults = rules.map { ActiveFault(rule: $0, remaining: $0.times) } }
    }

    /// Moves the simulated clock ahead and applies the transitions that come due; returns the new time.
    @discardableResult
    func advanceClock(by seconds: Double) -> Timestamp {
        access { state in
            state.clock.skip(seconds: seconds)
            let now = state.clock.now()
            state.advance(to: now)
            return now
        }
    }

    /// Expires every issued token (or only those in `only`); returns how many were still valid.
    @discardableResult
    func expireTokens(only: [String]? = nil) -> Int {
        access { state in
            let now = state.clock.now()
            var count = 0
            for id in only ?? Array(state.identity.tokens.keys) {
                guard let token = state.identity.tokens[id] else { continue }
                if token.isValid(at: now) { count += 1 }
                state.identity.tokens[id]?.expiresAt = now.adding(seconds: -1)
            }
            return count
        }
    }

    func issueTrustToken(trustID: String, includeCatalog: Bool) throws(SimulatorError) -> IssuedToken {
        try withState { (state: inout CloudState) throws(SimulatorError) -> IssuedToken in
            let token = try state.mintTrustToken(trustID: trustID, now: state.clock.now())
            return IssuedToken(
                id: token.id, response: state.tokenBody(token, includeCatalog: includeCatalog),
                expiresAt: token.expiresAt.keystoneFormat)
        }
    }

    func issueToken(user: String, project: String?, includeCatalog: Bool) throws(SimulatorError) -> IssuedToken {
        try withState { (state: inout CloudState) throws(SimulatorError) -> IssuedToken in
            let now = state.clock.now()
            let token = try state.mintToken(userReference: user, projectReference: project, now: now)
            return IssuedToken(
                id: token.id, response: state.tokenBody(token, includeCatalog: includeCatalog),
                expiresAt: token.expiresAt.keystoneFormat)
        }
    }
}
