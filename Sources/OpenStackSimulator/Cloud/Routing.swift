/// Where a request goes: the control API, one service behind one catalog endpoint, or nowhere.
enum RouteMatch: Sendable {
    case control([String])
    case service(ServiceRoute)
    case unknown
}

/// A service request located in the URL layout `<base>/<Region>/<interface>/<svc>/...`
/// (or the bare auth URL `<base>/identity`).
struct ServiceRoute: Sendable {
    var service: OpenStackService
    var region: String?
    var interface: String?
    /// The versioned application root, used for Cinder/Nova `self` links (`…/volume/v3`, `…/compute/v2.1`).
    var applicationURL: String
    /// The root without the version, for `bookmark` links and Nova's Glance `Location`.
    var unversionedURL: String
    /// The project id in a Cinder or Trove path.
    var pathProjectID: String?
    /// Path segments after the endpoint (decoded).
    var segments: [String]
    /// `true` for `GET /identity` (the version list).
    var isVersionList = false

    /// The path relative to the service endpoint, what fault rules match.
    var servicePath: String { "/" + segments.joined(separator: "/") }
}

enum Router {
    /// Cinder collections, to tell a project id from a collection when the id is omitted (3.67+).
    private static let cinderCollections: Set<String> = [
        "volumes", "snapshots", "backups", "types", "limits", "extensions", "os-services", "os-hosts",
        "scheduler-stats", "messages", "groups", "attachments", "workers", "qos-specs", "os-quota-sets",
    ]

    static func match(_ request: HTTPRequestData, baseURL: String) -> RouteMatch {
        let segments = request.segments
        guard let first = segments.first else { return .unknown }
        if first == "_simulator" { return .control(Array(segments.dropFirst())) }
        if first == "identity" {
            // The bare auth URL: `/identity` (versions), `/identity/v3/...`; a doubled `v3` is tolerated.
            var rest = Array(segments.dropFirst())
            let application = baseURL + "/identity/v3"
            if rest.isEmpty {
                return .service(
                    ServiceRoute(
                        service: .identity, applicationURL: application, unversionedURL: baseURL + "/identity",
                        segments: [], isVersionList: true))
            }
            guard rest.first == "v3" else { return .unknown }
            rest.removeFirst()
            if rest.first == "v3" { rest.removeFirst() }
            return .service(
                ServiceRoute(
                    service: .identity, applicationURL: application, unversionedURL: baseURL + "/identity",
                    segments: rest))
        }
        guard segments.count >= 3, SimulatorDefaults.regions.contains(segments[0]),
            SimulatorDefaults.interfaces.contains(segments[1])
        else { return .unknown }
        let region = segments[0]
        let interface = segments[1]
        let alias = segments[2]
        var rest = Array(segments.dropFirst(3))
        let prefix = "\(baseURL)/\(region)/\(interface)/\(alias)"
        func versioned(_ version: String) -> Bool {
            guard rest.first == version else { return false }
            rest.removeFirst()
            return true
        }
        switch alias {
        case "identity":
            guard versioned("v3") else { return .unknown }
            return .service(
                ServiceRoute(
                    service: .identity, region: region, interface: interface, applicationURL: prefix + "/v3",
                    unversionedURL: prefix, segments: rest))
        case "compute":
            guard versioned("v2.1") else { return .unknown }
            return .service(
                ServiceRoute(
                    service: .compute, region: region, interface: interface, applicationURL: prefix + "/v2.1",
                    unversionedURL: prefix, segments: rest))
        case "volume", "volumev3":
            guard versioned("v3") else { return .unknown }
            var project: String?
            if let candidate = rest.first, !cinderCollections.contains(candidate) {
                project = candidate
                rest.removeFirst()
            }
            return .service(
                ServiceRoute(
                    service: .blockStorage, region: region, interface: interface, applicationURL: prefix + "/v3",
                    unversionedURL: prefix, pathProjectID: project, segments: rest))
        case "image":
            return .service(
                ServiceRoute(
                    service: .image, region: region, interface: interface, applicationURL: prefix,
                    unversionedURL: prefix, segments: rest))
        case "database":
            guard versioned("v1.0"), let project = rest.first else { return .unknown }
            rest.removeFirst()
            return .service(
                ServiceRoute(
                    service: .database, region: region, interface: interface, applicationURL: prefix + "/v1.0",
                    unversionedURL: prefix, pathProjectID: project, segments: rest))
        default:
            return .unknown
        }
    }
}
