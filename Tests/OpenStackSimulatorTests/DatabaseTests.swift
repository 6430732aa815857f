import OpenStackSimulator
import OrderedJSON
import Testing

@Suite("Trove")
struct DatabaseTests {
    private let instance = SimulatorDefaults.demoDatabaseInstanceID

    private func create(_ harness: SimulatorHarness, _ fields: JSONObject) async throws -> TestResponse {
        var backup: JSONObject = ["name": "b", "instance": .string(instance)]
        backup.merge(fields)
        return try await harness.post(harness.trove + "/backups", ["backup": .object(backup)])
    }

    private func createAndWait(_ harness: SimulatorHarness, _ fields: JSONObject = [:]) async throws -> JSON {
        let response = try await create(harness, fields)
        #expect(response.status == 202, "\(response.text)")
        let id = try #require(response.json[path: "backup", "id"].stringValue)
        try await harness.waitFor(harness.trove + "/backups/" + id, ["backup", "status"], equals: "COMPLETED")
        return try await harness.get(harness.trove + "/backups/" + id).json[path: "backup"]
    }

    @Test("incremental must be the integer 0 or 1: a boolean is 400")
    func incrementalType() async throws {
        try await SimulatorHarness.run { harness in
            let boolean = try await create(harness, ["incremental": true])
            #expect(boolean.status == 400)
            #expect(boolean.json == ["badRequest": ["code": 400, "message": "Validation error: backup['incremental'] True is not of type 'integer'"]])
            let two = try await create(harness, ["incremental": 2])
            #expect(two.json[path: "badRequest", "message"] == "Validation error: backup['incremental'] 2 is greater than the maximum of 1")
            let noName = try await harness.post(harness.trove + "/backups", ["backup": ["instance": .string(instance)]])
            #expect(noName.json[path: "badRequest", "message"] == "Validation error: backup 'name' is a required property")
        }
    }

    @Test("parents: full fallback without a completed backup, then the last COMPLETED, or an explicit parent_id")
    func parentSelection() async throws {
        try await SimulatorHarness.run { harness in
            let first = try await createAndWait(harness, ["incremental": 1])
            #expect(first[path: "parent_id"] == .null)
            let firstID = try #require(first[path: "id"].stringValue)
            let second = try await createAndWait(harness, ["incremental": 1])
            #expect(second[path: "parent_id"] == .string(firstID))
            let secondID = try #require(second[path: "id"].stringValue)
            let third = try await createAndWait(harness, ["incremental": 1])
            #expect(third[path: "parent_id"] == .string(secondID))
            let explicit = try await createAndWait(harness, ["parent_id": .string(firstID)])
            #expect(explicit[path: "parent_id"] == .string(firstID))
            let full = try await createAndWait(harness, ["incremental": 0])
            #expect(full[path: "parent_id"] == .null)
            #expect(first[path: "locationRef"].stringValue?.isEmpty == false)
            let created = try #require(first[path: "created"].stringValue)
            #expect(created.count == 19 && !created.hasSuffix("Z"))

            let unknownParent = try await create(harness, ["parent_id": "00000000-0000-0000-0000-000000000000"])
            #expect(unknownParent.status == 404)
            #expect(unknownParent.json[path: "itemNotFound", "message"] == "Resource 00000000-0000-0000-0000-000000000000 cannot be found.")

            let listed = try await harness.get(harness.trove + "/instances/\(instance)/backups")
            let updated = listed.json[path: "backups"].arrayValue?.compactMap { $0["updated"]?.stringValue } ?? []
            #expect(updated.count == 5)
            #expect(updated == updated.sorted(by: >))
            let filtered = try await harness.get(harness.trove + "/backups?instance_id=\(instance)")
            #expect(filtered.json[path: "backups"].arrayValue?.count == 5)
        }
    }

    @Test("while a backup runs the instance shows BACKUP, a second backup is 422, deleting the running one is 422")
    func runningBackup() async throws {
        try await SimulatorHarness.run(delay: SimulatorHarness.paused) { harness in
            let response = try await create(harness, [:])
            #expect(response.json[path: "backup", "status"] == "NEW")
            let id = try #require(response.json[path: "backup", "id"].stringValue)
            let busy = try await harness.get(harness.trove + "/instances/" + instance)
            #expect(busy.json[path: "instance", "status"] == "BACKUP")

            let second = try await create(harness, [:])
            #expect(second.status == 422)
            #expect(
                second.json
                    == [
                        "unprocessableEntity": [
                            "code": 422,
                            "message": .string("Instance \(instance) is not currently available for an action to be performed (instance status was BACKUP)."),
                        ]
                    ])
            let deleting = try await harness.send(.DELETE, harness.trove + "/backups/" + id)
            #expect(deleting.status == 422)
            #expect(deleting.json[path: "unprocessableEntity", "message"] == .string("Backup \(id) cannot be deleted because it is running."))

            harness.simulator.advanceClock(by: 31)
            #expect(try await harness.get(harness.trove + "/backups/" + id).json[path: "backup", "status"] == "BUILDING")
            #expect(try await harness.get(harness.trove + "/instances/" + instance).json[path: "instance", "status"] == "BACKUP")
            harness.simulator.advanceClock(by: 30)
            #expect(try await harness.get(harness.trove + "/backups/" + id).json[path: "backup", "status"] == "COMPLETED")
            #expect(try await harness.get(harness.trove + "/instances/" + instance).json[path: "instance", "status"] == "ACTIVE")
        }
    }

    @Test("forced failure ends FAILED; delete cascades to every descendant")
    func failureAndCascade() async throws {
        try await SimulatorHarness.run { harness in
            let root = try #require(try await createAndWait(harness)[path: "id"].stringValue)
            let child = try #require(try await createAndWait(harness, ["incremental": 1])[path: "id"].stringValue)
            let grandchild = try #require(try await createAndWait(harness, ["incremental": 1])[path: "id"].stringValue)
            #expect(harness.stateEntry("trove_backups", id: grandchild)?["parent_id"] == .string(child))

            harness.simulator.updateSettings { $0.failures.troveBackup = 1 }
            let failing = try await create(harness, [:])
            let failingID = try #require(failing.json[path: "backup", "id"].stringValue)
            try await harness.waitFor(harness.trove + "/backups/" + failingID, ["backup", "status"], equals: "FAILED")

            let deleted = try await harness.send(.DELETE, harness.trove + "/backups/" + root)
            #expect(deleted.status == 202)
            for id in [root, child, grandchild] {
                let gone = try await harness.get(harness.trove + "/backups/" + id)
                #expect(gone.status == 404)
                #expect(gone.json == ["itemNotFound": ["code": 404, "message": .string("Resource \(id) cannot be found.")]])
            }
            #expect(try await harness.get(harness.trove + "/backups/" + failingID).status == 200)
        }
    }
}
