import OrderedJSON

/// One call to a service, relative to the service's catalog endpoint.
public struct OpenStackRequest: Sendable {
    /// The service called.
    public var service: OpenStackService
    /// `GET`, `HEAD`, `POST`, `PUT`, `PATCH`, `DELETE`.
    public var method: String
    /// The path below the endpoint, starting with `/`: `/backups/detail`
    /// for Cinder (whose endpoint already ends in `/v3/<project>`), `/v2/images`
    /// for Glance (whose endpoint has no version). It may already carry a
    /// query string (Glance's `next` links do); ``query`` is appended to it.
    public var path: String
    /// Query parameters, in order, not yet percent-encoded. A key may repeat
    /// (`tag=a&tag=b`).
    public var query: [(name: String, value: String)]
    /// The JSON body, for POST and PUT.
    public var body: JSON?
    /// The microversion to ask for (`3.64`), sent as
    /// `OpenStack-API-Version: <microversionType> <version>`.
    public var microversion: String?
    /// Whether the call may be repeated after a failure whose outcome is
    /// unknown (5xx, 429, reset connection). Defaults to true for GET and
    /// HEAD only: writes are never retried blindly.
    public var isIdempotent: Bool

    /// A request; `isIdempotent` decides whether a failure after sending is retried.
    public init(
        _ method: String,
        _ service: OpenStackService,
        _ path: String,
        query: [(name: String, value: String)] = [],
        body: JSON? = nil,
        microversion: String? = nil,
        isIdempotent: Bool? = nil
    ) {
        self.method = method
        self.service = service
        self.path = path
        self.query = query
        self.body = body
        self.microversion = microversion
        self.isIdempotent = isIdempotent ?? (method == "GET" || method == "HEAD")
    }
}

/// A successful (2xx) answer.
public struct OpenStackResponse: Sendable {
    /// The HTTP status (2xx).
    public var status: Int
    /// Header names as sent; look them up with ``header(_:)``.
    public var headers: [(name: String, value: String)]
    /// The body parsed as JSON; nil when it was empty.
    public var body: JSON?

    /// An answer.
    public init(status: Int, headers: [(name: String, value: String)], body: JSON?) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first header of that name, case-insensitively.
    public func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return headers.first { $0.name.lowercased() == lowered }?.value
    }
}
