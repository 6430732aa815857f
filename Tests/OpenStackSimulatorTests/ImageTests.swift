import OpenStackSimulator
import OrderedJSON
import Testing

@Suite("Glance")
struct ImageTests {
    private func names(_ harness: SimulatorHarness, _ query: String) async throws -> [String]? {
        let response = try await harness.get(harness.glance + "/v2/images?" + query)
        #expect(response.status == 200, "\(query): \(response.text)")
        return response.json[path: "images"].arrayValue?.compactMap { $0["name"]?.stringValue }.sorted()
    }

    @Test("filters: id=in:, eq: with a colon, unknown operator 400, tags AND, custom property, visibility")
    func filters() async throws {
        try await SimulatorHarness.run { harness in
            try harness.simulator.seed([
                "images": [
                    ["name": "my:image", "tags": ["a", "b"], "properties": ["os_distro": "arch"]],
                    ["name": "tagged-a", "tags": ["a"], "os_distro": "arch"],
                    ["name": "hidden", "os_hidden": true],
                ]
            ])
            let cirros = SimulatorDefaults.cirrosImageID
            let ubuntu = SimulatorDefaults.ubuntuImageID
            #expect(try await names(harness, "id=in:\(cirros),\(ubuntu)") == ["cirros-0.6.2-x86_64-disk", "ubuntu-24.04"])
            #expect(try await names(harness, "id=\(cirros)") == ["cirros-0.6.2-x86_64-disk"])
            #expect(try await names(harness, "name=eq:my:image") == ["my:image"])
            let unknownOperator = try await harness.get(harness.glance + "/v2/images?name=my:image")
            #expect(unknownOperator.status == 400)
            #expect(unknownOperator.json[path: "title"] == "Bad Request")
            #expect(unknownOperator.json[path: "message"].stringValue?.hasPrefix("Unable to filter by unknown operator 'my'.") == true)
            #expect(try await names(harness, "tag=a&tag=b") == ["my:image"])
            #expect(try await names(harness, "tag=a") == ["my:image", "tagged-a"])
            #expect(try await names(harness, "os_distro=arch") == ["my:image", "tagged-a"])
            #expect(try await names(harness, "os_distro=ubuntu") == ["ubuntu-24.04"])
            #expect(try await names(harness, "disk_format=in:raw") == ["fedora-40"])
            #expect(try await names(harness, "os_hidden=true") == ["hidden"])
            #expect(try await harness.get(harness.glance + "/v2/images?visibility=bogus").status == 400)
            #expect(try await harness.get(harness.glance + "/v2/images?changes-since=2025-01-01T00:00:00Z").status == 400)
        }
    }

    @Test("paging: next is a host-relative path kept while pages are full; the last page may be empty")
    func paging() async throws {
        try await SimulatorHarness.run(defaultSeed: false) { harness in
            try harness.simulator.seed(["images": .array((1...4).map { ["name": .string("image-\($0)")] })])
            var path: String? = "/v2/images?limit=2&sort=name:asc"
            var pages: [[String]] = []
            while let next = path {
                #expect(next.hasPrefix("/v2/images?"))
                let response = try await harness.get(harness.glance + next)
                pages.append(response.json[path: "images"].arrayValue?.compactMap { $0["name"]?.stringValue } ?? [])
                #expect(response.json[path: "first"] == "/v2/images?limit=2&sort=name%3Aasc")
                #expect(response.json[path: "schema"] == "/v2/schemas/images")
                path = response.json[path: "next"].stringValue
            }
            #expect(pages == [["image-1", "image-2"], ["image-3", "image-4"], []])
        }
    }

    @Test("the default limit is 25")
    func defaultLimit() async throws {
        try await SimulatorHarness.run(defaultSeed: false) { harness in
            try harness.simulator.seed(["images": .array((1...26).map { ["name": .string("image-\($0)")] })])
            let first = try await harness.get(harness.glance + "/v2/images")
            #expect(first.json[path: "images"].arrayValue?.count == 25)
            let next = try #require(first.json[path: "next"].stringValue)
            let second = try await harness.get(harness.glance + next)
            #expect(second.json[path: "images"].arrayValue?.count == 1)
            #expect(second.json[path: "next"] == .null)
        }
    }

    @Test("GET an unknown image: 404 with webob's JSON body when JSON is accepted, plain text otherwise")
    func notFound() async throws {
        try await SimulatorHarness.run { harness in
            let json = try await harness.get(harness.glance + "/v2/images/nope")
            #expect(json.status == 404)
            #expect(
                json.json
                    == ["message": "No image found with ID nope<br /><br />\n\n\n", "code": "404 Not Found", "title": "Not Found"])
            let text = try await harness.send(.GET, harness.glance + "/v2/images/nope", headers: [("Accept", "text/plain")])
            #expect(text.status == 404)
            #expect(text.text == "404 Not Found\n\nNo image found with ID nope\n\n   ")
            let image = try await harness.get(harness.glance + "/v2/images/" + SimulatorDefaults.ubuntuImageID)
            #expect(image.json[path: "os_distro"] == "ubuntu")
            #expect(image.json[path: "self"] == .string("/v2/images/\(SimulatorDefaults.ubuntuImageID)"))
        }
    }
}
