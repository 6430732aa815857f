import OpenStackSimulator
import OrderedJSON
import Testing

@Suite("Cinder")
struct BlockStorageTests {
    private static let microversion = "volume 3.64"

    private func createBackup(
        _ harness: SimulatorHarness, _ request: JSON, microversion: String = BlockStorageTests.microversion
    ) async throws -> TestResponse {
        try await harness.post(harness.cinder + "/backups", ["backup": request], microversion: microversion)
    }

    /// Creates a backup, checks the 202 summary, and moves the clock until it is available.
    private func backupAndFinish(_ harness: SimulatorHarness, _ request: JSON) async throws -> String {
        let response = try await createBackup(harness, request)
        #expect(response.status == 202, "\(response.text)")
        let id = try #require(response.json[path: "backup", "id"].stringValue)
        #expect(response.json[path: "backup", "links"].arrayValue?.count == 2)
        harness.finishTransitions()
        #expect(try await harness.get(harness.cinder + "/backups/" + id).json[path: "backup", "status"] == "available")
        return id
    }

    private func parent(_ harness: SimulatorHarness, of id: String) -> String? {
        harness.stateEntry("backups", id: id)?["parent_id"]?.stringValue
    }

    @Test("full then incremental chain: parent is the latest available backup; counters; volume backing-up and back")
    func chain() async throws {
        try await SimulatorHarness.run(delay: SimulatorHarness.paused) { harness in
            let volume = SimulatorDefaults.demoVolumeID
            let created = try await createBackup(harness, ["volume_id": .string(volume), "name": "full"])
            #expect(created.status == 202)
            let fullID = try #require(created.json[path: "backup", "id"].stringValue)
            // While it runs the volume is backing-up and the backup creating.
            let busy = try await harness.get(harness.cinder + "/volumes/" + volume)
            #expect(busy.json[path: "volume", "status"] == "backing-up")
            let creating = try await harness.get(harness.cinder + "/backups/" + fullID, microversion: Self.microversion)
            #expect(creating.json[path: "backup", "status"] == "creating")
            #expect(creating.json[path: "backup", "is_incremental"] == false)
            #expect(creating.json[path: "backup", "parent_id"] == .null)
            harness.finishTransitions()
            let finished = try await harness.get(harness.cinder + "/backups/" + fullID)
            #expect(finished.json[path: "backup", "status"] == "available")
            let restored = try await harness.get(harness.cinder + "/volumes/" + volume)
            #expect(restored.json[path: "volume", "status"] == "available")

            let firstIncrement = try await backupAndFinish(harness, ["volume_id": .string(volume), "incremental": true])
            #expect(parent(harness, of: firstIncrement) == fullID)
            let secondIncrement = try await backupAndFinish(harness, ["volume_id": .string(volume), "incremental": "true"])
            #expect(parent(harness, of: secondIncrement) == firstIncrement)

            let full = try await harness.get(harness.cinder + "/backups/" + fullID, microversion: Self.microversion)
            #expect(full.json[path: "backup", "has_dependent_backups"] == true)
            let middle = try await harness.get(harness.cinder + "/backups/" + firstIncrement, microversion: Self.microversion)
            #expect(middle.json[path: "backup", "is_incremental"] == true)
            #expect(middle.json[path: "backup", "has_dependent_backups"] == true)
            #expect(harness.stateEntry("backups", id: fullID)?["num_dependent_backups"] == 1)
            // Cinder's format: naive UTC with microseconds; data_timestamp equals created_at for a volume backup.
            let createdAt = try #require(middle.json[path: "backup", "created_at"].stringValue)
            #expect(createdAt.count == 26 && !createdAt.hasSuffix("Z"))
            #expect(middle.json[path: "backup", "data_timestamp"].stringValue == createdAt)
        }
    }

    @Test("a newer backup still creating (or in error) is skipped: the parent is the older available one")
    func creatingBackupSkipped() async throws {
        try await SimulatorHarness.run { harness in
            let volume = SimulatorDefaults.dataVolumeID
            let seeded = try harness.simulator.seed([
                "backups": [
                    ["volume_id": .string(volume), "status": "available", "created_at": "2025-03-01T08:00:00"],
                    ["volume_id": .string(volume), "status": "error", "created_at": "2025-03-01T08:30:00"],
                    ["volume_id": .string(volume), "status": "creating", "created_at": "2025-03-01T09:00:00"],
                ]
            ])
            let olderAvailable = try #require(seeded[path: "backups"][0]?["id"]?.stringValue)
            let response = try await createBackup(harness, ["volume_id": .string(volume), "incremental": true])
            #expect(response.status == 202)
            let id = try #require(response.json[path: "backup", "id"].stringValue)
            #expect(parent(harness, of: id) == olderAvailable)
        }
    }

    @Test("snapshot cutoff: an incremental backup of a snapshot takes the latest backup older than the snapshot")
    func snapshotCutoff() async throws {
        try await SimulatorHarness.run(delay: SimulatorHarness.paused) { harness in
            let volume = SimulatorDefaults.dataVolumeID
            let seeded = try harness.simulator.seed([
                "backups": [
                    ["volume_id": .string(volume), "name": "8:00", "created_at": "2025-03-01T08:00:00"],
                    ["volume_id": .string(volume), "name": "8:20", "created_at": "2025-03-01T08:20:00"],
                ],
                "snapshots": [["volume_id": .string(volume), "name": "8:10", "created_at": "2025-03-01T08:10:00"]],
            ])
            let eightOClock = try #require(seeded[path: "backups"][0]?["id"]?.stringValue)
            let snapshot = try #require(seeded[path: "snapshots"][0]?["id"]?.stringValue)
            let response = try await createBackup(
                harness, ["volume_id": .string(volume), "snapshot_id": .string(snapshot), "incremental": true])
            #expect(response.status == 202, "\(response.text)")
            let id = try #require(response.json[path: "backup", "id"].stringValue)
            #expect(parent(harness, of: id) == eightOClock)
            let detail = try await harness.get(harness.cinder + "/backups/" + id, microversion: Self.microversion)
            #expect(detail.json[path: "backup", "data_timestamp"] == "2025-03-01T08:10:00.000000")
            #expect(detail.json[path: "backup", "snapshot_id"] == .string(snapshot))
            // A snapshot backup leaves the volume alone and holds the snapshot.
            #expect(harness.stateEntry("volumes", id: volume)?["status"] == "available")
            #expect(harness.stateEntry("snapshots", id: snapshot)?["status"] == "backing-up")
            harness.finishTransitions()
            #expect(harness.stateEntry("snapshots", id: snapshot)?["status"] == "available")
            #expect(harness.stateEntry("backups", id: id)?["status"] == "available")
        }
    }

    @Test("snapshot quirk: when every available backup is newer than the snapshot, the first listed one is taken")
    func snapshotCutoffQuirk() async throws {
        try await SimulatorHarness.run { harness in
            let volume = SimulatorDefaults.dataVolumeID
            let seeded = try harness.simulator.seed([
                "backups": [["volume_id": .string(volume), "created_at": "2025-03-01T08:20:00"]],
                "snapshots": [["volume_id": .string(volume), "created_at": "2025-03-01T08:10:00"]],
            ])
            let backup = try #require(seeded[path: "backups"][0]?["id"]?.stringValue)
            let snapshot = try #require(seeded[path: "snapshots"][0]?["id"]?.stringValue)
            let response = try await createBackup(
                harness, ["volume_id": .string(volume), "snapshot_id": .string(snapshot), "incremental": true])
            #expect(response.status == 202)
            #expect(parent(harness, of: try #require(response.json[path: "backup", "id"].stringValue)) == backup)
        }
    }

    @Test("incremental without a usable base is 400, not a silent full backup")
    func noBase() async throws {
        try await SimulatorHarness.run { harness in
            let expected: JSON = [
                "badRequest": ["code": 400, "message": "Invalid backup: No backups available to do an incremental backup."]
            ]
            let none = try await createBackup(harness, ["volume_id": .string(SimulatorDefaults.dataVolumeID), "incremental": true])
            #expect(none.status == 400)
            #expect(none.json == expected)
            try harness.simulator.seed([
                "backups": [["volume_id": .string(SimulatorDefaults.dataVolumeID), "status": "error"]]
            ])
            let onlyError = try await createBackup(
                harness, ["volume_id": .string(SimulatorDefaults.dataVolumeID), "incremental": true])
            #expect(onlyError.json == expected)
            #expect(harness.stateEntry("volumes", id: SimulatorDefaults.dataVolumeID)?["status"] == "available")
        }
    }

    @Test("schema: a parent_id key or any unknown key is 400; bad incremental value is 400; missing volume is 404")
    func schema() async throws {
        try await SimulatorHarness.run { harness in
            let volume = SimulatorDefaults.demoVolumeID
            let withParent = try await createBackup(harness, ["volume_id": .string(volume), "parent_id": .string(volume)])
            #expect(withParent.status == 400)
            #expect(
                withParent.json[path: "badRequest", "message"]
                    == .string(
                        "Invalid input for field/attribute backup. Value: {'volume_id': '\(volume)', 'parent_id': '\(volume)'}. "
                            + "Additional properties are not allowed ('parent_id' was unexpected)"))
            // metadata only exists from 3.43.
            let early = try await createBackup(
                harness, ["volume_id": .string(volume), "metadata": ["a": "b"]], microversion: "volume 3.42")
            #expect(early.status == 400)
            let late = try await createBackup(
                harness, ["volume_id": .string(volume), "metadata": ["a": "b"]], microversion: "volume 3.43")
            #expect(late.status == 202)

            let badFlag = try await createBackup(harness, ["volume_id": .string(SimulatorDefaults.dataVolumeID), "incremental": "maybe"])
            #expect(badFlag.status == 400)
            #expect(badFlag.json[path: "badRequest", "message"].stringValue?.hasPrefix("Invalid input for field/attribute incremental. Value: 'maybe'. 'maybe' is not one of [True, 'True'") == true)

            let missing = try await createBackup(harness, ["volume_id": "00000000-0000-0000-0000-000000000000"])
            #expect(missing.status == 404)
            #expect(missing.json == ["itemNotFound": ["code": 404, "message": "Volume 00000000-0000-0000-0000-000000000000 could not be found."]])

            let notUUID = try await createBackup(harness, ["volume_id": "nope"])
            #expect(notUUID.json[path: "badRequest", "message"] == "Invalid input for field/attribute volume_id. Value: 'nope'. 'nope' is not a 'uuid'")
        }
    }

    @Test("a second backup while the volume is backing-up is 400; in-use needs force and returns to in-use")
    func volumeStatusRules() async throws {
        try await SimulatorHarness.run(delay: SimulatorHarness.paused) { harness in
            let first = try await createBackup(harness, ["volume_id": .string(SimulatorDefaults.demoVolumeID)])
            #expect(first.status == 202)
            let second = try await createBackup(harness, ["volume_id": .string(SimulatorDefaults.demoVolumeID)])
            #expect(second.status == 400)
            #expect(
                second.json[path: "badRequest", "message"]
                    == "Invalid volume: Volume to be backed up must be available or in-use, but the current status is \"backing-up\".")

            let inUse = SimulatorDefaults.inUseVolumeID
            let unforced = try await createBackup(harness, ["volume_id": .string(inUse)])
            #expect(unforced.status == 400)
            #expect(unforced.json[path: "badRequest", "message"] == "Invalid volume: Backing up an in-use volume must use the force flag.")
            let forced = try await createBackup(harness, ["volume_id": .string(inUse), "force": true])
            #expect(forced.status == 202)
            #expect(harness.stateEntry("volumes", id: inUse)?["status"] == "backing-up")
            harness.finishTransitions()
            #expect(try await harness.get(harness.cinder + "/volumes/" + inUse).json[path: "volume", "status"] == "in-use")
        }
    }

    @Test("delete: children block with 400 whatever their state; newest-first works; deleting then 404")
    func deleteRules() async throws {
        try await SimulatorHarness.run(delay: SimulatorHarness.paused) { harness in
            let volume = SimulatorDefaults.demoVolumeID
            let full = try await backupAndFinish(harness, ["volume_id": .string(volume)])
            let increment = try await createBackup(harness, ["volume_id": .string(volume), "incremental": true])
            let incrementID = try #require(increment.json[path: "backup", "id"].stringValue)

            // The child is still creating: the child cannot be deleted, and it blocks its parent.
            let busy = try await harness.send(.DELETE, harness.cinder + "/backups/" + incrementID)
            #expect(busy.status == 400)
            #expect(busy.json[path: "badRequest", "message"] == "Invalid backup: Backup status must be available or error")
            let blocked = try await harness.send(.DELETE, harness.cinder + "/backups/" + full)
            #expect(blocked.status == 400)
            #expect(
                blocked.json == ["badRequest": ["code": 400, "message": "Invalid backup: Incremental backups exist for this backup."]])

            harness.finishTransitions()
            let deleted = try await harness.send(.DELETE, harness.cinder + "/backups/" + incrementID)
            #expect(deleted.status == 202)
            #expect(deleted.text.isEmpty)
            let deleting = try await harness.get(harness.cinder + "/backups/" + incrementID)
            #expect(deleting.json[path: "backup", "status"] == "deleting")
            harness.finishTransitions()
            let gone = try await harness.get(harness.cinder + "/backups/" + incrementID)
            #expect(gone.status == 404)
            #expect(gone.json == ["itemNotFound": ["code": 404, "message": .string("Backup \(incrementID) could not be found.")]])
            let parentNow = try await harness.get(harness.cinder + "/backups/" + full)
            #expect(parentNow.json[path: "backup", "has_dependent_backups"] == false)
            #expect(try await harness.send(.DELETE, harness.cinder + "/backups/" + full).status == 202)
        }
    }

    @Test("forced failure: the backup ends in error with a fail_reason, the volume returns to available")
    func forcedFailure() async throws {
        try await SimulatorHarness.run { harness in
            try harness.simulator.updateSettings(json: ["fail_next_backup": true])
            let response = try await createBackup(harness, ["volume_id": .string(SimulatorDefaults.demoVolumeID)])
            let id = try #require(response.json[path: "backup", "id"].stringValue)
            try await harness.waitFor(harness.cinder + "/backups/" + id, ["backup", "status"], equals: "error")
            let detail = try await harness.get(harness.cinder + "/backups/" + id)
            #expect(detail.json[path: "backup", "fail_reason"].stringValue?.isEmpty == false)
            let volume = try #require(harness.stateEntry("volumes", id: SimulatorDefaults.demoVolumeID))
            #expect(volume["status"] == "available")
            #expect(volume["previous_status"] == "error_backing-up")
            // Only the next one failed.
            let next = try await backupAndFinish(harness, ["volume_id": .string(SimulatorDefaults.demoVolumeID)])
            #expect(harness.stateEntry("backups", id: next)?["status"] == "available")
        }
    }

    @Test("listing: volume_id filter, sort, limit/marker with backups_links until a short page, with_count")
    func listing() async throws {
        try await SimulatorHarness.run { harness in
            let volume = SimulatorDefaults.dataVolumeID
            try harness.simulator.seed([
                "backups": [
                    ["volume_id": .string(volume), "name": "a", "created_at": "2025-03-01T08:00:00"],
                    ["volume_id": .string(volume), "name": "b", "created_at": "2025-03-01T09:00:00"],
                    ["volume_id": .string(volume), "name": "c", "created_at": "2025-03-01T10:00:00"],
                    ["volume_id": .string(SimulatorDefaults.demoVolumeID), "name": "other"],
                ]
            ])
            var url: String? = harness.cinder + "/backups/detail?volume_id=\(volume)&sort=created_at:desc&limit=2"
            var names: [String] = []
            var pages = 0
            while let next = url {
                let page = try await harness.get(next, microversion: Self.microversion)
                #expect(page.status == 200)
                names += page.json[path: "backups"].arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
                url = page.json[path: "backups_links"][0]?["href"]?.stringValue
                pages += 1
            }
            #expect(names == ["c", "b", "a"])
            #expect(pages == 2)

            let ascending = try await harness.get(harness.cinder + "/backups?volume_id=\(volume)&sort_key=created_at&sort_dir=asc")
            #expect(ascending.json[path: "backups"].arrayValue?.compactMap { $0["name"]?.stringValue } == ["a", "b", "c"])
            #expect(ascending.json[path: "backups"][0]?["status"] == nil)

            let counted = try await harness.get(
                harness.cinder + "/backups/detail?volume_id=\(volume)&with_count=true&limit=1", microversion: "volume 3.45")
            #expect(counted.json[path: "count"] == 3)
            #expect(counted.json[path: "backups"].arrayValue?.count == 1)

            let mixed = try await harness.get(harness.cinder + "/backups?sort=name&sort_key=name")
            #expect(mixed.status == 400)
        }
    }

    @Test("unknown filters: 400 from 3.31, silently ignored below")
    func invalidFilters() async throws {
        try await SimulatorHarness.run { harness in
            try harness.simulator.seed(["backups": [["volume_id": .string(SimulatorDefaults.demoVolumeID)]]])
            let strict = try await harness.get(harness.cinder + "/backups/detail?parent_id=x", microversion: "volume 3.31")
            #expect(strict.status == 400)
            #expect(strict.json[path: "badRequest", "message"] == "Invalid filters parent_id are found in query options.")
            let lenient = try await harness.get(harness.cinder + "/backups/detail?parent_id=x", microversion: "volume 3.30")
            #expect(lenient.status == 200)
            #expect(lenient.json[path: "backups"].arrayValue?.count == 1)
            let allTenants = try await harness.get(harness.cinder + "/backups/detail?all_tenants=1", microversion: "volume 3.64")
            #expect(allTenants.status == 200)
        }
    }

    @Test("snapshots: create 202 creating → available; in-use needs force; delete → 404; foreign project in URL is 400")
    func snapshots() async throws {
        try await SimulatorHarness.run { harness in
            let created = try await harness.post(
                harness.cinder + "/snapshots", ["snapshot": ["volume_id": .string(SimulatorDefaults.demoVolumeID), "name": "s1"]])
            #expect(created.status == 202)
            #expect(created.json[path: "snapshot", "status"] == "creating")
            let id = try #require(created.json[path: "snapshot", "id"].stringValue)
            try await harness.waitFor(harness.cinder + "/snapshots/" + id, ["snapshot", "status"], equals: "available")

            let inUse = try await harness.post(
                harness.cinder + "/snapshots", ["snapshot": ["volume_id": .string(SimulatorDefaults.inUseVolumeID)]])
            #expect(inUse.status == 400)
            #expect(
                inUse.json[path: "badRequest", "message"]
                    == .string("Invalid volume: Volume \(SimulatorDefaults.inUseVolumeID) status must be available, but current status is: in-use."))
            let forced = try await harness.post(
                harness.cinder + "/snapshots", ["snapshot": ["volume_id": .string(SimulatorDefaults.inUseVolumeID), "force": true]])
            #expect(forced.status == 202)

            #expect(try await harness.send(.DELETE, harness.cinder + "/snapshots/" + id).status == 202)
            try await harness.waitFor(harness.cinder + "/snapshots/" + id, ["itemNotFound", "message"], equals: "Snapshot \(id) could not be found.")

            let foreign = harness.simulator.endpointURL(.blockStorage, projectID: SimulatorDefaults.serviceProjectID)
            let mismatch = try await harness.get(foreign + "/volumes")
            #expect(mismatch.status == 400)
            #expect(mismatch.json[path: "badRequest", "message"] == "Malformed request url")
            let volume = try await harness.get(harness.cinder + "/volumes/" + SimulatorDefaults.inUseVolumeID)
            #expect(volume.json[path: "volume", "attachments"][0]?["server_id"] == .string(SimulatorDefaults.demoServerID))
            #expect(volume.json[path: "volume", "bootable"] == "true")
        }
    }
}
