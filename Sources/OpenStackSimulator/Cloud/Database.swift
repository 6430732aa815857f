import OrderedJSON

// Trove v1.0: instances (read) and backups (api-facts §5).

private let troveBackupsPageSize = 20
private let troveUUIDPattern = "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"
private let troveNonEmptyPattern = "^.*[0-9a-zA-Z]+.*$"

extension CloudState {
    mutating func handleDatabase(_ call: ServiceCall) throws(ServiceFailure) -> HTTPResponseData {
        if call.route.pathProjectID != call.projectID {
            // trove/common/auth.py TenantBasedAuth.
            throw ServiceFailure(403, "User with tenant id \(call.projectID) cannot access this resource.")
        }
        switch (call.method, call.segments) {
        case ("GET", ["instances"]):
            let items = databaseInstances.filter { $0.projectID == call.projectID }.sorted { $0.createdAt > $1.createdAt }
            return .json(200, ["instances": .array(items.map { instanceView($0, call) })])
        case ("GET", let path) where path.count == 2 && path[0] == "instances":
            return .json(200, ["instance": instanceView(try databaseInstance(path[1], call), call)])
        case ("GET", let path) where path.count == 3 && path[0] == "instances" && path[2] == "backups":
            let instance = try databaseInstance(path[1], call)
            return try listDatabaseBackups(call, instanceID: instance.id)
        case ("POST", ["backups"]): return try createDatabaseBackup(call)
        case ("GET", ["backups"]): return try listDatabaseBackups(call, instanceID: call.query["instance_id"])
        case ("GET", let path) where path.count == 2 && path[0] == "backups":
            return .json(200, ["backup": databaseBackupView(try databaseBackup(path[1], call), call)])
        case ("DELETE", let path) where path.count == 2 && path[0] == "backups":
            _ = try databaseBackup(path[1], call)
            try deleteDatabaseBackup(path[1], call)
            return .empty(202)
        default:
            throw .notFound("The resource could not be found.")
        }
    }

    private func databaseInstance(_ id: String, _ call: ServiceCall) throws(ServiceFailure) -> DatabaseInstanceRecord {
        guard let instance = databaseInstances.first(where: { $0.id == id && $0.projectID == call.projectID }) else {
            throw .notFound("Resource \(id) cannot be found.")
        }
        return instance
    }

    private func databaseBackup(_ id: String, _ call: ServiceCall) throws(ServiceFailure) -> DatabaseBackupRecord {
        guard let backup = databaseBackups.first(where: { $0.id == id && $0.projectID == call.projectID }) else {
            throw .notFound("Resource \(id) cannot be found.")
        }
        return backup
    }

    /// The status Trove shows: `BACKUP` while a backup of the instance runs (trove/instance/models.py).
    func visibleStatus(of instance: DatabaseInstanceRecord) -> String {
        if ["ACTIVE", "HEALTHY"].contains(instance.status),
            databaseBackups.contains(where: { $0.instanceID == instance.id && $0.isRunning })
        {
            return "BACKUP"
        }
        return instance.status
    }

    private func instanceView(_ instance: DatabaseInstanceRecord, _ call: ServiceCall) -> JSON {
        let address = "10.0.0.\(instance.id.utf8.reduce(0) { ($0 + Int($1)) % 200 } + 10)"
        return [
            "id": .string(instance.id),
            "name": .string(instance.name),
            "status": .string(visibleStatus(of: instance)),
            "operating_status": .string(instance.operatingStatus),
            "links": [
                ["rel": "self", "href": .string("\(call.route.applicationURL)/\(call.projectID)/instances/\(instance.id)")],
                ["rel": "bookmark", "href": .string("\(call.route.unversionedURL)/instances/\(instance.id)")],
            ],
            "flavor": ["id": .string(instance.flavorID), "links": []],
            "datastore": ["type": .string(instance.datastoreType), "version": .string(instance.datastoreVersion)],
            "region": .string(call.route.region ?? SimulatorDefaults.regions[0]),
            "tenant_id": .string(instance.projectID),
            "volume": ["size": .integer(Int64(instance.volumeSize)), "used": 0.12],
            "addresses": [["address": .string(address), "type": "private", "network": "private"]],
            "ip": [.string(address)],
            "access": ["is_public": false, "allowed_cidrs": []],
            "created": .string(instance.createdAt.troveFormat),
            "updated": .string(instance.updatedAt.troveFormat),
            "service_status_updated": .string(instance.updatedAt.troveFormat),
        ]
    }

    private func databaseBackupView(_ backup: DatabaseBackupRecord, _ call: ServiceCall) -> JSON {
        [
            "id": .string(backup.id),
            "name": .string(backup.name),
            "description": backup.description.map(JSON.string) ?? .null,
            "locationRef": backup.status == "COMPLETED"
                ? .string("http://swift.example.com/v1/AUTH_\(backup.projectID)/\(backup.swiftContainer)/\(backup.id).xbstream.gz.enc")
                : .null,
            "instance_id": backup.instanceID.map(JSON.string) ?? .null,
            "created": .string(backup.createdAt.troveFormat),
            "updated": .string(backup.updatedAt.troveFormat),
            "size": backup.size.map(JSON.double) ?? .null,
            "status": .string(backup.status),
            "parent_id": backup.parentID.map(JSON.string) ?? .null,
            "datastore": [
                "type": .string(backup.datastoreType), "version": .string(backup.datastoreVersion),
                "version_id": .string(Identifiers.stableKeystoneID("datastore:\(backup.datastoreType):\(backup.datastoreVersion)")),
            ],
            "project_id": .string(backup.projectID),
            "storage_driver": .string(backup.storageDriver),
        ]
    }

    /// Trove's Draft 4 schema for `backup:create` (trove/common/apischema.py), every error reported
    /// (sorted by path) as `Validation error: <path> <message>; ...`.
    private func validateDatabaseBackupCreate(_ body: JSON) throws(ServiceFailure) -> JSONObject {
        guard let top = body.objectValue else {
            throw .badRequest("Validation error: \(typeMessage(body, ["object"]))")
        }
        guard let value = top["backup"] else { throw .badRequest("Validation error: 'backup' is a required property") }
        guard let backup = value.objectValue else {
            throw .badRequest("Validation error: backup \(typeMessage(value, ["object"]))")
        }
        var shallow: [String] = []
        var deep: [(String, String)] = []
        if backup["name"] == nil { shallow.append("backup 'name' is a required property") }
        func checkString(_ key: String, _ field: JSON, pattern: String, patternOK: (String) -> Bool) {
            guard let text = field.stringValue else {
                deep.append((key, "backup['\(key)'] \(typeMessage(field, ["string"]))"))
                return
            }
            if text.isEmpty { deep.append((key, "backup['\(key)'] \(field.pythonRepr) is too short")) }
            if text.count > (pattern == troveUUIDPattern ? 64 : 255) {
                deep.append((key, "backup['\(key)'] \(field.pythonRepr) is too long"))
            }
            if !patternOK(text) { deep.append((key, "backup['\(key)'] \(field.pythonRepr) does not match '\(pattern)'")) }
        }
        for (key, field) in backup {
            switch key {
            case "name", "description", "swift_container":
                checkString(key, field, pattern: troveNonEmptyPattern) { text in
                    text.unicodeScalars.contains { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)) }
                }
            case "instance", "parent_id":
                checkString(key, field, pattern: troveUUIDPattern) { text in
                    text.count == 36 && isUUIDLike(text)
                }
            case "incremental":
                // jsonschema's Draft 4 does not count a boolean as an integer, so `true` fails.
                guard let number = field.intValue else {
                    deep.append((key, "backup['incremental'] \(typeMessage(field, ["integer"]))"))
                    continue
                }
                if number < 0 { deep.append((key, "backup['incremental'] \(number) is less than the minimum of 0")) }
                if number > 1 { deep.append((key, "backup['incremental'] \(number) is greater than the maximum of 1")) }
            case "restore_from":
                if field.objectValue == nil {
                    deep.append((key, "backup['restore_from'] \(typeMessage(field, ["object"]))"))
                }
            default:
                break
            }
        }
        let messages = shallow + deep.sorted { $0.0 < $1.0 }.map(\.1)
        if !messages.isEmpty { throw .badRequest("Validation error: " + messages.joined(separator: "; ")) }
        return backup
    }

    private mutating func createDatabaseBackup(_ call: ServiceCall) throws(ServiceFailure) -> HTTPResponseData {
        let request = try validateDatabaseBackupCreate(try call.jsonBody())
        guard let instanceReference = request["instance"]?.stringValue else {
            throw .badRequest("Validation error: backup 'instance' is required unless 'restore_from' is given")
        }
        // The instance may be given as an href; Trove takes the last path segment.
        let instanceID = String(instanceReference.split(separator: "/").last ?? "")
        let instance = try databaseInstance(instanceID, call)
        let status = visibleStatus(of: instance)
        guard ["ACTIVE", "HEALTHY"].contains(instance.status), status != "BACKUP" else {
            throw ServiceFailure(
                422,
                "Instance \(instance.id) is not currently available for an action to be performed "
                    + "(instance status was \(status)).")
        }
        var parentID: String?
        if let explicit = request["parent_id"]?.stringValue {
            parentID = try databaseBackup(explicit, call).id
        } else if request["incremental"]?.intValue == 1 {
            // Backup.get_last_completed: the first page by `updated desc`, the latest COMPLETED one;
            // none means a full backup (no error, unlike Cinder).
            let page = databaseBackups.filter { $0.instanceID == instance.id && $0.projectID == call.projectID }
                .sorted { $0.updatedAt > $1.updatedAt }
                .prefix(troveBackupsPageSize)
            var latest: DatabaseBackupRecord?
            for backup in page where backup.status == "COMPLETED" {
                if latest == nil || backup.updatedAt > latest!.updatedAt { latest = backup }
            }
            parentID = latest?.id
        }
        let now = clock.now()
        let backup = DatabaseBackupRecord(
            id: Identifiers.uuid(), name: request["name"]?.stringValue ?? "", description: request["description"]?.stringValue,
            instanceID: instance.id, status: "NEW", parentID: parentID, size: nil, createdAt: now, updatedAt: now,
            projectID: call.projectID, datastoreType: instance.datastoreType, datastoreVersion: instance.datastoreVersion,
            swiftContainer: request["swift_container"]?.stringValue ?? "database_backups")
        databaseBackups.append(backup)
        var fails = instance.failBackups
        if settings.failures.troveBackup > 0 {
            settings.failures.troveBackup -= 1
            fails = true
        }
        let delay = settings.delays.troveBackup
        schedule(.databaseBackupStatus(id: backup.id, status: "BUILDING"), after: delay / 2, from: now)
        schedule(.databaseBackupStatus(id: backup.id, status: fails ? "FAILED" : "COMPLETED"), after: delay, from: now)
        return .json(202, ["backup": databaseBackupView(backup, call)])
    }

    /// trove/backup/models.py `Backup.delete`: children first (recursively), then the backup;
    /// a running one stops the walk with 422 (what was already deleted stays deleted).
    private mutating func deleteDatabaseBackup(_ id: String, _ call: ServiceCall) throws(ServiceFailure) {
        for child in databaseBackups where child.parentID == id {
            try deleteDatabaseBackup(child.id, call)
        }
        guard let backup = databaseBackups.first(where: { $0.id == id }) else { return }
        if backup.isRunning {
            throw ServiceFailure(422, "Backup \(id) cannot be deleted because it is running.")
        }
        databaseBackups.removeAll { $0.id == id }
    }

    private func listDatabaseBackups(_ call: ServiceCall, instanceID: String?) throws(ServiceFailure) -> HTTPResponseData {
        var items = databaseBackups.filter { $0.projectID == call.projectID }
        if let instanceID { items = items.filter { $0.instanceID == instanceID } }
        if let datastore = call.query["datastore"] { items = items.filter { $0.datastoreType == datastore } }
        items.sort { $0.updatedAt > $1.updatedAt }
        var limit = troveBackupsPageSize
        if let text = call.query["limit"] {
            guard let value = Int(text), value > 0 else { throw .badRequest("Invalid limit: \(text)") }
            limit = min(value, troveBackupsPageSize)
        }
        // Trove's marker is an offset into the ordered list.
        var offset = 0
        if let text = call.query["marker"] {
            guard let value = Int(text), value >= 0 else { throw .badRequest("Invalid marker: \(text)") }
            offset = value
        }
        let page = Array(items.dropFirst(offset).prefix(limit))
        var result: JSONObject = ["backups": .array(page.map { databaseBackupView($0, call) })]
        if offset + page.count < items.count {
            var next = call.query
            next.set("limit", String(limit))
            next.set("marker", String(offset + page.count))
            let path = call.segments.joined(separator: "/")
            result["links"] = [
                ["rel": "next", "href": .string("\(call.route.applicationURL)/\(call.projectID)/\(path)?\(next.encoded)")]
            ]
        }
        return .json(200, .object(result))
    }
}
