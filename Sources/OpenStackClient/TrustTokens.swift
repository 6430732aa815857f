import Logging
import OrderedJSON
import Synchronization

/// The token one call sends, and what came with it.
struct ActingToken: Sendable {
    var id: String
    var source: CredentialSource
    /// When the token expires, as written (by Mistral or Keystone): for
    /// messages only.
    var expiresAtText: String?
    /// When to stop using it, on the worker's clock (seconds since 1970);
    /// nil: until a service rejects it.
    var renewAt: Double?
    /// The catalog and project that came with a token the worker got
    /// itself; nil for the request's own token.
    var catalog: ServiceCatalog?
    var projectID: String?
}

/// What a client knows about the token of a trust-scoped request: the
/// token its calls send now (the request's own, then the renewals), shared
/// by all calls of the client so that concurrent calls renew it once.
final class TrustTokenState: Sendable {
    private struct Knowledge {
        /// `expires_at` of the request's token as Keystone reported it,
        /// when the request did not say.
        var learnedExpiry: String?
        /// The request's token was rejected or replaced: never sent again.
        var requestTokenRetired = false
    }

    let current = SingleFlight<ActingToken>()
    private let knowledge = Mutex(Knowledge())

    var learnedExpiry: String? { knowledge.withLock { $0.learnedExpiry } }
    var isRequestTokenRetired: Bool { knowledge.withLock { $0.requestTokenRetired } }

    func learn(expiresAt: String) {
        knowledge.withLock { $0.learnedExpiry = expiresAt }
    }

    func retireRequestToken() {
        knowledge.withLock { $0.requestTokenRetired = true }
    }
}

extension OpenStackClient {
    /// How long before it expires a trust-scoped token is renewed (or half
    /// the life of a renewed token, when that is shorter).
    static let defaultTrustRenewalMargin: Double = 60

    /// When the request's token expires: the request's `expires_at`, or the
    /// one Keystone reported when the worker looked the token up. Nil when
    /// neither is known or readable (a hostile value is simply not known).
    func requestTokenExpiry() -> (text: String, seconds: Double)? {
        for text in [credentials.expiresAt, trustTokens.learnedExpiry] {
            if let text, let seconds = Timestamps.parseISO8601(text) { return (text, seconds) }
        }
        return nil
    }

    /// The token the next call sends for `auth`.
    func actingToken(for auth: ResolvedAuth) async throws -> ActingToken {
        switch auth.acting {
        case .serviceUser(let service):
            return ActingToken(id: try await session.serviceToken(service, logger: logger).id, source: .serviceUser)
        case .user(let token):
            return try await actingToken(requestToken: token)
        }
    }

    /// The request's token; for a trust-scoped request whose token expires
    /// within ``trustRenewalMargin`` (or has expired, or was rejected), a
    /// new token for the same trust. Concurrent callers share one renewal.
    func actingToken(requestToken token: String) async throws -> ActingToken {
        guard credentials.isTrustScoped else { return ActingToken(id: token, source: .requestToken) }
        return try await trustTokens.current.value(isUsable: { isUsable($0, now: Timestamps.now()) }) {
            try await nextTrustToken(requestToken: token, rejection: nil)
        }
    }

    /// After a 401 for `rejected`: the token to retry with, a new one for
    /// the trust. Calls rejected with the same token share one renewal.
    func replaceRejectedTrustToken(_ rejected: ActingToken, rejection: String) async throws -> ActingToken {
        if rejected.source == .requestToken { trustTokens.retireRequestToken() }
        trustTokens.current.invalidate { $0.id == rejected.id }
        let requestToken = credentials.authToken ?? rejected.id
        return try await trustTokens.current.value(isUsable: { isUsable($0, now: Timestamps.now()) }) {
            try await nextTrustToken(requestToken: requestToken, rejection: rejection)
        }
    }

    private func requestActingToken(_ token: String) -> ActingToken {
        let expiry = requestTokenExpiry()
        return ActingToken(
            id: token, source: .requestToken, expiresAtText: expiry?.text,
            renewAt: expiry.map { $0.seconds - trustRenewalMargin })
    }

    private func isUsable(_ token: ActingToken, now: Double) -> Bool {
        if token.source == .requestToken, trustTokens.isRequestTokenRetired { return false }
        guard let renewAt = token.renewAt else { return true }
        return now < renewAt
    }

    /// The request's token while it is good, else a renewal. A renewal
    /// that fails while the request's token has not expired yet (it is
    /// only close to expiry) leaves the request's token in use.
    private func nextTrustToken(requestToken: String, rejection: String?) async throws -> ActingToken {
        let now = Timestamps.now()
        let request = requestActingToken(requestToken)
        let retired = trustTokens.isRequestTokenRetired
        if rejection == nil, !retired, isUsable(request, now: now) { return request }

        let expiry = requestTokenExpiry()
        let why: String
        if let rejection {
            why = rejection
        } else if retired {
            why = "the trust token the worker got for the request expires"
                + (request.expiresAtText.map { " (the request's own expired at \($0))" } ?? "")
        } else if let expiry, expiry.seconds <= now {
            why = "the request's trust-scoped Keystone token expired at \(expiry.text)"
        } else {
            why = "the request's trust-scoped Keystone token expires at \(expiry?.text ?? "an unknown time")"
        }
        let stillValid = rejection == nil && !retired && (expiry.map { now < $0.seconds } ?? true)
        do {
            return try await renewTrustToken(because: why)
        } catch let error as OpenStackError where stillValid {
            if session.settings.serviceCredentials != nil, credentials.trustID != nil {
                logger.warning(
                    "Could not renew the request's trust-scoped token ahead of its expiry; using it while it lasts",
                    metadata: ["openstack.error": "\(error)"])
            }
            return request
        }
    }

    /// A new token for the request's trust, got as the trustee: the
    /// `[keystone_authtoken]` user.
    private func renewTrustToken(because why: String) async throws -> ActingToken {
        guard let trustee = session.settings.serviceCredentials else {
            throw Self.cannotRenew(
                why,
                "the worker authenticates as the trustee, the [keystone_authtoken] user Mistral made the trust "
                    + "for, and no such user is configured: set [keystone_authtoken] auth_url (or "
                    + "www_authenticate_uri), username, password and project_name as in Mistral's own configuration")
        }
        guard let trustID = credentials.trustID else {
            throw Self.cannotRenew(why, "the request's context carries no trust_id")
        }
        logger.info(
            "Renewing the request's trust-scoped token",
            metadata: ["openstack.reason": "\(why)", "openstack.trustee": "\(trustee.username)"])
        let path = "/v3/auth/tokens"
        let started = Timestamps.now()
        let (id, token) = try await Keystone(executor: session.executor).issueTrustToken(
            trustee, trustID: trustID, logger: logger)

        guard token["OS-TRUST:trust"]?["id"]?.stringValue == trustID else {
            throw OpenStackError(
                kind: .invalidResponse("Keystone's token for the request's trust is not scoped to that trust"),
                service: .identity, method: "POST", path: path)
        }
        guard let projectID = token["project"]?["id"]?.stringValue else {
            throw OpenStackError(
                kind: .invalidResponse("Keystone's token for the request's trust names no project"),
                service: .identity, method: "POST", path: path)
        }
        if let expected = credentials.projectID, expected != projectID {
            throw OpenStackError(
                kind: .unauthenticated(
                    "Keystone's token for the request's trust is scoped to project \(projectID), not to the "
                        + "request's project \(expected)"),
                service: .identity, method: "POST", path: path)
        }
        // Keystone's word: an unreadable expiry is not repeated in messages.
        let expiresText = token["expires_at"]?.stringValue.flatMap { Timestamps.parseISO8601($0) == nil ? nil : $0 }
        let renewAt = expiresText.flatMap(Timestamps.parseISO8601).map { expires in
            // The lifetime on Keystone's clock, counted from when the
            // worker asked: clock skew does not matter.
            let issued = token["issued_at"]?.stringValue.flatMap(Timestamps.parseISO8601) ?? started
            let lifetime = max(0, expires - issued)
            return started + lifetime - min(trustRenewalMargin, lifetime / 2)
        }
        trustTokens.retireRequestToken()
        logger.info(
            "Renewed the request's trust-scoped token",
            metadata: [
                "openstack.expires_at": "\(expiresText ?? "unknown")",
                "openstack.project_id": "\(projectID)",
            ])
        return ActingToken(
            id: id, source: .refreshedTrustToken, expiresAtText: expiresText, renewAt: renewAt,
            catalog: ServiceCatalog(json: .object(token)), projectID: projectID)
    }

    private static func cannotRenew(_ why: String, _ reason: String) -> OpenStackError {
        OpenStackError(
            kind: .unauthenticated("\(why), and the worker cannot get a new token for the trust: \(reason)"),
            service: nil, method: "", path: "")
    }

    // MARK: User tokens

    /// What a user's token that expired says.
    static func expiredUserTokenMessage(_ expiresAt: String) -> String {
        "the request's Keystone token expired at \(expiresAt) (Mistral's user token; the action ran past it) — "
            + "the worker cannot renew a user's token: keep the action within the token's lifetime (Keystone's "
            + "[token] expiration), or run it from a cron trigger, whose trust-scoped token the worker renews"
    }

    /// The error for a 401 a service gave the request's own (not
    /// trust-scoped) token: its expiry when it has passed, else the 401
    /// with what is known about the token.
    func userTokenRejected(_ result: HTTPResult, call: HTTPCall, now: Double = Timestamps.now()) -> OpenStackError {
        var error = Keystone.httpError(result, call: call)
        let expiry = requestTokenExpiry()
        if let expiry, expiry.seconds <= now {
            error.kind = .unauthenticated(Self.expiredUserTokenMessage(expiry.text))
            return error
        }
        if case .http(let status, let fault, let message) = error.kind {
            let hint =
                if let expiry {
                    "the request's Keystone token (Mistral's user token) was to expire at \(expiry.text): "
                        + "Keystone revoked it, or Keystone's and the worker's clocks disagree"
                } else {
                    "the request's Keystone token (Mistral's user token; the request gave no expires_at) is no "
                        + "longer accepted: it expired or was revoked"
                }
            error.kind = .http(status: status, fault: fault, message: message.isEmpty ? hint : "\(message) (\(hint))")
        }
        return error
    }
}
