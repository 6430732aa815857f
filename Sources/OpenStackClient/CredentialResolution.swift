import OrderedJSON

/// Whose token a client sends, and the catalog that goes with it.
struct ResolvedAuth: Sendable {
    enum Acting: Sendable {
        /// The request's own token (for a trust-scoped request, renewed
        /// as it expires: see ``OpenStackClient/actingToken(for:)``).
        case user(token: String)
        /// The service user of `[keystone_authtoken]`, with its cached token
        /// (a Mistral without Keystone sends no token).
        case serviceUser(ServiceCredentials)
    }

    var acting: Acting
    var catalog: ServiceCatalog
    /// Substituted for `$(project_id)s` in endpoint URLs.
    var projectID: String?
    var tls: TLSOptions
}

extension OpenStackClient {
    /// Fails at once when the request's own (not trust-scoped) token has
    /// expired (its `expires_at` is past): every call would get a 401. A
    /// trust-scoped token is renewed instead (see ``actingToken(for:)``).
    func checkTokenExpiry(now: Double = Timestamps.now()) throws(OpenStackError) {
        guard credentials.authToken != nil, !credentials.isTrustScoped, let expiresAt = credentials.expiresAt,
            let expiry = Timestamps.parseISO8601(expiresAt), expiry <= now
        else { return }
        throw OpenStackError(
            kind: .unauthenticated(Self.expiredUserTokenMessage(expiresAt)), service: nil, method: "", path: "")
    }

    /// The catalog (and whose token goes with it) for this client's
    /// requests, found once:
    ///
    /// 1. With a token and a catalog in the request: those.
    /// 2. With a token but no catalog (trust-scoped or target-cloud
    ///    requests): the catalog Keystone gives when the service user
    ///    validates the token (`GET /v3/auth/tokens`, as Mistral does), or
    ///    without service credentials, `GET {auth_uri}/v3/auth/catalog`
    ///    with the token itself. A trust-scoped token that has expired (or
    ///    is about to) is renewed first, and the new token's catalog used.
    /// 3. Without a token: the service user's token and catalog.
    func resolve() async throws -> ResolvedAuth {
        try await resolvedAuthCache.value { try await findAuth() }
    }

    private func findAuth() async throws -> ResolvedAuth {
        let settings = session.settings
        let userTLS = TLSOptions(insecure: credentials.insecure, caFile: credentials.caFile)

        guard let token = credentials.authToken else {
            guard let service = settings.serviceCredentials else {
                throw Self.unauthenticated(
                    "the request carries no Keystone token (is Mistral's authentication off?) and no service "
                        + "credentials are configured in [keystone_authtoken]")
            }
            session.announceServiceUser(service, logger: logger)
            let serviceToken = try await session.serviceToken(service, logger: logger)
            guard let catalog = serviceToken.catalog else {
                throw OpenStackError(
                    kind: .invalidResponse("Keystone issued the service token without a catalog"),
                    service: .identity, method: "POST", path: "/v3/auth/tokens")
            }
            return ResolvedAuth(
                acting: .serviceUser(service), catalog: catalog, projectID: serviceToken.projectID,
                tls: TLSOptions(insecure: service.insecure, caFile: service.caFile))
        }

        if let catalog = credentials.catalog {
            return ResolvedAuth(acting: .user(token: token), catalog: catalog, projectID: credentials.projectID, tls: userTLS)
        }

        // A trust-scoped token past (or near) its expiry is renewed now;
        // the new token brings the catalog.
        let current = try await actingToken(requestToken: token)
        if let renewed = Self.renewedAuth(current, token: token, credentials: credentials, tls: userTLS) {
            return renewed
        }

        if let service = settings.serviceCredentials {
            switch try await validateWithServiceUser(current.id, service) {
            case .valid(let body):
                if credentials.isTrustScoped, let expiresAt = body["expires_at"]?.stringValue {
                    // Mistral sends no expires_at with trust-scoped
                    // contexts: Keystone's tells when to renew.
                    trustTokens.learn(expiresAt: expiresAt)
                    trustTokens.current.invalidate { $0.source == .requestToken }
                }
                guard let catalog = ServiceCatalog(json: .object(body)) else {
                    throw OpenStackError(
                        kind: .invalidResponse("Keystone's token has no catalog"), service: .identity, method: "GET",
                        path: "/v3/auth/tokens")
                }
                return ResolvedAuth(
                    acting: .user(token: token), catalog: catalog,
                    projectID: credentials.projectID ?? body["project"]?["id"]?.stringValue, tls: userTLS)
            case .notAccepted(let message):
                let rejection = "Keystone does not accept the request's token (invalid, revoked or expired): \(message)"
                guard credentials.isTrustScoped else {
                    throw OpenStackError(
                        kind: .unauthenticated(rejection), service: .identity, method: "GET", path: "/v3/auth/tokens")
                }
                let fresh = try await replaceRejectedTrustToken(current, rejection: rejection)
                guard let renewed = Self.renewedAuth(fresh, token: token, credentials: credentials, tls: userTLS) else {
                    throw OpenStackError(
                        kind: .invalidResponse("Keystone issued the token for the request's trust without a catalog"),
                        service: .identity, method: "POST", path: "/v3/auth/tokens")
                }
                return renewed
            }
        }

        if let authURL = credentials.authURL {
            let catalog = try await Keystone(executor: session.executor).catalog(
                authURL: authURL, token: current.id, source: current.source, tls: userTLS, logger: logger)
            return ResolvedAuth(acting: .user(token: token), catalog: catalog, projectID: credentials.projectID, tls: userTLS)
        }

        let what = credentials.isTrustScoped ? "a trust-scoped token without a service catalog" : "no service catalog"
        throw Self.unauthenticated(
            "the request carries \(what) and neither an auth_uri nor service credentials to fetch one; configure "
                + "[keystone_authtoken] (auth_url, username, password, project_name) so that the worker can look "
                + "the token up in Keystone")
    }

    /// The catalog of a renewed trust token, for a request that had none.
    private static func renewedAuth(
        _ acting: ActingToken, token: String, credentials: OpenStackCredentials, tls: TLSOptions
    ) -> ResolvedAuth? {
        guard acting.source == .refreshedTrustToken, let catalog = acting.catalog else { return nil }
        return ResolvedAuth(
            acting: .user(token: token), catalog: catalog, projectID: credentials.projectID ?? acting.projectID, tls: tls)
    }

    private enum Validation {
        case valid(JSONObject)
        /// Keystone's 404: the token is invalid, revoked or expired.
        case notAccepted(String)
    }

    /// Validates the request's token as the service user and returns its
    /// body. A service token Keystone no longer accepts is replaced once.
    private func validateWithServiceUser(_ token: String, _ service: ServiceCredentials) async throws -> Validation {
        let keystone = Keystone(executor: session.executor)
        var serviceToken = try await session.serviceToken(service, logger: logger)
        do {
            do {
                return .valid(
                    try await keystone.validate(
                        subjectToken: token, serviceToken: serviceToken.id, credentials: service, logger: logger))
            } catch let error as OpenStackError where error.status == 401 {
                session.dropServiceToken(serviceToken.id)
                serviceToken = try await session.serviceToken(service, logger: logger)
                return .valid(
                    try await keystone.validate(
                        subjectToken: token, serviceToken: serviceToken.id, credentials: service, logger: logger))
            }
        } catch let error as OpenStackError where error.status == 404 {
            return .notAccepted(error.message)
        }
    }

    private static func unauthenticated(_ message: String) -> OpenStackError {
        OpenStackError(kind: .unauthenticated(message), service: nil, method: "", path: "")
    }
}
