import OrderedJSON

/// The services the simulator plays, by their catalog type (Cinder's is `block-storage`;
/// its second catalog entry `volumev3` routes to the same service).
public enum OpenStackService: String, Sendable, CaseIterable, Hashable {
    case identity
    case compute
    case blockStorage = "block-storage"
    case image
    case database
}

/// Names and ids of the default seed, stable across runs so that configuration files,
/// tests and the README can refer to them.
public enum SimulatorDefaults {
    /// The Keystone domain every user and project lives in.
    public static let domainID = "default"
    /// The domain's name.
    public static let domainName = "Default"

    /// The administrator, who has reader, member and admin on `demo`.
    public static let adminUserID = "f5b3a0c1d2e34f5a8b6c7d8e9f0a1b2c"
    /// The administrator's name.
    public static let adminUserName = "admin"
    /// The administrator's password.
    public static let adminPassword = "secret"

    /// The service user Mistral itself would use (admin and service roles on `service`).
    public static let mistralUserID = "a1e2c3d4b5f64a7b8c9d0e1f2a3b4c5d"
    /// The service user's name.
    public static let mistralUserName = "mistral"
    /// The service user's password.
    public static let mistralPassword = "mistral-secret"

    /// A user without admin: reader and member on `demo` (Keystone's rules for non-admins).
    public static let memberUserID = "c7d8e9f0a1b24c3d9e4f5a6b7c8d9e0f"
    /// The non-admin user's name.
    public static let memberUserName = "demo"
    /// The non-admin user's password.
    public static let memberPassword = "demo-secret"

    /// A user of another project (`alt`, reader and member): sees none of `demo`'s resources.
    public static let altUserID = "d8e9f0a1b2c34d5e8f6a7b8c9d0e1f2a"
    /// The other project's user's name.
    public static let altUserName = "alt"
    /// The other project's user's password.
    public static let altPassword = "alt-secret"
    /// The other project (`alt`).
    public static let altProjectID = "e9f0a1b2c3d44e5f9a7b8c9d0e1f2a3b"
    /// The other project's name.
    public static let altProjectName = "alt"

    /// The project the demo resources belong to.
    public static let demoProjectID = "8d4b2f6e1c3a4e5f9a7b6c5d4e3f2a10"
    /// The demo project's name.
    public static let demoProjectName = "demo"
    /// The project of the service users (`service`).
    public static let serviceProjectID = "5c6d7e8f9a0b4c1d8e2f3a4b5c6d7e8f"
    /// The service project's name.
    public static let serviceProjectName = "service"

    /// A trust from `admin` (trustor) to `mistral` (trustee) on `demo` with the member role.
    public static let demoTrustID = "0f5e8d2c7b6a4e3d9c1b2a3f4e5d6c7b"
    /// A trust as Mistral makes them for cron triggers: from `admin` (trustor) to `mistral`
    /// (trustee) on `demo` with admin's roles, and impersonation, so that its tokens' user is `admin`.
    public static let impersonatingTrustID = "7a3c9e1f5b2d4c8e9f0a1b2c3d4e5f60"

    /// The available 10 GB volume the README demo backs up.
    public static let demoVolumeID = "11111111-2222-3333-4444-555555555555"
    /// An ACTIVE server.
    public static let demoServerID = "22222222-3333-4444-5555-666666666666"
    /// An ACTIVE Trove (database) instance.
    public static let demoDatabaseInstanceID = "33333333-4444-5555-6666-777777777777"
    /// A second available volume (20 GB).
    public static let dataVolumeID = "44444444-5555-6666-7777-888888888888"
    /// An `in-use` volume attached to the demo server (backing it up needs `force`).
    public static let inUseVolumeID = "55555555-6666-7777-8888-999999999999"
    /// A SHUTOFF server.
    public static let stoppedServerID = "22222222-3333-4444-5555-777777777777"
    /// The public images: cirros, ubuntu, fedora.
    public static let cirrosImageID = "6c1f9a54-7d2e-4b8a-9f3c-0e1d2c3b4a01"
    /// The ubuntu image.
    public static let ubuntuImageID = "6c1f9a54-7d2e-4b8a-9f3c-0e1d2c3b4a02"
    /// The fedora image (raw disk format).
    public static let fedoraImageID = "6c1f9a54-7d2e-4b8a-9f3c-0e1d2c3b4a03"

    /// The catalog's regions and interfaces (every combination has its own URL).
    public static let regions = ["RegionOne", "RegionTwo"]
    /// The interfaces of every endpoint.
    public static let interfaces = ["public", "internal", "admin"]
}

/// A rule that makes matching service requests fail, stall or drop the connection.
///
/// Rules are checked in order; the first one that matches and has uses left applies.
public struct FaultRule: Sendable, Hashable {
    /// Only this HTTP method (any when `nil`).
    public var method: String?
    /// A regular expression that must match the whole service-relative path, e.g. `/backups/.*`
    /// (Cinder/Trove: after the project id; Nova: after `/v2.1`; Glance: after `/image`, so
    /// `/v2/images`; Keystone: after `/v3`). Any path when `nil`.
    public var path: String?
    /// Only requests to this service (any when `nil`).
    public var service: OpenStackService?
    /// How many matching requests it applies to.
    public var times: Int
    /// The status to answer with; `nil` with a `delay` only slows the real answer down.
    public var status: Int?
    /// The `Retry-After` header (and `retryAfter` inside Nova/Cinder `overLimit` bodies).
    public var retryAfter: String?
    /// A body replacing the service's own error envelope.
    public var body: JSON?
    /// `"rate_limit"` makes Cinder answer with its rate-limit middleware body (`overLimitFault`).
    public var form: String?
    /// Seconds to wait before answering (or before resetting).
    public var delay: Double
    /// Close the connection without answering.
    public var reset: Bool

    /// A rule; `nil` fields match anything, `times` is how many requests it hits.
    public init(
        method: String? = nil, path: String? = nil, service: OpenStackService? = nil, times: Int = 1,
        status: Int? = nil, retryAfter: String? = nil, body: JSON? = nil, form: String? = nil, delay: Double = 0,
        reset: Bool = false
    ) {
        self.method = method
        self.path = path
        self.service = service
        self.times = times
        self.status = status
        self.retryAfter = retryAfter
        self.body = body
        self.form = form
        self.delay = delay
        self.reset = reset
    }

    /// Reads a rule in the control API's JSON form (`{"method", "path", "service", "times",
    /// "status", "retry_after", "body", "form", "delay", "reset"}`).
    public init(json: JSON) throws(SimulatorError) {
        guard let object = json.objectValue else { throw SimulatorError("a fault rule must be an object") }
        let known: Set<String> = [
            "method", "path", "service", "times", "status", "retry_after", "body", "form", "delay", "reset",
        ]
        if let unknown = object.keys.first(where: { !known.contains($0) }) {
            throw SimulatorError("unknown fault rule key '\(unknown)'")
        }
        self.init()
        method = object["method"]?.stringValue?.uppercased()
        path = object["path"]?.stringValue
        if let path, (try? Regex(path)) == nil { throw SimulatorError("invalid path regex '\(path)'") }
        if let name = object["service"]?.stringValue {
            guard let service = OpenStackService(rawValue: name == "volumev3" ? "block-storage" : name) else {
                throw SimulatorError("unknown service '\(name)'")
            }
            self.service = service
        }
        times = object["times"]?.intValue ?? 1
        status = object["status"]?.intValue
        if let value = object["retry_after"] {
            retryAfter = value.stringValue ?? value.intValue.map(String.init) ?? value.doubleValue.map { String($0) }
        }
        body = object["body"].flatMap { $0.isNull ? nil : $0 }
        form = object["form"]?.stringValue
        delay = object["delay"]?.doubleValue ?? 0
        reset = object["reset"]?.boolValue ?? false
        if status == nil, !reset, delay <= 0 {
            throw SimulatorError("a fault rule needs a status, a delay or reset")
        }
    }

    /// The rule in the control API's JSON form.
    public var json: JSON {
        var object = JSONObject()
        object["method"] = method.map(JSON.string) ?? .null
        object["path"] = path.map(JSON.string) ?? .null
        object["service"] = service.map { .string($0.rawValue) } ?? .null
        object["times"] = .integer(Int64(times))
        object["status"] = status.map { .integer(Int64($0)) } ?? .null
        object["retry_after"] = retryAfter.map(JSON.string) ?? .null
        object["body"] = body ?? .null
        object["form"] = form.map(JSON.string) ?? .null
        object["delay"] = .double(delay)
        object["reset"] = .bool(reset)
        return .object(object)
    }

    private init() {
        self.init(times: 1)
    }
}

/// One service request as the simulator saw it, so tests can assert what a client sent
/// and which catalog endpoint (region and interface) it chose.
public struct LoggedRequest: Sendable, Hashable {
    /// `GET`, `POST`, ...
    public var method: String
    /// The full path, without the query.
    public var path: String
    /// The raw query string, if any.
    public var query: String?
    /// The service addressed, `nil` for paths that matched none.
    public var service: OpenStackService?
    /// The catalog region in the URL; `nil` for the bare `/identity` auth URL.
    public var region: String?
    /// The catalog interface in the URL (`public`, `internal`, `admin`).
    public var interface: String?
    /// The path relative to the service endpoint (what fault rules match).
    public var servicePath: String?
    /// The auth, microversion and content headers as sent (`X-Auth-Token`, `X-Subject-Token`,
    /// `OpenStack-API-Version`, `X-OpenStack-Nova-API-Version`, `Content-Type`, `Accept`).
    public var headers: [String: String]
    /// The body as JSON, `nil` when empty or not JSON.
    public var body: JSON?
    /// The status answered, `nil` when the connection was reset.
    public var status: Int?
    /// Whose token `X-Auth-Token` was when the request arrived, for tests that check which
    /// credentials a client used: `{"user_id", "user_name", "project_id", "trust_id", "valid"}`
    /// (`trust_id` null unless trust-scoped); `nil` without a token the simulator issued.
    public var credentials: JSON?

    /// A logged request.
    public init(
        method: String, path: String, query: String?, service: OpenStackService?, region: String?,
        interface: String?, servicePath: String?, headers: [String: String], body: JSON?, status: Int?,
        credentials: JSON? = nil
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.service = service
        self.region = region
        self.interface = interface
        self.servicePath = servicePath
        self.headers = headers
        self.body = body
        self.status = status
        self.credentials = credentials
    }

    /// The entry in the control API's JSON form.
    public var json: JSON {
        var headerObject = JSONObject()
        for name in headers.keys.sorted() {
            headerObject[name] = .string(headers[name] ?? "")
        }
        return [
            "method": .string(method),
            "path": .string(path),
            "query": query.map(JSON.string) ?? .null,
            "service": service.map { .string($0.rawValue) } ?? .null,
            "region": region.map(JSON.string) ?? .null,
            "interface": interface.map(JSON.string) ?? .null,
            "service_path": servicePath.map(JSON.string) ?? .null,
            "headers": .object(headerObject),
            "body": body ?? .null,
            "status": status.map { .integer(Int64($0)) } ?? .null,
            "credentials": credentials ?? .null,
        ]
    }
}

/// A control-API or seeding input the simulator cannot use.
public struct SimulatorError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong, in one line.
    public var message: String

    /// An error with this message.
    public init(_ message: String) {
        self.message = message
    }

    /// The message.
    public var description: String { message }
}
