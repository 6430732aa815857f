import Logging
import OrderedJSON

/// A token of the service user (`[keystone_authtoken]`), with what came in
/// its body.
struct ServiceToken: Sendable {
    var id: String
    /// Seconds since 1970; nil when Keystone did not say.
    var expiresAt: Double?
    var projectID: String?
    var catalog: ServiceCatalog?
    /// When the cache lets the token go: ``refreshMargin`` before it
    /// expires, so that no request starts with a token about to lapse, or
    /// halfway through a lifetime shorter than twice the margin (so that a
    /// cloud with short-lived tokens does not get a token request per call).
    var refreshAt: Double?

    static let refreshMargin: Double = 5 * 60

    init(
        id: String, expiresAt: Double?, projectID: String? = nil, catalog: ServiceCatalog? = nil,
        issuedAt: Double = Timestamps.now()
    ) {
        self.id = id
        self.expiresAt = expiresAt
        self.projectID = projectID
        self.catalog = catalog
        self.refreshAt = expiresAt.map { $0 - min(Self.refreshMargin, max(0, $0 - issuedAt) / 2) }
    }

    func isUsable(now: Double = Timestamps.now()) -> Bool {
        guard let refreshAt else { return true }
        return now < refreshAt
    }
}

/// The Keystone calls of the client: issuing the service token, validating
/// a token, fetching a catalog.
struct Keystone {
    let executor: RequestExecutor

    /// The password-auth body for `credentials`, project-scoped by name.
    static func passwordAuthBody(_ credentials: ServiceCredentials) -> JSON {
        passwordAuthBody(
            credentials,
            scope: [
                "project": [
                    "name": .string(credentials.projectName),
                    "domain": ["name": .string(credentials.projectDomainName)],
                ]
            ])
    }

    /// The password-auth body for `credentials` (the trustee), scoped to
    /// the trust `trustID`: what Mistral's `client_for_trusts` sends.
    static func trustAuthBody(_ credentials: ServiceCredentials, trustID: String) -> JSON {
        passwordAuthBody(credentials, scope: ["OS-TRUST:trust": ["id": .string(trustID)]])
    }

    private static func passwordAuthBody(_ credentials: ServiceCredentials, scope: JSON) -> JSON {
        [
            "auth": [
                "identity": [
                    "methods": ["password"],
                    "password": [
                        "user": [
                            "name": .string(credentials.username),
                            "domain": ["name": .string(credentials.userDomainName)],
                            "password": .string(credentials.password),
                        ]
                    ],
                ],
                "scope": scope,
            ]
        ]
    }

    /// `POST {auth}/v3/auth/tokens` with the service user's password.
    func issueServiceToken(_ credentials: ServiceCredentials, logger: Logger) async throws -> ServiceToken {
        let issued = try await issueToken(
            body: Self.passwordAuthBody(credentials), credentials: credentials, secrets: [], logger: logger
        ) { status, message in
            guard status == 401 else { return nil }
            return "Keystone rejected the service credentials of [keystone_authtoken] (\(credentials))"
                + (message.isEmpty ? "" : ": \(message)")
        }
        return ServiceToken(
            id: issued.id,
            expiresAt: issued.token["expires_at"]?.stringValue.flatMap(Timestamps.parseISO8601),
            projectID: issued.token["project"]?["id"]?.stringValue,
            catalog: ServiceCatalog(json: .object(issued.token)))
    }

    /// `POST {auth}/v3/auth/tokens` as the trustee (the `[keystone_authtoken]`
    /// user, whom Mistral makes the trustee of its trusts), scoped to the
    /// trust `trustID`. Returns the token id and body; the trust id never
    /// appears in errors.
    func issueTrustToken(
        _ credentials: ServiceCredentials, trustID: String, logger: Logger
    ) async throws -> (id: String, token: JSONObject) {
        try await issueToken(
            body: Self.trustAuthBody(credentials, trustID: trustID), credentials: credentials, secrets: [trustID],
            logger: logger
        ) { status, message in
            let said = message.isEmpty ? "" : ": \(message)"
            switch status {
            case 401:
                // Keystone answers 401 both for a wrong password and for a trust it does not
                // find (deleted, expired, used up: keystone/api/_shared/authentication.py).
                return "Keystone rejected the trustee credentials of [keystone_authtoken] (\(credentials)) or the "
                    + "request's trust (deleted, expired or used up)\(said)"
            case 403:
                return "Keystone refused the [keystone_authtoken] user (\(credentials)) a token for the request's trust"
                    + "\(said) (Mistral makes its own [keystone_authtoken] user the trustee: does the worker use the "
                    + "same user as Mistral?)"
            case 404:
                return "Keystone does not know the request's trust (deleted, or expired)\(said)"
            default:
                return nil
            }
        }
    }

    /// Issues a token with a password `body`. `unauthenticatedMessage`
    /// turns an error status and Keystone's (redacted) message into the
    /// text of an `.unauthenticated` error, or nil for a plain `.http` one.
    private func issueToken(
        body json: JSON, credentials: ServiceCredentials, secrets: [String], logger: Logger,
        unauthenticatedMessage: (Int, String) -> String?
    ) async throws -> (id: String, token: JSONObject) {
        let path = "/v3/auth/tokens"
        let body: [UInt8]
        do {
            body = try json.encoded(style: .compact)
        } catch {
            throw OpenStackError(
                kind: .invalidResponse("cannot encode the token request: \(error)"), service: .identity,
                method: "POST", path: path)
        }
        let call = HTTPCall(
            service: .identity, method: "POST", url: IdentityURL.make(authURL: credentials.authURL, path: "auth/tokens"),
            path: path, headers: Self.jsonHeaders(token: nil, hasBody: true), body: body,
            // Issuing a second token does no harm.
            isIdempotent: true,
            tls: TLSOptions(insecure: credentials.insecure, caFile: credentials.caFile),
            redaction: Redaction(secrets: [credentials.password] + secrets), credentialSource: .serviceUser)
        let result = try await executor.execute(call, logger: logger)
        guard (200..<300).contains(result.status) else {
            let failure = ErrorBody(body: result.body)
            let message = call.redaction.apply(failure.message)
            if let text = unauthenticatedMessage(result.status, message) {
                throw OpenStackError(kind: .unauthenticated(text), service: .identity, method: "POST", path: path)
            }
            throw OpenStackError(
                kind: .http(status: result.status, fault: failure.fault, message: message), service: .identity,
                method: "POST", path: path, retryAfterSeconds: RetryAfter.seconds(result.header("Retry-After")))
        }
        guard let id = result.header("X-Subject-Token"), Self.isPlausibleToken(id) else {
            throw OpenStackError(
                kind: .invalidResponse("Keystone issued a token without a usable X-Subject-Token header"),
                service: .identity, method: "POST", path: path)
        }
        return (id, try Self.tokenBody(result, method: "POST", path: path))
    }

    /// A token id that can go into a header: 1 to 16384 visible ASCII
    /// characters (Fernet tokens are about 200; PKI tokens were a few KiB).
    static func isPlausibleToken(_ id: String) -> Bool {
        let bytes = id.utf8
        return !bytes.isEmpty && bytes.count <= 16_384 && bytes.allSatisfy { $0 > 0x20 && $0 < 0x7F }
    }

    /// `GET {auth}/v3/auth/tokens`: validates `subjectToken` with the
    /// service token and returns the subject token's body (`token`).
    ///
    /// - Throws: ``OpenStackError`` `.http` with Keystone's status: 401 when
    ///   the service token is not accepted, 404 when the subject token is not.
    func validate(
        subjectToken: String, serviceToken: String, credentials: ServiceCredentials, logger: Logger
    ) async throws -> JSONObject {
        let path = "/v3/auth/tokens"
        var headers = Self.jsonHeaders(token: serviceToken, hasBody: false)
        headers.append((name: "X-Subject-Token", value: subjectToken))
        let call = HTTPCall(
            service: .identity, method: "GET", url: IdentityURL.make(authURL: credentials.authURL, path: "auth/tokens"),
            path: path, headers: headers, body: nil, isIdempotent: true,
            tls: TLSOptions(insecure: credentials.insecure, caFile: credentials.caFile),
            redaction: Redaction(secrets: [subjectToken, serviceToken]), credentialSource: .serviceUser)
        let result = try await executor.execute(call, logger: logger)
        guard (200..<300).contains(result.status) else { throw Self.httpError(result, call: call) }
        return try Self.tokenBody(result, method: "GET", path: path)
    }

    /// `GET {authURL}/v3/auth/catalog` with the user's own token.
    func catalog(
        authURL: String, token: String, source: CredentialSource = .requestToken, tls: TLSOptions, logger: Logger
    ) async throws -> ServiceCatalog {
        let path = "/v3/auth/catalog"
        let call = HTTPCall(
            service: .identity, method: "GET", url: IdentityURL.make(authURL: authURL, path: "auth/catalog"),
            path: path, headers: Self.jsonHeaders(token: token, hasBody: false), body: nil, isIdempotent: true,
            tls: tls, redaction: Redaction(secrets: [token]), credentialSource: source)
        let result = try await executor.execute(call, logger: logger)
        guard (200..<300).contains(result.status) else {
            let error = Self.httpError(result, call: call)
            if result.status == 401 || result.status == 404 {
                throw OpenStackError(
                    kind: .unauthenticated("Keystone does not accept the request's token: \(error.message)"),
                    service: .identity, method: "GET", path: path)
            }
            throw error
        }
        guard let json = try? JSON(parsing: result.body), let catalog = ServiceCatalog(json: json) else {
            throw OpenStackError(
                kind: .invalidResponse("Keystone's catalog is not a {\"catalog\": [...]} object"), service: .identity,
                method: "GET", path: path)
        }
        return catalog
    }

    static func jsonHeaders(token: String?, hasBody: Bool) -> [(name: String, value: String)] {
        var headers: [(name: String, value: String)] = [
            (name: "Accept", value: "application/json"),
            (name: "User-Agent", value: OpenStackClient.userAgent),
        ]
        if hasBody { headers.append((name: "Content-Type", value: "application/json")) }
        if let token { headers.append((name: "X-Auth-Token", value: token)) }
        return headers
    }

    static func httpError(_ result: HTTPResult, call: HTTPCall) -> OpenStackError {
        let failure = ErrorBody(body: result.body)
        return OpenStackError(
            kind: .http(status: result.status, fault: failure.fault, message: call.redaction.apply(failure.message)),
            service: call.service, method: call.method, path: call.path,
            retryAfterSeconds: RetryAfter.seconds(result.header("Retry-After")))
    }

    private static func tokenBody(_ result: HTTPResult, method: String, path: String) throws -> JSONObject {
        guard let json = try? JSON(parsing: result.body), let token = json["token"]?.objectValue else {
            throw OpenStackError(
                kind: .invalidResponse("Keystone's answer is not a {\"token\": {...}} object"), service: .identity,
                method: method, path: path)
        }
        return token
    }
}
