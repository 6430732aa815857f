import OpenStackSimulator
import OrderedJSON
import Testing

@Suite("Nova")
struct ComputeTests {
    private func server(_ harness: SimulatorHarness, _ id: String = SimulatorDefaults.demoServerID) async throws -> JSON {
        try await harness.get(harness.nova + "/servers/" + id, microversion: "compute 2.79").json[path: "server"]
    }

    private func action(_ harness: SimulatorHarness, _ body: JSON, microversion: String = "compute 2.79") async throws -> TestResponse {
        try await harness.post(harness.nova + "/servers/\(SimulatorDefaults.demoServerID)/action", body, microversion: microversion)
    }

    @Test("GET /servers/{id}: the state triple and derived status; unknown id is 404 itemNotFound")
    func show() async throws {
        try await SimulatorHarness.run { harness in
            let active = try await server(harness)
            #expect(active[path: "status"] == "ACTIVE")
            #expect(active[path: "OS-EXT-STS:vm_state"] == "active")
            #expect(active[path: "OS-EXT-STS:task_state"] == .null)
            #expect(active[path: "OS-EXT-STS:power_state"] == 1)
            #expect(active[path: "os-extended-volumes:volumes_attached"][0]?["id"] == .string(SimulatorDefaults.inUseVolumeID))
            let created = try #require(active[path: "created"].stringValue)
            #expect(created.count == 20 && created.hasSuffix("Z"))
            let stopped = try await server(harness, SimulatorDefaults.stoppedServerID)
            #expect(stopped[path: "status"] == "SHUTOFF")
            #expect(stopped[path: "OS-EXT-STS:power_state"] == 4)

            let missing = try await harness.get(harness.nova + "/servers/nope")
            #expect(missing.status == 404)
            #expect(missing.json == ["itemNotFound": ["code": 404, "message": "Instance nope could not be found."]])
        }
    }

    @Test("os-stop and os-start: task state first (status unchanged), then the new vm_state; 409 in the wrong state")
    func stopAndStart() async throws {
        try await SimulatorHarness.run(delay: SimulatorHarness.paused) { harness in
            let id = SimulatorDefaults.demoServerID
            let stop = try await action(harness, ["os-stop": nil])
            #expect(stop.status == 202)
            #expect(stop.text.isEmpty)
            let stopping = try await server(harness)
            #expect(stopping[path: "status"] == "ACTIVE")
            #expect(stopping[path: "OS-EXT-STS:task_state"] == "powering-off")

            let again = try await action(harness, ["os-stop": nil])
            #expect(again.status == 409)
            #expect(
                again.json
                    == ["conflictingRequest": ["code": 409, "message": .string("Cannot 'stop' instance \(id) while it is in task_state powering-off")]])

            harness.finishTransitions()
            let off = try await server(harness)
            #expect(off[path: "status"] == "SHUTOFF")
            #expect(off[path: "OS-EXT-STS:vm_state"] == "stopped")
            #expect(off[path: "OS-EXT-STS:power_state"] == 4)
            #expect(off[path: "OS-EXT-STS:task_state"] == .null)

            let stopStopped = try await action(harness, ["os-stop": nil])
            #expect(stopStopped.json[path: "conflictingRequest", "message"] == .string("Cannot 'stop' instance \(id) while it is in vm_state stopped"))

            #expect(try await action(harness, ["os-start": nil]).status == 202)
            #expect(try await server(harness)[path: "OS-EXT-STS:task_state"] == "powering-on")
            harness.finishTransitions()
            let on = try await server(harness)
            #expect(on[path: "status"] == "ACTIVE")
            #expect(on[path: "OS-EXT-STS:power_state"] == 1)

            let startActive = try await action(harness, ["os-start": nil])
            #expect(startActive.status == 409)
            #expect(startActive.json[path: "conflictingRequest", "message"] == .string("Cannot 'start' instance \(id) while it is in vm_state active"))
        }
    }

    @Test("createImage: image_id from 2.45, task states move on, Glance image queued → active with snapshot properties")
    func createImage() async throws {
        try await SimulatorHarness.run(delay: SimulatorHarness.paused) { harness in
            let response = try await action(harness, ["createImage": ["name": "snap-1", "metadata": ["purpose": "test"]]])
            #expect(response.status == 202)
            let imageID = try #require(response.json[path: "image_id"].stringValue)
            #expect(try await server(harness)[path: "OS-EXT-STS:task_state"] == "image_snapshot")
            #expect(try await server(harness)[path: "status"] == "ACTIVE")
            let conflict = try await action(harness, ["createImage": ["name": "snap-2"]])
            #expect(conflict.status == 409)
            #expect(
                conflict.json[path: "conflictingRequest", "message"]
                    == .string("Cannot 'createImage' instance \(SimulatorDefaults.demoServerID) while it is in task_state image_snapshot"))
            let imageURL = harness.glance + "/v2/images/" + imageID
            #expect(try await harness.get(imageURL).json[path: "status"] == "queued")

            // A third of the delay each: image_pending_upload, image_uploading, done; the image saves halfway.
            harness.simulator.advanceClock(by: 21)
            #expect(try await server(harness)[path: "OS-EXT-STS:task_state"] == "image_pending_upload")
            harness.simulator.advanceClock(by: 20)
            #expect(try await server(harness)[path: "OS-EXT-STS:task_state"] == "image_uploading")
            #expect(try await harness.get(imageURL).json[path: "status"] == "saving")
            harness.simulator.advanceClock(by: 20)
            #expect(try await server(harness)[path: "OS-EXT-STS:task_state"] == .null)
            #expect(try await server(harness)[path: "status"] == "ACTIVE")

            let image = try await harness.get(imageURL).json
            #expect(image[path: "status"] == "active")
            #expect(image[path: "instance_uuid"] == .string(SimulatorDefaults.demoServerID))
            #expect(image[path: "image_type"] == "snapshot")
            #expect(image[path: "purpose"] == "test")
            #expect(image[path: "name"] == "snap-1")
            #expect(image[path: "visibility"] == "private")
        }
    }

    @Test("createImage below 2.45 answers with a Location header and no body")
    func createImageLocation() async throws {
        try await SimulatorHarness.run { harness in
            let response = try await action(harness, ["createImage": ["name": "old-style"]], microversion: "compute 2.44")
            #expect(response.status == 202)
            #expect(response.text.isEmpty)
            let location = try #require(response.header("Location"))
            #expect(location.hasPrefix(harness.simulator.baseURL + "/RegionOne/public/image/images/"))
            let id = String(location.split(separator: "/").last ?? "")
            #expect(try await harness.get(harness.glance + "/v2/images/" + id).status == 200)
            let missingName = try await action(harness, ["createImage": [:]])
            #expect(missingName.status == 400)
        }
    }

    @Test("list: id is stripped below 2.75 and rejected from 2.75; name is a regex; admin-only filters dropped; status")
    func listFilters() async throws {
        try await SimulatorHarness.run { harness in
            try harness.simulator.seed([
                "servers": [["name": "web-1"], ["name": "web-2"], ["name": "db-web"], ["name": "db-1", "vm_state": "error"]]
            ])
            func names(_ query: String, _ version: String = "compute 2.79") async throws -> [String]? {
                let response = try await harness.get(harness.nova + "/servers/detail?" + query, microversion: version)
                return response.json[path: "servers"].arrayValue?.compactMap { $0["name"]?.stringValue }.sorted()
            }
            let stripped = try await names("id=\(SimulatorDefaults.demoServerID)", "compute 2.74")
            #expect(stripped?.count == 6)
            let rejected = try await harness.get(
                harness.nova + "/servers/detail?id=\(SimulatorDefaults.demoServerID)", microversion: "compute 2.75")
            #expect(rejected.status == 400)
            #expect(rejected.json == ["badRequest": ["code": 400, "message": "Additional properties are not allowed ('id' was unexpected)"]])

            #expect(try await names("name=^web-") == ["web-1", "web-2"])
            #expect(try await names("name=web") == ["db-web", "web-1", "web-2"])
            #expect(try await names("host=compute-1&name=^db")?.count == 2)
            #expect(try await names("status=ERROR") == ["db-1"])
            #expect(try await names("status=SHUTOFF") == ["batch-worker"])
            #expect(try await names("status=BOGUS", "compute 2.37") == [])
            let badStatus = try await harness.get(harness.nova + "/servers/detail?status=BOGUS", microversion: "compute 2.38")
            #expect(badStatus.status == 400)
        }
    }

    @Test("list paging: servers_links next while pages are full")
    func paging() async throws {
        try await SimulatorHarness.run { harness in
            var url: String? = harness.nova + "/servers?limit=1"
            var ids: [String] = []
            while let next = url, ids.count < 10 {
                let page = try await harness.get(next)
                ids += page.json[path: "servers"].arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
                #expect(page.json[path: "servers"][0]?["links"] != nil || page.json[path: "servers"].arrayValue?.isEmpty == true)
                url = page.json[path: "servers_links"][0]?["href"]?.stringValue
            }
            #expect(Set(ids) == [SimulatorDefaults.demoServerID, SimulatorDefaults.stoppedServerID])
            let badMarker = try await harness.get(harness.nova + "/servers?marker=nope")
            #expect(badMarker.status == 400)
        }
    }
}
