import OrderedJSON

// PUBLIC API CONTRACT (implementation to be filled in).

/// A Keystone v3 service catalog.
public struct ServiceCatalog: Sendable, Equatable {
    public struct Endpoint: Sendable, Equatable {
        public var serviceType: String
        public var interface: String
        /// `region_id`, else `region`.
        public var region: String?
        public var url: String
        public init(serviceType: String, interface: String, region: String?, url: String) {
            self.serviceType = serviceType
            self.interface = interface
            self.region = region
            self.url = url
        }
    }

    public var endpoints: [Endpoint]

    public init(endpoints: [Endpoint]) { self.endpoints = endpoints }

    /// Reads a catalog from the token body (`{"token": {"catalog": [...]}}`),
    /// the token itself (`{"catalog": [...], "methods": ...}`, what Mistral
    /// sends as `service_catalog`), `{"catalog": [...]}` (GET /v3/auth/catalog)
    /// or the bare list. Nil when none of these shapes fits.
    public init?(json: JSON) {
        fatalError("not implemented")
    }
}
