import OrderedJSON

/// A Keystone v3 service catalog.
public struct ServiceCatalog: Sendable, Equatable {
    /// One endpoint of the catalog.
    public struct Endpoint: Sendable, Equatable {
        /// The service type (`block-storage`, `volumev3`, ...).
        public var serviceType: String
        /// `public`, `internal` or `admin`.
        public var interface: String
        /// `region_id`, else `region`.
        public var region: String?
        /// The endpoint's URL.
        public var url: String
        /// An endpoint.
        public init(serviceType: String, interface: String, region: String?, url: String) {
            self.serviceType = serviceType
            self.interface = interface
            self.region = region
            self.url = url
        }
    }

    /// Every endpoint, in the catalog's order.
    public var endpoints: [Endpoint]

    /// A catalog of these endpoints.
    public init(endpoints: [Endpoint]) { self.endpoints = endpoints }

    /// Reads a catalog from the token body (`{"token": {"catalog": [...]}}`),
    /// the token itself (`{"catalog": [...], "methods": ...}`, what Mistral
    /// sends as `service_catalog`), `{"catalog": [...]}` (GET /v3/auth/catalog)
    /// or the bare list. Nil when none of these shapes fits.
    ///
    /// Services and endpoints that lack a type, a URL or an interface are
    /// skipped rather than failing the whole catalog.
    public init?(json: JSON) {
        let services: [JSON]
        switch json {
        case .array(let list):
            services = list
        case .object(let object):
            if let token = object["token"], case .object = token {
                self.init(json: token)
                return
            }
            guard let list = object["catalog"]?.arrayValue else { return nil }
            services = list
        default:
            return nil
        }
        var endpoints: [Endpoint] = []
        for service in services {
            guard let type = service["type"]?.stringValue, let entries = service["endpoints"]?.arrayValue else {
                continue
            }
            for entry in entries {
                guard let url = entry["url"]?.stringValue, let interface = entry["interface"]?.stringValue else {
                    continue
                }
                let region = entry["region_id"]?.stringValue ?? entry["region"]?.stringValue
                endpoints.append(Endpoint(serviceType: type, interface: interface, region: region, url: url))
            }
        }
        self.init(endpoints: endpoints)
    }
}

extension ServiceCatalog {
    /// The URL of `service`'s endpoint, the way Mistral's Python actions
    /// pick it (mistral-extra `get_endpoint_for_project`, keystoneclient
    /// `get_endpoints`), without a trailing `/`.
    ///
    /// - The service's ``OpenStackService/catalogTypes`` are tried in order
    ///   and the first type with a matching endpoint wins. (mistral-extra
    ///   loops over Cinder's types without stopping, so there the *last*
    ///   type found wins; `block-storage` is the current official type and
    ///   the one a cloud that lists several types means, so it is preferred.)
    /// - With a `region`, only endpoints of that region; without, any region.
    /// - The first endpoint whose interface contains `interface` (`public`,
    ///   `internal`, `admin`; keystoneclient's `publicURL` style is accepted).
    /// - `$(project_id)s` and `$(tenant_id)s` become `projectID`.
    ///
    /// - Throws: ``OpenStackError`` of kind ``OpenStackError/Kind/noEndpoint(_:)``
    ///   naming what was looked for and what the catalog has for the service.
    public func endpoint(
        for service: OpenStackService, region: String?, interface: String, projectID: String? = nil
    ) throws(OpenStackError) -> String {
        let wantedInterface = Self.normalizedInterface(interface)
        for type in service.catalogTypes {
            let match = endpoints.first { endpoint in
                endpoint.serviceType == type
                    && (region == nil || endpoint.region == region)
                    && Self.interface(endpoint.interface, matches: wantedInterface)
            }
            guard let match else { continue }
            return try Self.substituteProject(in: match, projectID: projectID, service: service)
        }
        throw OpenStackError(
            kind: .noEndpoint(noEndpointMessage(for: service, region: region, interface: interface)),
            service: service, method: "", path: "")
    }

    /// `publicURL` → `public` (keystoneclient strips the v2 suffix).
    static func normalizedInterface(_ interface: String) -> String {
        let lowered = interface.lowercased()
        return lowered.hasSuffix("url") ? String(lowered.dropLast(3)) : lowered
    }

    /// keystoneclient tests `endpoint_type in endpoint['interface']`.
    static func interface(_ endpointInterface: String, matches wanted: String) -> Bool {
        wanted.isEmpty || endpointInterface.lowercased().contains(wanted)
    }

    private static func substituteProject(
        in endpoint: Endpoint, projectID: String?, service: OpenStackService
    ) throws(OpenStackError) -> String {
        var url = endpoint.url
        let placeholders = ["$(project_id)s", "$(tenant_id)s"]
        if placeholders.contains(where: { url.contains($0) }) {
            guard let projectID, !projectID.isEmpty else {
                throw OpenStackError(
                    kind: .noEndpoint(
                        "the \(endpoint.serviceType) endpoint \(url) needs a project id and the request has none"),
                    service: service, method: "", path: "")
            }
            for placeholder in placeholders {
                url = url.replacing(placeholder, with: projectID)
            }
        }
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }

    private func noEndpointMessage(for service: OpenStackService, region: String?, interface: String) -> String {
        let types = service.catalogTypes
        let typeList = types.count == 1 ? types[0] : types.dropLast().joined(separator: ", ") + " or " + types.last!
        let regionText = region.map { "region \($0)" } ?? "any region"
        var message =
            "the service catalog has no \(service.projectName) endpoint (type \(typeList)) in \(regionText) "
            + "with interface \(interface)"
        let known = endpoints.filter { types.contains($0.serviceType) }
        if known.isEmpty {
            message += "; it has no endpoint of that type at all"
        } else {
            // "block-storage in RegionOne (public, internal), RegionTwo (public)"
            var lines: [String] = []
            for type in types {
                let ofType = known.filter { $0.serviceType == type }
                guard !ofType.isEmpty else { continue }
                var regions: [String] = []
                var interfacesByRegion: [String: [String]] = [:]
                for endpoint in ofType {
                    let name = endpoint.region ?? "(no region)"
                    if interfacesByRegion[name] == nil { regions.append(name) }
                    if !(interfacesByRegion[name]?.contains(endpoint.interface) ?? false) {
                        interfacesByRegion[name, default: []].append(endpoint.interface)
                    }
                }
                let described = regions.map { "\($0) (\(interfacesByRegion[$0]!.joined(separator: ", ")))" }
                lines.append("\(type) in \(described.joined(separator: ", "))")
            }
            message += "; it has " + lines.joined(separator: "; ")
        }
        message +=
            ". Choose the region with the action's action_region input, the request's region "
            + "or [openstack_actions] default_region, and the interface with "
            + "[openstack_actions] os_actions_endpoint_type"
        return message
    }
}
