import OrderedJSON

/// The resources loaded at start unless told otherwise (ids in ``SimulatorDefaults``).
let defaultSeed: JSON = [
    "images": [
        [
            "id": .string(SimulatorDefaults.cirrosImageID), "name": "cirros-0.6.2-x86_64-disk", "tags": ["cirros"],
            "os_distro": "cirros", "size": 21_430_272, "created_at": "2025-01-06T10:00:00Z",
        ],
        [
            "id": .string(SimulatorDefaults.ubuntuImageID), "name": "ubuntu-24.04", "tags": ["ubuntu", "lts"],
            "os_distro": "ubuntu", "size": 613_416_960, "created_at": "2025-01-06T10:05:00Z",
        ],
        [
            "id": .string(SimulatorDefaults.fedoraImageID), "name": "fedora-40", "tags": ["fedora"],
            "disk_format": "raw", "os_distro": "fedora", "size": 5_368_709_120, "created_at": "2025-01-06T10:10:00Z",
        ],
    ],
    "servers": [
        [
            "id": .string(SimulatorDefaults.demoServerID), "name": "demo-server", "vm_state": "active",
            "image_id": .string(SimulatorDefaults.cirrosImageID), "created_at": "2025-01-07T09:00:00Z",
        ],
        [
            "id": .string(SimulatorDefaults.stoppedServerID), "name": "batch-worker", "vm_state": "stopped",
            "image_id": .string(SimulatorDefaults.ubuntuImageID), "created_at": "2025-01-07T09:30:00Z",
        ],
    ],
    "volumes": [
        [
            "id": .string(SimulatorDefaults.demoVolumeID), "name": "demo-volume", "size": 10, "status": "available",
            "created_at": "2025-01-07T10:00:00.000000",
        ],
        [
            "id": .string(SimulatorDefaults.dataVolumeID), "name": "data-volume", "size": 20, "status": "available",
            "created_at": "2025-01-07T10:10:00.000000",
        ],
        [
            "id": .string(SimulatorDefaults.inUseVolumeID), "name": "boot-volume", "size": 1, "status": "in-use",
            "bootable": true, "server_id": .string(SimulatorDefaults.demoServerID),
            "created_at": "2025-01-07T10:20:00.000000",
        ],
    ],
    "trove_instances": [
        [
            "id": .string(SimulatorDefaults.demoDatabaseInstanceID), "name": "demo-db", "status": "ACTIVE",
            "datastore": ["type": "mysql", "version": "8.0"], "created": "2025-01-07T11:00:00",
        ]
    ],
]

private let seedKinds = ["images", "servers", "volumes", "snapshots", "backups", "trove_instances", "trove_backups"]

/// Reads one seed entry's fields with type checks that name the entry in errors.
private struct SeedEntry {
    let object: JSONObject
    let kind: String

    init(_ value: JSON, kind: String) throws(SimulatorError) {
        guard let object = value.objectValue else { throw SimulatorError("\(kind): every entry must be an object") }
        self.object = object
        self.kind = kind
    }

    func string(_ key: String) throws(SimulatorError) -> String? {
        guard let value = object[key], !value.isNull else { return nil }
        guard let text = value.stringValue else { throw SimulatorError("\(kind).\(key) must be a string") }
        return text
    }

    func int(_ key: String) throws(SimulatorError) -> Int? {
        guard let value = object[key], !value.isNull else { return nil }
        guard let number = value.intValue else { throw SimulatorError("\(kind).\(key) must be an integer") }
        return number
    }

    func bool(_ key: String) throws(SimulatorError) -> Bool? {
        guard let value = object[key], !value.isNull else { return nil }
        guard let flag = value.boolValue else { throw SimulatorError("\(kind).\(key) must be a boolean") }
        return flag
    }

    func time(_ keys: String...) throws(SimulatorError) -> Timestamp? {
        for key in keys {
            guard let text = try string(key) else { continue }
            guard let time = Timestamp(parsing: text) else { throw SimulatorError("\(kind).\(key) is not an ISO 8601 time") }
            return time
        }
        return nil
    }

    func objectValue(_ key: String) throws(SimulatorError) -> JSONObject? {
        guard let value = object[key], !value.isNull else { return nil }
        guard let members = value.objectValue else { throw SimulatorError("\(kind).\(key) must be an object") }
        return members
    }

    func strings(_ key: String) throws(SimulatorError) -> [String]? {
        guard let value = object[key], !value.isNull else { return nil }
        guard let items = value.arrayValue?.compactMap(\.stringValue), items.count == value.arrayValue?.count else {
            throw SimulatorError("\(kind).\(key) must be a list of strings")
        }
        return items
    }
}

extension CloudState {
    /// Adds the resources in `json` (the `POST /_simulator/seed` form) and returns them as
    /// `/_simulator/state` shows them. Ids are generated when absent; dependencies are
    /// created first whatever the key order (images, servers, volumes, snapshots, backups, Trove).
    mutating func seed(_ json: JSON) throws(SimulatorError) -> JSON {
        guard let object = json.objectValue else { throw SimulatorError("a seed must be an object") }
        if let unknown = object.keys.first(where: { !seedKinds.contains($0) }) {
            throw SimulatorError("unknown seed key '\(unknown)' (expected \(seedKinds.joined(separator: ", ")))")
        }
        func entries(_ kind: String) throws(SimulatorError) -> [SeedEntry] {
            guard let value = object[kind] else { return [] }
            guard let items = value.arrayValue else { throw SimulatorError("\(kind) must be a list") }
            var result: [SeedEntry] = []
            for item in items { result.append(try SeedEntry(item, kind: kind)) }
            return result
        }
        var created = JSONObject()
        let project = SimulatorDefaults.demoProjectID
        let user = SimulatorDefaults.adminUserID

        var createdImages: [JSON] = []
        for entry in try entries("images") {
            let now = clock.now()
            let status = try entry.string("status") ?? "active"
            let known: Set<String> = [
                "id", "name", "status", "visibility", "container_format", "disk_format", "size", "virtual_size",
                "checksum", "protected", "min_ram", "min_disk", "owner", "os_hidden", "tags", "created_at",
                "updated_at", "properties",
            ]
            var properties = try entry.objectValue("properties") ?? [:]
            for (key, value) in entry.object where !known.contains(key) {
                properties[key] = value
            }
            let createdAt = try entry.time("created_at") ?? now
            let size = try entry.int("size").map(Int64.init) ?? (status == "active" ? 16_338_944 : nil)
            let image = ImageRecord(
                id: try entry.string("id") ?? Identifiers.uuid(), name: try entry.string("name"), status: status,
                visibility: try entry.string("visibility") ?? "public",
                containerFormat: try entry.string("container_format") ?? "bare",
                diskFormat: try entry.string("disk_format") ?? "qcow2", size: size,
                virtualSize: try entry.int("virtual_size").map(Int64.init) ?? size,
                checksum: try entry.string("checksum") ?? (size == nil ? nil : Identifiers.keystoneID()),
                protected: try entry.bool("protected") ?? false, minRam: try entry.int("min_ram") ?? 0,
                minDisk: try entry.int("min_disk") ?? 0, owner: try entry.string("owner") ?? project,
                osHidden: try entry.bool("os_hidden") ?? false, tags: try entry.strings("tags") ?? [],
                createdAt: createdAt, updatedAt: try entry.time("updated_at") ?? createdAt, properties: properties)
            images.removeAll { $0.id == image.id }
            images.append(image)
            createdImages.append(imageState(image))
        }
        if object["images"] != nil { created["images"] = .array(createdImages) }

        var createdServers: [JSON] = []
        for entry in try entries("servers") {
            let now = clock.now()
            let id = try entry.string("id") ?? Identifiers.uuid()
            let vmState = try entry.string("vm_state") ?? "active"
            let createdAt = try entry.time("created_at", "created") ?? now
            let server = ServerRecord(
                id: id, name: try entry.string("name") ?? "server-\(servers.count + 1)", vmState: vmState,
                taskState: try entry.string("task_state"),
                powerState: try entry.int("power_state") ?? ServerRecord.defaultPowerState(for: vmState),
                projectID: try entry.string("project_id") ?? project, userID: user, createdAt: createdAt,
                updatedAt: try entry.time("updated_at", "updated") ?? createdAt, launchedAt: createdAt,
                imageID: try entry.string("image_id") ?? SimulatorDefaults.cirrosImageID,
                flavorID: try entry.string("flavor_id") ?? "1", metadata: try entry.objectValue("metadata") ?? [:],
                locked: try entry.bool("locked") ?? false, tags: try entry.strings("tags") ?? [],
                keyName: try entry.string("key_name"), description: try entry.string("description"),
                hostID: Identifiers.stableKeystoneID("host:" + id) + "00000000",
                addresses: [
                    "private": [
                        [
                            "addr": .string("10.0.0.\(id.utf8.reduce(0) { ($0 + Int($1)) % 200 } + 20)"), "version": 4,
                            "OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:4c:2c:30",
                        ]
                    ]
                ])
            servers.removeAll { $0.id == server.id }
            servers.append(server)
            createdServers.append(serverState(server))
        }
        if object["servers"] != nil { created["servers"] = .array(createdServers) }

        var createdVolumes: [JSON] = []
        for entry in try entries("volumes") {
            let now = clock.now()
            let status = try entry.string("status") ?? "available"
            var serverID = try entry.string("server_id")
            if status == "in-use", serverID == nil {
                serverID = servers.first { $0.id == SimulatorDefaults.demoServerID }?.id ?? servers.first?.id
            }
            let createdAt = try entry.time("created_at") ?? now
            let volume = VolumeRecord(
                id: try entry.string("id") ?? Identifiers.uuid(), name: try entry.string("name"),
                description: try entry.string("description"), size: try entry.int("size") ?? 1, status: status,
                previousStatus: try entry.string("previous_status"),
                projectID: try entry.string("project_id") ?? project, userID: user, createdAt: createdAt,
                updatedAt: try entry.time("updated_at") ?? createdAt, bootable: try entry.bool("bootable") ?? false,
                availabilityZone: try entry.string("availability_zone") ?? "nova",
                volumeType: try entry.string("volume_type") ?? "lvmdriver-1",
                metadata: try entry.objectValue("metadata") ?? [:], attachedServerID: serverID,
                failBackups: try entry.bool("fail_backups") ?? false)
            volumes.removeAll { $0.id == volume.id }
            volumes.append(volume)
            createdVolumes.append(volumeState(volume))
        }
        if object["volumes"] != nil { created["volumes"] = .array(createdVolumes) }

        var createdSnapshots: [JSON] = []
        for entry in try entries("snapshots") {
            let now = clock.now()
            guard let volumeID = try entry.string("volume_id") else { throw SimulatorError("snapshots.volume_id is required") }
            let volume = volumes.first { $0.id == volumeID }
            let createdAt = try entry.time("created_at") ?? now
            let snapshot = SnapshotRecord(
                id: try entry.string("id") ?? Identifiers.uuid(), name: try entry.string("name"),
                description: try entry.string("description"), volumeID: volumeID,
                size: try entry.int("size") ?? volume?.size ?? 1, status: try entry.string("status") ?? "available",
                projectID: volume?.projectID ?? project, userID: user, createdAt: createdAt,
                updatedAt: try entry.time("updated_at") ?? createdAt, metadata: try entry.objectValue("metadata") ?? [:])
            snapshots.removeAll { $0.id == snapshot.id }
            snapshots.append(snapshot)
            createdSnapshots.append(snapshotState(snapshot))
        }
        if object["snapshots"] != nil { created["snapshots"] = .array(createdSnapshots) }

        var createdBackupIDs: [String] = []
        for entry in try entries("backups") {
            let now = clock.now()
            guard let volumeID = try entry.string("volume_id") else { throw SimulatorError("backups.volume_id is required") }
            let volume = volumes.first { $0.id == volumeID }
            let snapshotID = try entry.string("snapshot_id")
            let createdAt = try entry.time("created_at") ?? now
            let status = try entry.string("status") ?? "available"
            let backup = VolumeBackupRecord(
                id: try entry.string("id") ?? Identifiers.uuid(), name: try entry.string("name"),
                description: try entry.string("description"), volumeID: volumeID, snapshotID: snapshotID,
                status: status, size: try entry.int("size") ?? volume?.size ?? 1,
                objectCount: status == "available" ? max(1, (volume?.size ?? 1) * 2) : 0,
                container: try entry.string("container"), availabilityZone: "nova", createdAt: createdAt,
                updatedAt: try entry.time("updated_at") ?? createdAt,
                dataTimestamp: try entry.time("data_timestamp")
                    ?? snapshots.first(where: { $0.id == snapshotID })?.createdAt ?? createdAt,
                failReason: try entry.string("fail_reason"), parentID: try entry.string("parent_id"),
                numDependentBackups: 0, projectID: volume?.projectID ?? project, userID: user,
                metadata: try entry.objectValue("metadata") ?? [:])
            backups.removeAll { $0.id == backup.id }
            backups.append(backup)
            createdBackupIDs.append(backup.id)
        }
        // A seeded child that is already available counts for its parent, as if it had finished here.
        for id in createdBackupIDs {
            guard let child = backups.first(where: { $0.id == id }), child.status == "available",
                let parentID = child.parentID, let parentIndex = backups.firstIndex(where: { $0.id == parentID })
            else { continue }
            backups[parentIndex].numDependentBackups += 1
        }
        if object["backups"] != nil {
            created["backups"] = .array(
                createdBackupIDs.compactMap { id in backups.first { $0.id == id }.map(volumeBackupState) })
        }

        var createdInstances: [JSON] = []
        for entry in try entries("trove_instances") {
            let now = clock.now()
            let datastore = try entry.objectValue("datastore") ?? [:]
            let createdAt = try entry.time("created", "created_at") ?? now
            let instance = DatabaseInstanceRecord(
                id: try entry.string("id") ?? Identifiers.uuid(), name: try entry.string("name") ?? "db-\(databaseInstances.count + 1)",
                status: try entry.string("status") ?? "ACTIVE",
                operatingStatus: try entry.string("operating_status") ?? "HEALTHY",
                datastoreType: datastore["type"]?.stringValue ?? "mysql",
                datastoreVersion: datastore["version"]?.stringValue ?? "8.0",
                flavorID: try entry.string("flavor_id") ?? "d2", volumeSize: try entry.int("volume_size") ?? 5,
                projectID: try entry.string("project_id") ?? project, createdAt: createdAt,
                updatedAt: try entry.time("updated", "updated_at") ?? createdAt,
                failBackups: try entry.bool("fail_backups") ?? false)
            databaseInstances.removeAll { $0.id == instance.id }
            databaseInstances.append(instance)
            createdInstances.append(databaseInstanceState(instance))
        }
        if object["trove_instances"] != nil { created["trove_instances"] = .array(createdInstances) }

        var createdDatabaseBackups: [JSON] = []
        for entry in try entries("trove_backups") {
            let now = clock.now()
            let instanceID = try entry.string("instance_id")
            let instance = databaseInstances.first { $0.id == instanceID }
            let createdAt = try entry.time("created", "created_at") ?? now
            let status = try entry.string("status") ?? "COMPLETED"
            let backup = DatabaseBackupRecord(
                id: try entry.string("id") ?? Identifiers.uuid(), name: try entry.string("name") ?? "backup",
                description: try entry.string("description"), instanceID: instanceID, status: status,
                parentID: try entry.string("parent_id"),
                size: entry.object["size"]?.doubleValue ?? (status == "COMPLETED" ? 0.12 : nil), createdAt: createdAt,
                updatedAt: try entry.time("updated", "updated_at") ?? createdAt,
                projectID: instance?.projectID ?? project, datastoreType: instance?.datastoreType ?? "mysql",
                datastoreVersion: instance?.datastoreVersion ?? "8.0")
            databaseBackups.removeAll { $0.id == backup.id }
            databaseBackups.append(backup)
            createdDatabaseBackups.append(databaseBackupState(backup))
        }
        if object["trove_backups"] != nil { created["trove_backups"] = .array(createdDatabaseBackups) }
        return .object(created)
    }

    // MARK: - The internal view (`/_simulator/state`)

    /// Everything, including fields the APIs hide (a Cinder backup's `parent_id`).
    func stateView() -> JSON {
        let now = clock.current
        return [
            "volumes": .array(volumes.map(volumeState)),
            "snapshots": .array(snapshots.map(snapshotState)),
            "backups": .array(backups.map(volumeBackupState)),
            "servers": .array(servers.map(serverState)),
            "images": .array(images.map(imageState)),
            "trove_instances": .array(databaseInstances.map(databaseInstanceState)),
            "trove_backups": .array(databaseBackups.map(databaseBackupState)),
            "tokens": [
                "issued": .integer(Int64(identity.tokens.count)),
                "valid": .integer(Int64(identity.tokens.values.filter { $0.isValid(at: now) }.count)),
            ],
            "trusts": .array(
                identity.trusts.map {
                    trustBody($0, collectionURL: authURL + "/v3/OS-TRUST/trusts", applicationURL: authURL + "/v3")
                }),
            "pending_transitions": .integer(Int64(pending.count)),
            "clock": [
                "now": .string(now.keystoneFormat),
                "offset_seconds": .double(Double(clock.offsetMicroseconds) / 1_000_000),
            ],
            "faults": .array(faults.map { fault in
                var rule = fault.rule.json.objectValue ?? [:]
                rule["remaining"] = .integer(Int64(fault.remaining))
                return .object(rule)
            }),
            "settings": settings.json,
        ]
    }

    func volumeState(_ volume: VolumeRecord) -> JSON {
        [
            "id": .string(volume.id), "name": volume.name.map(JSON.string) ?? .null,
            "status": .string(volume.status), "previous_status": volume.previousStatus.map(JSON.string) ?? .null,
            "size": .integer(Int64(volume.size)), "project_id": .string(volume.projectID),
            "bootable": .bool(volume.bootable), "server_id": volume.attachedServerID.map(JSON.string) ?? .null,
            "fail_backups": .bool(volume.failBackups), "created_at": .string(volume.createdAt.cinderFormat),
            "updated_at": .string(volume.updatedAt.cinderFormat),
        ]
    }

    func snapshotState(_ snapshot: SnapshotRecord) -> JSON {
        [
            "id": .string(snapshot.id), "name": snapshot.name.map(JSON.string) ?? .null,
            "volume_id": .string(snapshot.volumeID), "status": .string(snapshot.status),
            "size": .integer(Int64(snapshot.size)), "project_id": .string(snapshot.projectID),
            "created_at": .string(snapshot.createdAt.cinderFormat), "updated_at": .string(snapshot.updatedAt.cinderFormat),
        ]
    }

    func volumeBackupState(_ backup: VolumeBackupRecord) -> JSON {
        [
            "id": .string(backup.id), "name": backup.name.map(JSON.string) ?? .null,
            "volume_id": .string(backup.volumeID), "snapshot_id": backup.snapshotID.map(JSON.string) ?? .null,
            "status": .string(backup.status), "parent_id": backup.parentID.map(JSON.string) ?? .null,
            "is_incremental": .bool(backup.parentID != nil),
            "num_dependent_backups": .integer(Int64(backup.numDependentBackups)),
            "size": .integer(Int64(backup.size)), "fail_reason": backup.failReason.map(JSON.string) ?? .null,
            "project_id": .string(backup.projectID), "created_at": .string(backup.createdAt.cinderFormat),
            "updated_at": .string(backup.updatedAt.cinderFormat),
            "data_timestamp": .string(backup.dataTimestamp.cinderFormat),
        ]
    }

    func serverState(_ server: ServerRecord) -> JSON {
        [
            "id": .string(server.id), "name": .string(server.name), "status": .string(server.status),
            "vm_state": .string(server.vmState), "task_state": server.taskState.map(JSON.string) ?? .null,
            "power_state": .integer(Int64(server.powerState)), "image_id": .string(server.imageID),
            "locked": .bool(server.locked), "project_id": .string(server.projectID),
            "created": .string(server.createdAt.novaFormat), "updated": .string(server.updatedAt.novaFormat),
        ]
    }

    func imageState(_ image: ImageRecord) -> JSON {
        [
            "id": .string(image.id), "name": image.name.map(JSON.string) ?? .null, "status": .string(image.status),
            "visibility": .string(image.visibility), "owner": .string(image.owner),
            "container_format": image.containerFormat.map(JSON.string) ?? .null,
            "disk_format": image.diskFormat.map(JSON.string) ?? .null, "tags": .array(image.tags.map(JSON.string)),
            "properties": .object(image.properties), "protected": .bool(image.protected),
            "os_hidden": .bool(image.osHidden), "created_at": .string(image.createdAt.novaFormat),
            "updated_at": .string(image.updatedAt.novaFormat),
        ]
    }

    func databaseInstanceState(_ instance: DatabaseInstanceRecord) -> JSON {
        [
            "id": .string(instance.id), "name": .string(instance.name), "status": .string(visibleStatus(of: instance)),
            "base_status": .string(instance.status),
            "datastore": ["type": .string(instance.datastoreType), "version": .string(instance.datastoreVersion)],
            "project_id": .string(instance.projectID), "fail_backups": .bool(instance.failBackups),
            "created": .string(instance.createdAt.troveFormat), "updated": .string(instance.updatedAt.troveFormat),
        ]
    }

    func databaseBackupState(_ backup: DatabaseBackupRecord) -> JSON {
        [
            "id": .string(backup.id), "name": .string(backup.name),
            "instance_id": backup.instanceID.map(JSON.string) ?? .null, "status": .string(backup.status),
            "parent_id": backup.parentID.map(JSON.string) ?? .null, "project_id": .string(backup.projectID),
            "created": .string(backup.createdAt.troveFormat), "updated": .string(backup.updatedAt.troveFormat),
        ]
    }
}
