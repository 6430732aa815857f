import Logging
import OrderedJSON
import Synchronization

/// The worker's one HTTP client for OpenStack: connections are reused across
/// actions, requests to one service endpoint are limited, service tokens
/// are cached. Shut it down once, when the worker stops.
public final class OpenStackSession: Sendable {
    /// The settings of every client of the session.
    public let settings: OpenStackSettings
    let logger: Logger
    let executor: RequestExecutor
    private let transport: HTTPTransport
    private let serviceTokens = SingleFlight<ServiceToken>()
    private let hasAnnouncedServiceUser = Mutex(false)

    /// A session (one HTTP client pool); call ``shutdown()`` when done.
    public init(settings: OpenStackSettings, logger: Logger, metrics: OpenStackMetrics = OpenStackMetrics()) {
        self.settings = settings
        self.logger = logger
        self.transport = HTTPTransport(settings: settings, logger: logger)
        self.executor = RequestExecutor(transport: transport, settings: settings, metrics: metrics)
    }

    /// Closes the connections. Requests after this fail. Calling it again
    /// does nothing.
    public func shutdown() async throws {
        try await transport.shutdown()
    }

    /// A client acting with `credentials`. `region` is the action's own
    /// `action_region` input, which wins over the request's region and the
    /// configured default.
    public func client(credentials: OpenStackCredentials, region: String? = nil, logger: Logger) -> OpenStackClient {
        OpenStackClient(session: self, credentials: credentials, actionRegion: region, logger: logger)
    }

    /// The region to look `service` up in: the action's input, the
    /// request's region, `[openstack_actions] default_region`, and for
    /// Keystone itself `[keystone_authtoken] region_name` (like
    /// mistral-extra); nil for any region.
    func region(for service: OpenStackService, actionRegion: String?, credentials: OpenStackCredentials) -> String? {
        let candidates = [
            actionRegion, credentials.regionName, settings.defaultRegion,
            service == .identity ? settings.serviceCredentials?.regionName : nil,
        ]
        return candidates.lazy.compactMap { $0 }.first { !$0.isEmpty }
    }

    // MARK: Service token

    /// The service user's token, cached until shortly before it expires;
    /// concurrent callers share one request to Keystone.
    func serviceToken(_ credentials: ServiceCredentials, logger: Logger) async throws -> ServiceToken {
        try await serviceTokens.value(isUsable: { $0.isUsable() }) {
            logger.debug(
                "Fetching a service token",
                metadata: ["openstack.service_user": "\(credentials.username)@\(credentials.projectName)"])
            return try await Keystone(executor: executor).issueServiceToken(credentials, logger: logger)
        }
    }

    /// Forgets the cached service token `id` (Keystone or a service
    /// rejected it).
    func dropServiceToken(_ id: String) {
        serviceTokens.invalidate { $0.id == id }
    }

    /// Says once per session that requests without a token act as the
    /// service user.
    func announceServiceUser(_ credentials: ServiceCredentials, logger: Logger) {
        let first = hasAnnouncedServiceUser.withLock { announced in
            defer { announced = true }
            return !announced
        }
        if first {
            logger.info(
                "Requests without a Keystone token use the service credentials of [keystone_authtoken]",
                metadata: ["openstack.service_user": "\(credentials)"])
        }
    }
}

/// Calls OpenStack services on behalf of one request's credentials.
public struct OpenStackClient: Sendable {
    static let userAgent = "mistral-actions"

    let session: OpenStackSession
    let credentials: OpenStackCredentials
    let actionRegion: String?
    let logger: Logger
    /// The token and catalog to use, found once per client (per action run).
    let resolvedAuthCache = SingleFlight<ResolvedAuth>()
    /// The token of a trust-scoped request as it is renewed.
    let trustTokens = TrustTokenState()
    /// Seconds before its expiry a trust-scoped token is renewed (tests
    /// widen it to make "about to expire" independent of the clock).
    var trustRenewalMargin = OpenStackClient.defaultTrustRenewalMargin

    init(session: OpenStackSession, credentials: OpenStackCredentials, actionRegion: String?, logger: Logger) {
        self.session = session
        self.credentials = credentials
        self.actionRegion = actionRegion
        self.logger = logger
    }

    /// Sends the request (resolving the endpoint, adding the token and
    /// the microversion, retrying idempotent calls) and returns a 2xx
    /// answer.
    ///
    /// - Throws: ``OpenStackError`` for any non-2xx answer and any failure;
    ///   `CancellationError` when the task is cancelled.
    public func send(_ request: OpenStackRequest) async throws -> OpenStackResponse {
        do {
            return try await perform(request)
        } catch var error as OpenStackError {
            // Errors found before any request (credentials, catalog) name
            // the request they stopped.
            if error.method.isEmpty {
                error.service = request.service
                error.method = request.method
                error.path = request.path
            }
            throw error
        }
    }

    /// The endpoint URL the client uses for a service (after region,
    /// interface and `$(project_id)s` substitution), without a trailing `/`.
    public func endpoint(for service: OpenStackService) async throws -> String {
        try checkTokenExpiry()
        let auth = try await resolve()
        return try endpoint(for: service, auth: auth, token: try await actingToken(for: auth))
    }

    /// The endpoint of `service`: from the request's catalog, or for a
    /// request that came without one, from the renewed trust token's.
    private func endpoint(
        for service: OpenStackService, auth: ResolvedAuth, token: ActingToken
    ) throws(OpenStackError) -> String {
        var catalog = auth.catalog
        if credentials.catalog == nil, token.source == .refreshedTrustToken, let renewed = token.catalog {
            catalog = renewed
        }
        return try catalog.endpoint(
            for: service, region: session.region(for: service, actionRegion: actionRegion, credentials: credentials),
            interface: session.settings.interface, projectID: auth.projectID ?? token.projectID)
    }

    private func perform(_ request: OpenStackRequest) async throws -> OpenStackResponse {
        try checkTokenExpiry()
        let auth = try await resolve()
        var body: [UInt8]?
        if let json = request.body {
            do {
                body = try json.encoded(style: .compact)
            } catch {
                throw OpenStackError(
                    kind: .transport("the request body cannot be written as JSON: \(error)"),
                    service: request.service, method: request.method, path: request.path)
            }
        }
        let token = try await actingToken(for: auth)
        var call = try makeCall(request, auth: auth, token: token, body: body, redacting: [])
        var result = try await session.executor.execute(call, logger: logger)
        guard result.status == 401 else { return try Self.response(from: result, call: call) }

        let metadata: Logger.Metadata = [
            "openstack.service": "\(request.service.rawValue)", "http.method": "\(request.method)",
            "http.path": "\(request.path)", "http.status": "401",
        ]
        let fresh: ActingToken
        switch auth.acting {
        case .serviceUser(let credentials):
            // The cached service token was revoked or expired early: one new
            // token, one more try.
            session.dropServiceToken(token.id)
            fresh = ActingToken(id: try await session.serviceToken(credentials, logger: logger).id, source: .serviceUser)
            logger.notice("The service token was rejected; retrying with a new one", metadata: metadata)
        case .user where credentials.isTrustScoped:
            // The trust-scoped token expired (or was revoked) during the
            // action: one new token for the trust, one more try. The 401
            // came from keystonemiddleware, before the service acted, so
            // even a write is safe to send again.
            let said = call.redaction.apply(ErrorBody(body: result.body).message)
            let whose = token.source == .requestToken ? "the request's" : "the renewed"
            fresh = try await replaceRejectedTrustToken(
                token,
                rejection: "\(request.service.projectName) rejected \(whose) trust-scoped Keystone token (401"
                    + (said.isEmpty ? ")" : ": \(said))")
                    + (token.expiresAtText.map { "; it expires at \($0)" } ?? ""))
            logger.notice("The trust-scoped token was rejected; retrying with a new token for the trust", metadata: metadata)
        case .user:
            throw userTokenRejected(result, call: call)
        }
        call = try makeCall(request, auth: auth, token: fresh, body: body, redacting: [token.id])
        result = try await session.executor.execute(call, logger: logger)
        if result.status == 401, fresh.source == .refreshedTrustToken {
            var error = Keystone.httpError(result, call: call)
            if case .http(let status, let fault, let message) = error.kind {
                let note = "a token Keystone had just issued for the request's trust was rejected too"
                error.kind = .http(status: status, fault: fault, message: message.isEmpty ? note : "\(message) (\(note))")
            }
            throw error
        }
        return try Self.response(from: result, call: call)
    }

    private func makeCall(
        _ request: OpenStackRequest, auth: ResolvedAuth, token: ActingToken, body: [UInt8]?, redacting: [String]
    ) throws(OpenStackError) -> HTTPCall {
        let endpoint = try endpoint(for: request.service, auth: auth, token: token)
        return HTTPCall(
            service: request.service, method: request.method,
            url: RequestURL.make(endpoint: endpoint, path: request.path, query: request.query),
            path: request.path, headers: Self.headers(for: request, token: token.id, hasBody: body != nil), body: body,
            isIdempotent: request.isIdempotent, tls: auth.tls, redaction: Redaction(secrets: [token.id] + redacting),
            credentialSource: token.source, trustScoped: credentials.isTrustScoped && token.source != .serviceUser)
    }

    static func headers(
        for request: OpenStackRequest, token: String, hasBody: Bool
    ) -> [(name: String, value: String)] {
        var headers: [(name: String, value: String)] = [
            (name: "X-Auth-Token", value: token),
            (name: "Accept", value: "application/json"),
            (name: "User-Agent", value: userAgent),
        ]
        if hasBody {
            // Glance updates images with a JSON patch of its own media type.
            let isImagePatch = request.service == .image && request.method == "PATCH"
            headers.append(
                (
                    name: "Content-Type",
                    value: isImagePatch ? "application/openstack-images-v2.1-json-patch" : "application/json"
                ))
        }
        if let version = request.microversion, let type = request.service.microversionType {
            headers.append((name: "OpenStack-API-Version", value: "\(type) \(version)"))
            if request.service == .compute {
                headers.append((name: "X-OpenStack-Nova-API-Version", value: version))
            }
        }
        return headers
    }

    /// The 2xx answer, or the service's error.
    package static func response(from result: HTTPResult, call: HTTPCall) throws -> OpenStackResponse {
        guard (200..<300).contains(result.status) else { throw Keystone.httpError(result, call: call) }
        var body: JSON?
        if result.body.contains(where: { !Self.isJSONWhitespace($0) }) {
            do {
                body = try JSON(parsing: result.body)
            } catch {
                throw OpenStackError(
                    kind: .invalidResponse("a \(result.status) answer whose body is not JSON (\(error))"),
                    service: call.service, method: call.method, path: call.path)
            }
        }
        return OpenStackResponse(status: result.status, headers: result.headers, body: body)
    }

    private static func isJSONWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }
}

extension OpenStackClient {
    /// `GET path` of `service` (retried on transient failures).
    public func get(
        _ service: OpenStackService, _ path: String, query: [(name: String, value: String)] = [],
        microversion: String? = nil
    ) async throws -> OpenStackResponse {
        try await send(OpenStackRequest("GET", service, path, query: query, microversion: microversion))
    }

    /// `POST path` of `service` with a JSON body (not retried once sent).
    public func post(
        _ service: OpenStackService, _ path: String, body: JSON?, microversion: String? = nil
    ) async throws -> OpenStackResponse {
        try await send(OpenStackRequest("POST", service, path, body: body, microversion: microversion))
    }

    /// `DELETE path` of `service`.
    public func delete(_ service: OpenStackService, _ path: String, microversion: String? = nil) async throws -> OpenStackResponse {
        try await send(OpenStackRequest("DELETE", service, path, microversion: microversion))
    }
}
