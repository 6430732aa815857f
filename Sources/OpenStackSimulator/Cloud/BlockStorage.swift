import OrderedJSON

// Cinder v3: volumes (read), snapshots and backups (api-facts §2).

private let cinderMaxLimit = 1000

extension CloudState {
    mutating func handleBlockStorage(_ call: ServiceCall) throws(ServiceFailure) -> HTTPResponseData {
        if let pathProject = call.route.pathProjectID, pathProject != call.projectID {
            // cinder/api/openstack/wsgi.py: the URL's project must be the token's.
            throw .badRequest("Malformed request url")
        }
        switch (call.method, call.segments) {
        case ("GET", ["volumes"]): return try listVolumes(call, detail: false)
        case ("GET", ["volumes", "detail"]): return try listVolumes(call, detail: true)
        case ("GET", let path) where path.count == 2 && path[0] == "volumes":
            return .json(200, ["volume": volumeView(try volume(path[1], call), call)])
        case ("POST", ["snapshots"]): return try createSnapshot(call)
        case ("GET", ["snapshots"]), ("GET", ["snapshots", "detail"]):
            let items = snapshots.filter { $0.projectID == call.projectID }.sorted { $0.createdAt > $1.createdAt }
            return .json(200, ["snapshots": .array(items.map { snapshotView($0, call) })])
        case ("GET", let path) where path.count == 2 && path[0] == "snapshots":
            return .json(200, ["snapshot": snapshotView(try snapshot(path[1], call), call)])
        case ("DELETE", let path) where path.count == 2 && path[0] == "snapshots":
            return try deleteSnapshot(path[1], call)
        case ("POST", ["backups"]): return try createBackup(call)
        case ("GET", ["backups"]): return try listBackups(call, detail: false)
        case ("GET", ["backups", "detail"]): return try listBackups(call, detail: true)
        case ("GET", let path) where path.count == 2 && path[0] == "backups":
            return .json(200, ["backup": backupView(try backup(path[1], call), call)])
        case ("DELETE", let path) where path.count == 2 && path[0] == "backups":
            return try deleteBackup(path[1], call)
        default:
            throw .notFound("The resource could not be found.")
        }
    }

    // MARK: Lookups (only the caller's project is visible)

    private func volume(_ id: String, _ call: ServiceCall) throws(ServiceFailure) -> VolumeRecord {
        guard let volume = volumes.first(where: { $0.id == id && $0.projectID == call.projectID }) else {
            throw .notFound("Volume \(id) could not be found.")
        }
        return volume
    }

    private func snapshot(_ id: String, _ call: ServiceCall) throws(ServiceFailure) -> SnapshotRecord {
        guard let snapshot = snapshots.first(where: { $0.id == id && $0.projectID == call.projectID }) else {
            throw .notFound("Snapshot \(id) could not be found.")
        }
        return snapshot
    }

    private func backup(_ id: String, _ call: ServiceCall) throws(ServiceFailure) -> VolumeBackupRecord {
        guard let backup = backups.first(where: { $0.id == id && $0.projectID == call.projectID }) else {
            throw .notFound("Backup \(id) could not be found.")
        }
        return backup
    }

    // MARK: Views

    private func cinderLinks(_ collection: String, _ id: String, _ call: ServiceCall) -> JSON {
        let project = call.route.pathProjectID.map { "/" + $0 } ?? ""
        return [
            ["rel": "self", "href": .string("\(call.route.applicationURL)\(project)/\(collection)/\(id)")],
            ["rel": "bookmark", "href": .string("\(call.route.unversionedURL)\(project)/\(collection)/\(id)")],
        ]
    }

    private func volumeView(_ volume: VolumeRecord, _ call: ServiceCall) -> JSON {
        var attachments: [JSON] = []
        if volume.status == "in-use" || volume.previousStatus == "in-use", let serverID = volume.attachedServerID {
            attachments.append([
                "id": .string(volume.id), "attachment_id": .string(Identifiers.stableKeystoneID(volume.id + serverID)),
                "volume_id": .string(volume.id), "server_id": .string(serverID), "host_name": .null,
                "device": "/dev/vdb", "attached_at": .string(volume.createdAt.cinderFormat),
            ])
        }
        var view: JSONObject = [
            "id": .string(volume.id),
            "status": .string(volume.status),
            "size": .integer(Int64(volume.size)),
            "availability_zone": .string(volume.availabilityZone),
            "created_at": .string(volume.createdAt.cinderFormat),
            "updated_at": .string(volume.updatedAt.cinderFormat),
            "name": volume.name.map(JSON.string) ?? .null,
            "description": volume.description.map(JSON.string) ?? .null,
            "volume_type": .string(volume.volumeType),
            "snapshot_id": .null,
            "source_volid": .null,
            "metadata": .object(volume.metadata),
            "links": cinderLinks("volumes", volume.id, call),
            "user_id": .string(volume.userID),
            "bootable": .string(volume.bootable ? "true" : "false"),
            "encrypted": false,
            "replication_status": .null,
            "consistencygroup_id": .null,
            "multiattach": false,
            "attachments": .array(attachments),
            "migration_status": .null,
        ]
        if call.atLeast(3, 13) { view["group_id"] = .null }
        if call.atLeast(3, 48) {
            view["service_uuid"] = .string(Identifiers.stableKeystoneID("cinder-volume"))
            view["shared_targets"] = false
        }
        if call.atLeast(3, 63) { view["volume_type_id"] = .string(Identifiers.stableKeystoneID("type:" + volume.volumeType)) }
        if call.atLeast(3, 65) { view["consumes_quota"] = true }
        return .object(view)
    }

    private func snapshotView(_ snapshot: SnapshotRecord, _ call: ServiceCall) -> JSON {
        var view: JSONObject = [
            "id": .string(snapshot.id),
            "created_at": .string(snapshot.createdAt.cinderFormat),
            "updated_at": .string(snapshot.updatedAt.cinderFormat),
            "name": snapshot.name.map(JSON.string) ?? .null,
            "description": snapshot.description.map(JSON.string) ?? .null,
            "volume_id": .string(snapshot.volumeID),
            "status": .string(snapshot.status),
            "size": .integer(Int64(snapshot.size)),
            "metadata": .object(snapshot.metadata),
        ]
        if call.atLeast(3, 14) { view["group_snapshot_id"] = .null }
        if call.atLeast(3, 41) { view["user_id"] = .string(snapshot.userID) }
        if call.atLeast(3, 65) { view["consumes_quota"] = true }
        return .object(view)
    }

    private func backupView(_ backup: VolumeBackupRecord, _ call: ServiceCall) -> JSON {
        var view: JSONObject = [
            "id": .string(backup.id),
            "status": .string(backup.status),
            "size": .integer(Int64(backup.size)),
            "object_count": .integer(Int64(backup.objectCount)),
            "availability_zone": backup.availabilityZone.map(JSON.string) ?? .null,
            "container": backup.container.map(JSON.string) ?? .null,
            "created_at": .string(backup.createdAt.cinderFormat),
            "updated_at": .string(backup.updatedAt.cinderFormat),
            "name": backup.name.map(JSON.string) ?? .null,
            "description": backup.description.map(JSON.string) ?? .null,
            "fail_reason": backup.failReason.map(JSON.string) ?? .null,
            "volume_id": .string(backup.volumeID),
            "links": cinderLinks("backups", backup.id, call),
            "is_incremental": .bool(backup.parentID != nil),
            "has_dependent_backups": .bool(backup.numDependentBackups > 0),
            "snapshot_id": backup.snapshotID.map(JSON.string) ?? .null,
            "data_timestamp": .string(backup.dataTimestamp.cinderFormat),
        ]
        if call.atLeast(3, 18) { view["os-backup-project-attr:project_id"] = .string(backup.projectID) }
        if call.atLeast(3, 43) { view["metadata"] = .object(backup.metadata) }
        if call.atLeast(3, 56) { view["user_id"] = .string(backup.userID) }
        return .object(view)
    }

    private func backupSummary(_ backup: VolumeBackupRecord, _ call: ServiceCall) -> JSON {
        [
            "id": .string(backup.id), "name": backup.name.map(JSON.string) ?? .null,
            "links": cinderLinks("backups", backup.id, call),
        ]
    }

    // MARK: Volumes

    private func listVolumes(_ call: ServiceCall, detail: Bool) throws(ServiceFailure) -> HTTPResponseData {
        var items = volumes.filter { $0.projectID == call.projectID }.sorted { $0.createdAt > $1.createdAt }
        if let name = call.query["name"] { items = items.filter { $0.name == name } }
        if let status = call.query["status"] { items = items.filter { $0.status == status } }
        let view: [JSON] =
            detail
            ? items.map { volumeView($0, call) }
            : items.map {
                ["id": .string($0.id), "name": $0.name.map(JSON.string) ?? .null, "links": cinderLinks("volumes", $0.id, call)]
            }
        return .json(200, ["volumes": .array(view)])
    }

    // MARK: Snapshots

    private mutating func createSnapshot(_ call: ServiceCall) throws(ServiceFailure) -> HTTPResponseData {
        let body = try call.jsonBody()
        guard let request = body["snapshot"]?.objectValue else {
            throw .badRequest("'snapshot' is a required property")
        }
        guard let volumeID = request["volume_id"]?.stringValue else {
            throw .badRequest(
                "Invalid input for field/attribute snapshot. Value: \(JSON.object(request).pythonRepr). "
                    + "'volume_id' is a required property")
        }
        let volume = try volume(volumeID, call)
        var force = false
        if let flag = request["force"], !flag.isNull {
            guard let parsed = cinderBoolean(flag) else {
                throw .badRequest(
                    "Invalid input for field/attribute force. Value: \(flag.pythonRepr). \(flag.pythonRepr) is not one of "
                        + "[\(cinderBooleanEnum.map(\.pythonRepr).joined(separator: ", "))]")
            }
            force = parsed
            if call.atLeast(3, 66), !force {
                throw .badRequest(
                    "Since microversion 3.66 the 'force' flag is invalid for this request.  For backward compatability, "
                        + "however, when the 'force' flag is passed with a value evaluating to True, it is silently ignored.")
            }
        }
        // cinder/volume/api.py `_create_snapshot`, then `_create_snapshot_in_db`.
        if volume.status == "maintenance" {
            throw .badRequest("Invalid volume: The snapshot cannot be created when the volume is in maintenance mode.")
        }
        if volume.status == "error" {
            throw .badRequest("Invalid volume: The snapshot cannot be created when the volume is in error status.")
        }
        let validStatuses = force || call.atLeast(3, 66) ? ["available", "in-use"] : ["available"]
        guard validStatuses.contains(volume.status) else {
            throw .badRequest(
                "Invalid volume: Volume \(volume.id) status must be \(validStatuses.joined(separator: ", ")), "
                    + "but current status is: \(volume.status).")
        }
        let now = clock.now()
        var metadata = JSONObject()
        if let given = request["metadata"]?.objectValue { metadata = given }
        let snapshot = SnapshotRecord(
            id: Identifiers.uuid(), name: request["name"]?.stringValue, description: request["description"]?.stringValue,
            volumeID: volume.id, size: volume.size, status: "creating", projectID: call.projectID, userID: call.userID,
            createdAt: now, updatedAt: now, metadata: metadata)
        snapshots.append(snapshot)
        let fails = settings.failures.snapshot > 0
        if fails { settings.failures.snapshot -= 1 }
        schedule(.snapshotFinished(id: snapshot.id, fails: fails), after: settings.delays.snapshot, from: now)
        return .json(202, ["snapshot": snapshotView(snapshot, call)])
    }

    private mutating func deleteSnapshot(_ id: String, _ call: ServiceCall) throws(ServiceFailure) -> HTTPResponseData {
        let snapshot = try snapshot(id, call)
        guard ["available", "error"].contains(snapshot.status) else {
            throw .badRequest(
                "Invalid snapshot: Volume Snapshot status must be available or error and must not be part of a "
                    + "group, but current status is: \(snapshot.status).")
        }
        let now = clock.now()
        if let index = snapshots.firstIndex(where: { $0.id == id }) {
            snapshots[index].status = "deleting"
            snapshots[index].updatedAt = now
        }
        schedule(.snapshotDeleted(id: id), after: settings.delays.snapshot, from: now)
        return .empty(202)
    }

    // MARK: Backups

    /// The create schema (cinder/api/schemas/backups.py), checked in jsonschema's order.
    private func validateBackupCreate(_ body: JSON, _ call: ServiceCall) throws(ServiceFailure) -> JSONObject {
        guard let top = body.objectValue else { throw .badRequest(typeMessage(body, ["object"])) }
        guard let value = top["backup"] else { throw .badRequest("'backup' is a required property") }
        // The schema lists a property literally named "type" at the top (an upstream quirk), so it is allowed.
        let topExtras = top.keys.filter { $0 != "backup" && $0 != "type" }
        if !topExtras.isEmpty { throw .badRequest(additionalPropertiesMessage(topExtras)) }
        func invalid(_ field: String, _ value: JSON, _ message: String) -> ServiceFailure {
            .badRequest("Invalid input for field/attribute \(field). Value: \(value.pythonRepr). \(message)")
        }
        guard let backup = value.objectValue else { throw invalid("backup", value, typeMessage(value, ["object"])) }
        guard backup["volume_id"] != nil else { throw invalid("backup", value, "'volume_id' is a required property") }
        var allowed = ["volume_id", "container", "description", "incremental", "force", "name", "snapshot_id"]
        if call.atLeast(3, 43) { allowed.append("metadata") }
        if call.atLeast(3, 51) { allowed.append("availability_zone") }
        let extras = backup.keys.filter { !allowed.contains($0) }
        if !extras.isEmpty { throw invalid("backup", value, additionalPropertiesMessage(extras)) }
        for (key, field) in backup {
            switch key {
            case "volume_id":
                guard let text = field.stringValue else { throw invalid(key, field, typeMessage(field, ["string"])) }
                guard isUUIDLike(text) else { throw invalid(key, field, "\(field.pythonRepr) is not a 'uuid'") }
            case "snapshot_id":
                if field.isNull { continue }
                guard let text = field.stringValue, isUUIDLike(text) else {
                    throw invalid(key, field, "\(field.pythonRepr) is not valid under any of the given schemas")
                }
            case "container", "description", "name", "availability_zone":
                if field.isNull { continue }
                guard let text = field.stringValue else { throw invalid(key, field, typeMessage(field, ["string", "null"])) }
                if text.count > 255 { throw invalid(key, field, "\(field.pythonRepr) is too long") }
            case "incremental", "force":
                guard cinderBooleanEnum.contains(field) else {
                    throw invalid(
                        key, field,
                        "\(field.pythonRepr) is not one of [\(cinderBooleanEnum.map(\.pythonRepr).joined(separator: ", "))]")
                }
            case "metadata":
                guard field.isNull || field.objectValue != nil else {
                    throw invalid(key, field, typeMessage(field, ["object", "null"]))
                }
            default:
                break
            }
        }
        return backup
    }

    private mutating func createBackup(_ call: ServiceCall) throws(ServiceFailure) -> HTTPResponseData {
        let request = try validateBackupCreate(try call.jsonBody(), call)
        let volumeID = request["volume_id"]?.stringValue ?? ""
        let incremental = request["incremental"].flatMap(cinderBoolean) ?? false
        let force = request["force"].flatMap(cinderBoolean) ?? false
        let snapshotID = request["snapshot_id"]?.stringValue
        let volume = try volume(volumeID, call)

        // cinder/backup/api.py `create`, in its order.
        var snapshot: SnapshotRecord?
        if let snapshotID {
            let found = try self.snapshot(snapshotID, call)
            guard found.volumeID == volume.id else {
                throw .badRequest(
                    "Invalid volume: Volume \(volume.id) does not match with snapshot.volume_id \(found.volumeID).")
            }
            guard found.status == "available" else {
                throw .badRequest(
                    "Invalid snapshot: Snapshot to be backed up must be available, but the current status is \"\(found.status)\".")
            }
            snapshot = found
        } else if !["available", "in-use"].contains(volume.status) {
            throw .badRequest(
                "Invalid volume: Volume to be backed up must be available or in-use, but the current status is \"\(volume.status)\".")
        } else if volume.status == "in-use", !force {
            throw .badRequest("Invalid volume: Backing up an in-use volume must use the force flag.")
        }

        var parentID: String?
        if incremental {
            // §2.4: every non-deleted backup of the volume in the project; the greatest data_timestamp
            // among the available ones (older than the snapshot, for a snapshot backup); the others
            // rank with a year-1 sentinel, and Python's max keeps the first of equal keys.
            let candidates = backups.filter { $0.volumeID == volume.id && $0.projectID == call.projectID }
            guard !candidates.isEmpty else {
                throw .badRequest("Invalid backup: No backups available to do an incremental backup.")
            }
            let sentinel = Timestamp(microseconds: Int64.min)
            func rank(_ backup: VolumeBackupRecord) -> Timestamp {
                guard backup.status == "available" else { return sentinel }
                if let snapshot, !(backup.dataTimestamp < snapshot.createdAt) { return sentinel }
                return backup.dataTimestamp
            }
            var latest = candidates[0]
            for candidate in candidates.dropFirst() where rank(candidate) > rank(latest) {
                latest = candidate
            }
            guard latest.status == "available" else {
                throw .badRequest("Invalid backup: No backups available to do an incremental backup.")
            }
            parentID = latest.id
        }

        let now = clock.now()
        let backup = VolumeBackupRecord(
            id: Identifiers.uuid(), name: request["name"]?.stringValue, description: request["description"]?.stringValue,
            volumeID: volume.id, snapshotID: snapshot?.id, status: "creating", size: volume.size, objectCount: 0,
            container: request["container"]?.stringValue,
            availabilityZone: request["availability_zone"]?.stringValue ?? "nova", createdAt: now, updatedAt: now,
            dataTimestamp: snapshot?.createdAt ?? now, failReason: nil, parentID: parentID, numDependentBackups: 0,
            projectID: call.projectID, userID: call.userID, metadata: request["metadata"]?.objectValue ?? [:])
        backups.append(backup)
        if let snapshot, let index = snapshots.firstIndex(where: { $0.id == snapshot.id }) {
            snapshots[index].status = "backing-up"
            snapshots[index].updatedAt = now
        } else if let index = volumes.firstIndex(where: { $0.id == volume.id }) {
            volumes[index].previousStatus = volumes[index].status
            volumes[index].status = "backing-up"
            volumes[index].updatedAt = now
        }
        var fails = volume.failBackups
        if settings.failures.volumeBackup > 0 {
            settings.failures.volumeBackup -= 1
            fails = true
        }
        schedule(.volumeBackupFinished(id: backup.id, fails: fails), after: settings.delays.volumeBackup, from: now)
        return .json(202, ["backup": backupSummary(backup, call)])
    }

    /// The backup manager's `_finish_backup` (or its error path).
    mutating func finishVolumeBackup(id: String, fails: Bool, at time: Timestamp) {
        guard let index = backups.firstIndex(where: { $0.id == id }), backups[index].status == "creating" else { return }
        let backup = backups[index]
        if let snapshotID = backup.snapshotID, let snapshotIndex = snapshots.firstIndex(where: { $0.id == snapshotID }) {
            snapshots[snapshotIndex].status = "available"
            snapshots[snapshotIndex].updatedAt = time
        } else if let volumeIndex = volumes.firstIndex(where: { $0.id == backup.volumeID }),
            volumes[volumeIndex].status == "backing-up"
        {
            volumes[volumeIndex].status = volumes[volumeIndex].previousStatus ?? "available"
            volumes[volumeIndex].previousStatus = fails ? "error_backing-up" : "backing-up"
            volumes[volumeIndex].updatedAt = time
        }
        backups[index].updatedAt = time
        if fails {
            backups[index].status = "error"
            backups[index].failReason = "Simulated failure: the backup driver could not copy the volume data."
            return
        }
        backups[index].status = "available"
        backups[index].objectCount = max(1, backup.size * 2)
        if let parentID = backup.parentID, let parentIndex = backups.firstIndex(where: { $0.id == parentID }) {
            backups[parentIndex].numDependentBackups += 1
        }
    }

    /// The backup manager's `delete_backup`: the row goes, the parent's counter drops.
    mutating func removeVolumeBackup(id: String) {
        guard let index = backups.firstIndex(where: { $0.id == id }) else { return }
        let backup = backups.remove(at: index)
        if let parentID = backup.parentID, let parentIndex = backups.firstIndex(where: { $0.id == parentID }),
            backups[parentIndex].numDependentBackups > 0
        {
            backups[parentIndex].numDependentBackups -= 1
        }
    }

    private mutating func deleteBackup(_ id: String, _ call: ServiceCall) throws(ServiceFailure) -> HTTPResponseData {
        let backup = try backup(id, call)
        guard ["available", "error"].contains(backup.status) else {
            throw .badRequest("Invalid backup: Backup status must be available or error")
        }
        if backups.contains(where: { $0.parentID == id && $0.projectID == call.projectID }) {
            throw .badRequest("Invalid backup: Incremental backups exist for this backup.")
        }
        let now = clock.now()
        if let index = backups.firstIndex(where: { $0.id == id }) {
            backups[index].status = "deleting"
            backups[index].updatedAt = now
        }
        schedule(.volumeBackupDeleted(id: id), after: settings.delays.backupDelete, from: now)
        return .empty(202)
    }

    private func listBackups(_ call: ServiceCall, detail: Bool) throws(ServiceFailure) -> HTTPResponseData {
        var parameters = call.query
        // cinder/api/common.py get_pagination_params and get_sort_params pop their keys first.
        var limit = cinderMaxLimit
        if let text = parameters["limit"] {
            guard let value = Int(text) else { throw .badRequest("limit param must be an integer") }
            guard value >= 0 else { throw .badRequest("limit param must be positive") }
            limit = min(value, cinderMaxLimit)
        }
        let marker = parameters["marker"]
        var offset = 0
        if let text = parameters["offset"] {
            guard let value = Int(text), value >= 0 else {
                throw .badRequest("Invalid input received: offset must be an integer greater than or equal to 0.")
            }
            offset = value
        }
        for name in ["limit", "marker", "offset"] { parameters.remove(name) }
        if parameters.contains("sort"), parameters.contains("sort_key") || parameters.contains("sort_dir") {
            throw .badRequest(
                "The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be used with the 'sort' parameter.")
        }
        var sortKeys: [(String, String)] = []
        if let sort = parameters["sort"] {
            for part in sort.trimmingSpaces.split(separator: ",") {
                let pieces = part.split(separator: ":", maxSplits: 1)
                let key = String(pieces[0]).trimmingSpaces
                let direction = pieces.count > 1 ? String(pieces[1]).trimmingSpaces : "desc"
                sortKeys.append((key, direction.isEmpty ? "desc" : direction))
            }
        } else {
            sortKeys.append(((parameters["sort_key"] ?? "created_at").trimmingSpaces, (parameters["sort_dir"] ?? "desc").trimmingSpaces))
        }
        for name in ["sort", "sort_key", "sort_dir"] { parameters.remove(name) }
        var showCount = false
        if call.atLeast(3, 45), let text = parameters["with_count"] {
            guard let flag = queryBoolean(text) else {
                throw .badRequest("Invalid input received: with_count must be a boolean, got '\(text)'.")
            }
            showCount = flag
            parameters.remove("with_count")
        }
        let allowedFilters = ["name", "status", "volume_id"]
        parameters.remove("all_tenants")
        if call.atLeast(3, 31) {
            let invalid = parameters.names.filter { !allowedFilters.contains($0) }
            if !invalid.isEmpty {
                throw .badRequest("Invalid filters \(invalid.joined(separator: ",")) are found in query options.")
            }
        } else {
            parameters.items.removeAll { !allowedFilters.contains($0.name) }
        }

        var items = backups.filter { $0.projectID == call.projectID }
        if let name = parameters["name"] { items = items.filter { $0.name == name } }
        if let status = parameters["status"] { items = items.filter { $0.status == status } }
        if let volumeID = parameters["volume_id"] { items = items.filter { $0.volumeID == volumeID } }

        var sortable: Set<String> = ["created_at", "updated_at", "id", "status", "size", "volume_id", "data_timestamp"]
        if call.atLeast(3, 37) { sortable.insert("name") }
        for (key, direction) in sortKeys {
            guard sortable.contains(key) else { throw .badRequest("Invalid input received: Invalid sort key") }
            guard direction == "asc" || direction == "desc" else {
                throw .badRequest("Invalid input received: Unknown sort direction, must be 'desc' or 'asc'")
            }
        }
        let orderedKeys = sortKeys + [("created_at", sortKeys[0].1), ("id", sortKeys[0].1)]
        items.sort { lhs, rhs in
            for (key, direction) in orderedKeys {
                let order = compareBackups(lhs, rhs, key: key)
                if order != 0 { return direction == "asc" ? order < 0 : order > 0 }
            }
            return false
        }
        let total = items.count
        if let marker {
            guard let position = items.firstIndex(where: { $0.id == marker }) else {
                throw .notFound("Marker \(marker) could not be found.")
            }
            items = Array(items[(position + 1)...])
        }
        let page = Array(items.dropFirst(offset).prefix(limit))

        var result: JSONObject = [
            "backups": .array(page.map { detail ? backupView($0, call) : backupSummary($0, call) })
        ]
        // cinder/api/common.py `_get_collection_links`: a next link when the page is as full as the limit allows.
        let itemCount = showCount ? total : page.count
        if let last = page.last, limit <= itemCount {
            var next = call.query
            next.set("marker", last.id)
            let project = call.route.pathProjectID.map { "/" + $0 } ?? ""
            let collection = detail ? "backups/detail" : "backups"
            result["backups_links"] = [
                ["rel": "next", "href": .string("\(call.route.applicationURL)\(project)/\(collection)?\(next.encoded)")]
            ]
        }
        if showCount { result["count"] = .integer(Int64(total)) }
        return .json(200, .object(result))
    }

    private func compareBackups(_ lhs: VolumeBackupRecord, _ rhs: VolumeBackupRecord, key: String) -> Int {
        func compare<T: Comparable>(_ left: T, _ right: T) -> Int { left < right ? -1 : (left > right ? 1 : 0) }
        switch key {
        case "created_at": return compare(lhs.createdAt, rhs.createdAt)
        case "updated_at": return compare(lhs.updatedAt, rhs.updatedAt)
        case "data_timestamp": return compare(lhs.dataTimestamp, rhs.dataTimestamp)
        case "id": return compare(lhs.id, rhs.id)
        case "status": return compare(lhs.status, rhs.status)
        case "size": return compare(lhs.size, rhs.size)
        case "volume_id": return compare(lhs.volumeID, rhs.volumeID)
        case "name": return compare(lhs.name ?? "", rhs.name ?? "")
        default: return 0
        }
    }
}
