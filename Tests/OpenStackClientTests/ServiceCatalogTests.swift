import Logging
import OrderedJSON
import Testing

@testable import OpenStackClient

@Suite("Service catalog")
struct ServiceCatalogTests {
    let base = "http://cloud.example:8080"

    @Test("reads the token body, the token, {catalog} and the bare list alike")
    func shapes() throws {
        let body = try parseJSON(tokenBody(base: base))
        let token = try #require(body["token"])
        let list = try #require(token["catalog"])
        let fromBody = try #require(ServiceCatalog(json: body))
        #expect(fromBody.endpoints.count == 8)
        #expect(ServiceCatalog(json: token) == fromBody)
        #expect(ServiceCatalog(json: ["catalog": list, "links": ["self": "x"]]) == fromBody)
        #expect(ServiceCatalog(json: list) == fromBody)
        let compute = try #require(fromBody.endpoints.first { $0.serviceType == "compute" && $0.interface == "public" })
        #expect(compute == .init(serviceType: "compute", interface: "public", region: "RegionOne", url: "\(base)/compute/v2.1"))
    }

    @Test("nil for what is not a catalog", arguments: [
        JSON.null, [:], "catalog", 42, ["catalog": "x"], ["token": ["methods": ["password"]]],
    ] as [JSON])
    func notACatalog(json: JSON) {
        #expect(ServiceCatalog(json: json) == nil)
    }

    @Test("region is region_id, else region; incomplete entries are skipped")
    func regionsAndIncompleteEntries() throws {
        let json = try parseJSON(
            """
            [{"type": "compute", "endpoints": [
                {"interface": "public", "region_id": "R1", "region": "old-name", "url": "http://a"},
                {"interface": "public", "region": "R2", "url": "http://b"},
                {"interface": "public", "url": "http://c"},
                {"interface": "public", "region": "R3"},
                {"region": "R4", "url": "http://d"}]},
             {"endpoints": [{"interface": "public", "url": "http://untyped"}]},
             {"type": "image"}]
            """)
        let catalog = try #require(ServiceCatalog(json: json))
        #expect(catalog.endpoints.map(\.region) == ["R1", "R2", nil])
        #expect(catalog.endpoints.map(\.url) == ["http://a", "http://b", "http://c"])
    }

    static let multiRegion = ServiceCatalog(endpoints: [
        .init(serviceType: "volumev3", interface: "public", region: "RegionOne", url: "http://old-one/v3/$(tenant_id)s"),
        .init(serviceType: "block-storage", interface: "admin", region: "RegionOne", url: "http://admin-one/v3/$(project_id)s"),
        .init(serviceType: "block-storage", interface: "internal", region: "RegionOne", url: "http://internal-one/v3/$(project_id)s"),
        .init(serviceType: "block-storage", interface: "public", region: "RegionOne", url: "http://one/v3/$(project_id)s/"),
        .init(serviceType: "volumev3", interface: "public", region: "RegionTwo", url: "http://old-two/v3/$(tenant_id)s"),
        .init(serviceType: "compute", interface: "public", region: "RegionTwo", url: "http://compute-two/v2.1/"),
        .init(serviceType: "compute", interface: "public", region: "RegionOne", url: "http://compute-one/v2.1"),
    ])

    @Test("block-storage wins over volumev3 even when listed later; volumev3 where it is the only one")
    func typePreference() throws {
        let catalog = Self.multiRegion
        #expect(
            try catalog.endpoint(for: .blockStorage, region: "RegionOne", interface: "public", projectID: "p")
                == "http://one/v3/p")
        #expect(
            try catalog.endpoint(for: .blockStorage, region: "RegionTwo", interface: "public", projectID: "p")
                == "http://old-two/v3/p")
        // Any region: the first type with a match still wins.
        #expect(try catalog.endpoint(for: .blockStorage, region: nil, interface: "public", projectID: "p") == "http://one/v3/p")
    }

    @Test("region filter, or the first endpoint of any region")
    func regionFilter() throws {
        let catalog = Self.multiRegion
        #expect(try catalog.endpoint(for: .compute, region: "RegionOne", interface: "public") == "http://compute-one/v2.1")
        #expect(try catalog.endpoint(for: .compute, region: "RegionTwo", interface: "public") == "http://compute-two/v2.1")
        #expect(try catalog.endpoint(for: .compute, region: nil, interface: "public") == "http://compute-two/v2.1")
    }

    @Test("interface: exact names and keystoneclient's publicURL style")
    func interfaces() throws {
        let catalog = Self.multiRegion
        let internalEndpoint = try catalog.endpoint(for: .blockStorage, region: "RegionOne", interface: "internal", projectID: "p")
        #expect(internalEndpoint == "http://internal-one/v3/p")
        let internalURL = try catalog.endpoint(
            for: .blockStorage, region: "RegionOne", interface: "internalURL", projectID: "p")
        #expect(internalURL == "http://internal-one/v3/p")
        #expect(try catalog.endpoint(for: .blockStorage, region: "RegionOne", interface: "admin", projectID: "p") == "http://admin-one/v3/p")
        #expect(try catalog.endpoint(for: .blockStorage, region: "RegionOne", interface: "publicURL", projectID: "p") == "http://one/v3/p")
    }

    @Test("$(project_id)s and $(tenant_id)s become the project; trailing / is dropped")
    func projectSubstitution() throws {
        let catalog = ServiceCatalog(endpoints: [
            .init(serviceType: "database", interface: "public", region: "R", url: "http://trove/v1.0/$(tenant_id)s//"),
            .init(serviceType: "image", interface: "public", region: "R", url: "http://glance/"),
            .init(serviceType: "compute", interface: "public", region: "R", url: "http://nova/v2.1/$(project_id)s"),
        ])
        #expect(try catalog.endpoint(for: .database, region: "R", interface: "public", projectID: "abc") == "http://trove/v1.0/abc")
        #expect(try catalog.endpoint(for: .image, region: "R", interface: "public") == "http://glance")
        #expect(try catalog.endpoint(for: .compute, region: nil, interface: "public", projectID: "xyz") == "http://nova/v2.1/xyz")
        let error = #expect(throws: OpenStackError.self) {
            try catalog.endpoint(for: .database, region: "R", interface: "public", projectID: nil)
        }
        guard case .noEndpoint(let message) = error?.kind else {
            Issue.record("expected noEndpoint, got \(String(describing: error))")
            return
        }
        #expect(message.contains("needs a project id"))
    }

    @Test("noEndpoint names the types, region and interface and lists what exists")
    func noEndpointMessage() throws {
        let error = #expect(throws: OpenStackError.self) {
            try Self.multiRegion.endpoint(for: .blockStorage, region: "RegionThree", interface: "internal", projectID: "p")
        }
        let unwrapped = try #require(error)
        guard case .noEndpoint(let message) = unwrapped.kind else {
            Issue.record("expected noEndpoint, got \(unwrapped)")
            return
        }
        #expect(message.contains("block-storage, volumev3, block-store or volume"))
        #expect(message.contains("region RegionThree"))
        #expect(message.contains("interface internal"))
        #expect(message.contains("block-storage in RegionOne (admin, internal, public)"))
        #expect(message.contains("volumev3 in RegionOne (public), RegionTwo (public)"))
        #expect(message.contains("default_region"))
        #expect(unwrapped.service == .blockStorage)
        #expect(unwrapped.description.hasPrefix("Cinder: the service catalog has no Cinder endpoint"))

        let missing = #expect(throws: OpenStackError.self) {
            try Self.multiRegion.endpoint(for: .database, region: nil, interface: "public")
        }
        guard case .noEndpoint(let missingMessage) = missing?.kind else {
            Issue.record("expected noEndpoint")
            return
        }
        #expect(missingMessage.contains("type database) in any region"))
        #expect(missingMessage.contains("no endpoint of that type at all"))
    }

    @Test("region precedence: action region, the request's, the default, then any")
    func regionPrecedence() async throws {
        let catalog = Self.multiRegion
        func endpoint(action: String?, request: String?, defaultRegion: String?) async throws -> String {
            let session = OpenStackSession(
                settings: OpenStackSettings(defaultRegion: defaultRegion), logger: quietLogger)
            let credentials = OpenStackCredentials(authToken: "t", projectID: "p", regionName: request, catalog: catalog)
            let client = session.client(credentials: credentials, region: action, logger: quietLogger)
            let url = try await client.endpoint(for: .compute)
            try await session.shutdown()
            return url
        }
        #expect(try await endpoint(action: "RegionOne", request: "RegionTwo", defaultRegion: "RegionTwo") == "http://compute-one/v2.1")
        #expect(try await endpoint(action: nil, request: "RegionOne", defaultRegion: "RegionTwo") == "http://compute-one/v2.1")
        #expect(try await endpoint(action: "", request: "", defaultRegion: "RegionOne") == "http://compute-one/v2.1")
        #expect(try await endpoint(action: nil, request: nil, defaultRegion: nil) == "http://compute-two/v2.1")
        await #expect(throws: OpenStackError.self) {
            try await endpoint(action: "Nowhere", request: "RegionOne", defaultRegion: nil)
        }
    }

    @Test("Keystone's own region falls back to [keystone_authtoken] region_name")
    func identityRegion() {
        let service = ServiceCredentials(
            authURL: "http://k", username: "u", password: "p", projectName: "s", regionName: "KeyRegion")
        let session = OpenStackSession(settings: OpenStackSettings(serviceCredentials: service), logger: quietLogger)
        let none = OpenStackCredentials()
        #expect(session.region(for: .identity, actionRegion: nil, credentials: none) == "KeyRegion")
        #expect(session.region(for: .compute, actionRegion: nil, credentials: none) == nil)
        #expect(session.region(for: .identity, actionRegion: "A", credentials: none) == "A")
    }
}
