import OrderedJSON
import OsloMessaging

/// Who an action calls OpenStack as: what Mistral's security context carries.
///
/// Mistral sends the user's token, project, region and service catalog (the
/// whole token body; the list is under `catalog`) with every request. A
/// trust-scoped context (cron triggers) or a target-cloud context may have
/// no catalog; a Mistral without Keystone sends no token at all. The client
/// then falls back to the service credentials of the configuration.
///
/// A trust-scoped token that expires while the action runs is replaced by
/// a new token for the same trust (``trustID``), which the worker gets as
/// the trustee: the `[keystone_authtoken]` user. A user's own token cannot
/// be renewed.
public struct OpenStackCredentials: Sendable, Equatable {
    /// The Keystone token (`auth_token`). Secret.
    public var authToken: String?
    /// The token's project (`project_id`); substituted for `$(project_id)s`.
    public var projectID: String?
    /// The region the request names (`region_name`).
    public var regionName: String?
    /// The catalog that came with the request, or nil.
    public var catalog: ServiceCatalog?
    /// The Identity endpoint of the request (`auth_uri`), for fetching a catalog.
    public var authURL: String?
    /// Skip TLS verification (`insecure`).
    public var insecure: Bool
    /// CA certificates for TLS verification (`auth_cacert`), a PEM file path.
    public var caFile: String?
    /// The token is trust-scoped (`is_trust_scoped`).
    public var isTrustScoped: Bool
    /// The trust of a trust-scoped token (`trust_id`). Secret.
    public var trustID: String?
    /// When the token expires (`expires_at`), as sent (ISO 8601).
    public var expiresAt: String?

    /// Credentials given field by field.
    public init(
        authToken: String? = nil,
        projectID: String? = nil,
        regionName: String? = nil,
        catalog: ServiceCatalog? = nil,
        authURL: String? = nil,
        insecure: Bool = false,
        caFile: String? = nil,
        isTrustScoped: Bool = false,
        trustID: String? = nil,
        expiresAt: String? = nil
    ) {
        self.authToken = authToken
        self.projectID = projectID
        self.regionName = regionName
        self.catalog = catalog
        self.authURL = authURL
        self.insecure = insecure
        self.caFile = caFile
        self.isTrustScoped = isTrustScoped
        self.trustID = trustID
        self.expiresAt = expiresAt
    }

    /// The credentials of a Mistral request's security context. Empty
    /// strings count as absent; a catalog that cannot be read counts as none.
    public init(securityContext context: RequestContext) {
        func nonEmpty(_ value: String?) -> String? {
            guard let value, !value.isEmpty else { return nil }
            return value
        }
        self.init(
            authToken: nonEmpty(context.authToken),
            projectID: nonEmpty(context.projectID) ?? nonEmpty(context.project),
            regionName: nonEmpty(context.regionName),
            catalog: context.serviceCatalog.flatMap { ServiceCatalog(json: $0) },
            authURL: nonEmpty(context.authURI),
            insecure: context.isInsecure,
            caFile: nonEmpty(context.authCACert),
            isTrustScoped: context.isTrustScoped,
            trustID: nonEmpty(context.trustID),
            expiresAt: nonEmpty(context.expiresAt)
        )
    }
}
