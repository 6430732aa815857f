/// How the worker talks to OpenStack (from `[openstack_actions]`,
/// `[keystone_authtoken]` and `[mistral_actions]`).
public struct OpenStackSettings: Sendable, Equatable {
    /// Region when neither the action input nor the request names one
    /// (`[openstack_actions] default_region`). Nil: any region.
    public var defaultRegion: String?
    /// Catalog interface: `public`, `internal` or `admin`
    /// (`[openstack_actions] os_actions_endpoint_type`).
    public var interface: String
    /// Service credentials (`[keystone_authtoken]`): used for requests that
    /// carry no catalog (trust-scoped, target clouds) or no token at all
    /// (a Mistral without Keystone), and as the trustee that renews the
    /// token of a trust-scoped request (Mistral makes this user the
    /// trustee of its trusts). Nil: such requests fail clearly.
    public var serviceCredentials: ServiceCredentials?
    /// How long one HTTP request may take, connection included.
    public var requestTimeout: Duration
    /// How long establishing a connection may take.
    public var connectTimeout: Duration
    /// How many times an idempotent request is retried after a 5xx, 429 or
    /// a connection failure (0: never).
    public var maxRetries: Int
    /// The first retry delay; it doubles each time (with jitter) up to
    /// ``maxRetryDelay``. A `Retry-After` header takes precedence, capped
    /// at ``maxRetryDelay``.
    public var retryBaseDelay: Duration
    /// The longest delay between retries (a longer `Retry-After` waits this long).
    public var maxRetryDelay: Duration
    /// The most requests in flight to one service endpoint at a time, over
    /// all actions of the worker; more wait their turn.
    public var maxConcurrentRequestsPerService: Int

    /// Settings; the defaults are the worker's.
    public init(
        defaultRegion: String? = nil,
        interface: String = "public",
        serviceCredentials: ServiceCredentials? = nil,
        requestTimeout: Duration = .seconds(60),
        connectTimeout: Duration = .seconds(10),
        maxRetries: Int = 4,
        retryBaseDelay: Duration = .milliseconds(500),
        maxRetryDelay: Duration = .seconds(30),
        maxConcurrentRequestsPerService: Int = 16
    ) {
        self.defaultRegion = defaultRegion
        self.interface = interface
        self.serviceCredentials = serviceCredentials
        self.requestTimeout = requestTimeout
        self.connectTimeout = connectTimeout
        self.maxRetries = maxRetries
        self.retryBaseDelay = retryBaseDelay
        self.maxRetryDelay = maxRetryDelay
        self.maxConcurrentRequestsPerService = maxConcurrentRequestsPerService
    }
}

/// A service user's password credentials (`[keystone_authtoken]`).
public struct ServiceCredentials: Sendable, Equatable, CustomStringConvertible {
    /// The Identity endpoint, with or without `/v3`.
    public var authURL: String
    /// The user's name.
    public var username: String
    /// Secret.
    public var password: String
    /// The project to scope the token to.
    public var projectName: String
    /// The user's domain (`Default`).
    public var userDomainName: String
    /// The project's domain (`Default`).
    public var projectDomainName: String
    /// Region of the Identity service, when the catalog has several.
    public var regionName: String?
    /// Skip TLS verification of the Identity endpoint.
    public var insecure: Bool
    /// A CA bundle for the Identity endpoint.
    public var caFile: String?

    /// A service user.
    public init(
        authURL: String, username: String, password: String, projectName: String,
        userDomainName: String = "Default", projectDomainName: String = "Default",
        regionName: String? = nil, insecure: Bool = false, caFile: String? = nil
    ) {
        self.authURL = authURL
        self.username = username
        self.password = password
        self.projectName = projectName
        self.userDomainName = userDomainName
        self.projectDomainName = projectDomainName
        self.regionName = regionName
        self.insecure = insecure
        self.caFile = caFile
    }

    /// Never shows the password.
    public var description: String {
        "\(username)@\(projectName) (\(userDomainName)/\(projectDomainName)) at \(authURL)"
    }
}
