import OrderedJSON

// Nova v2.1: servers, their actions and listing rules (api-facts §3).

private let novaMaxLimit = 1000

/// Every query key in Nova's `index_query` schema (nova/api/openstack/compute/schemas/servers.py);
/// other keys are stripped below 2.75 and rejected from 2.75.
private let novaQuerySchemaKeys: Set<String> = [
    "user_id", "project_id", "tenant_id", "launch_index", "image_ref", "image", "kernel_id", "ramdisk_id",
    "hostname", "key_name", "power_state", "vm_state", "task_state", "host", "node", "flavor", "reservation_id",
    "launched_at", "terminated_at", "availability_zone", "name", "display_name", "description",
    "display_description", "locked_by", "uuid", "root_device_name", "config_drive", "access_ip_v4",
    "access_ip_v6", "auto_disk_config", "progress", "sort_key", "sort_dir", "all_tenants", "soft_deleted",
    "deleted", "status", "changes-since", "changes-before", "ip", "ip6", "created_at", "block_device_mapping",
    "services", "metadata", "system_metadata", "info_cache", "security_groups", "pci_devices", "tags", "tags-any",
    "not-tags", "not-tags-any", "limit", "marker", "locked", "pinned_availability_zone",
]

/// The non-admin whitelist (servers.py `_get_server_search_options`), by microversion.
private func novaUserFilters(_ call: ServiceCall) -> Set<String> {
    var keys: Set<String> = [
        "reservation_id", "name", "status", "image", "flavor", "ip", "changes-since", "all_tenants", "limit",
        "marker", "sort_key", "sort_dir",
    ]
    if call.atLeast(2, 5) { keys.insert("ip6") }
    if call.atLeast(2, 26) { keys.formUnion(["tags", "tags-any", "not-tags", "not-tags-any"]) }
    if call.atLeast(2, 66) { keys.insert("changes-before") }
    if call.atLeast(2, 73) { keys.insert("locked") }
    if call.atLeast(2, 83) {
        keys.formUnion([
            "availability_zone", "config_drive", "key_name", "created_at", "launched_at", "terminated_at",
            "power_state", "task_state", "vm_state", "progress", "user_id",
        ])
    }
    if call.atLeast(2, 90) { keys.insert("hostname") }
    return keys
}

private let flavorDetails: JSON = [
    "vcpus": 1, "ram": 512, "disk": 1, "ephemeral": 0, "swap": 0, "original_name": "m1.tiny", "extra_specs": [:],
]

extension CloudState {
    mutating func handleCompute(_ call: ServiceCall) throws(ServiceFailure) -> HTTPResponseData {
        switch (call.method, call.segments) {
        case ("GET", ["servers"]): return try listServers(call, detail: false)
        case ("GET", ["servers", "detail"]): return try listServers(call, detail: true)
        case ("GET", let path) where path.count == 2 && path[0] == "servers":
            return .json(200, ["server": serverView(try server(path[1], call), call)])
        case ("POST", let path) where path.count == 3 && path[0] == "servers" && path[2] == "action":
            return try serverAction(path[1], call)
        default:
            throw .notFound("The resource could not be found.")
        }
    }

    private func server(_ id: String, _ call: ServiceCall) throws(ServiceFailure) -> ServerRecord {
        guard let server = servers.first(where: { $0.id == id && $0.projectID == call.projectID }) else {
            throw .notFound("Instance \(id) could not be found.")
        }
        return server
    }

    private func computeLinks(_ collection: String, _ id: String, _ call: ServiceCall) -> JSON {
        [
            ["rel": "self", "href": .string("\(call.route.applicationURL)/\(collection)/\(id)")],
            ["rel": "bookmark", "href": .string("\(call.route.unversionedURL)/\(collection)/\(id)")],
        ]
    }

    private func serverView(_ server: ServerRecord, _ call: ServiceCall) -> JSON {
        let status = server.status
        var view: JSONObject = [
            "id": .string(server.id),
            "name": .string(server.name),
            "status": .string(status),
            "tenant_id": .string(server.projectID),
            "user_id": .string(server.userID),
            "metadata": .object(server.metadata),
            "hostId": .string(server.hostID),
            "image": [
                "id": .string(server.imageID),
                "links": [["rel": "bookmark", "href": .string("\(call.route.unversionedURL)/images/\(server.imageID)")]],
            ],
            "flavor": call.atLeast(2, 47)
                ? flavorDetails
                : [
                    "id": .string(server.flavorID),
                    "links": [["rel": "bookmark", "href": .string("\(call.route.unversionedURL)/flavors/\(server.flavorID)")]],
                ],
            "created": .string(server.createdAt.novaFormat),
            "updated": .string(server.updatedAt.novaFormat),
            "addresses": server.addresses,
            "accessIPv4": "",
            "accessIPv6": "",
            "links": computeLinks("servers", server.id, call),
            "OS-DCF:diskConfig": "MANUAL",
            "OS-EXT-AZ:availability_zone": .string(server.availabilityZone),
            "config_drive": "",
            "key_name": server.keyName.map(JSON.string) ?? .null,
            "OS-SRV-USG:launched_at": server.launchedAt.map { .string($0.cinderFormat) } ?? .null,
            "OS-SRV-USG:terminated_at": .null,
            "security_groups": [["name": "default"]],
            "OS-EXT-STS:task_state": server.taskState.map(JSON.string) ?? .null,
            "OS-EXT-STS:vm_state": .string(server.vmState),
            "OS-EXT-STS:power_state": .integer(Int64(server.powerState)),
            "os-extended-volumes:volumes_attached": .array(
                volumes.filter { $0.attachedServerID == server.id }.map {
                    call.atLeast(2, 3)
                        ? ["id": .string($0.id), "delete_on_termination": false] : ["id": .string($0.id)]
                }),
        ]
        if ["ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING"].contains(status) {
            view["progress"] = 0
        }
        if call.atLeast(2, 9) { view["locked"] = .bool(server.locked) }
        if call.atLeast(2, 19) { view["description"] = server.description.map(JSON.string) ?? .null }
        if call.atLeast(2, 26) { view["tags"] = .array(server.tags.map(JSON.string)) }
        if call.atLeast(2, 63) { view["trusted_image_certificates"] = .null }
        if call.atLeast(2, 71) { view["server_groups"] = [] }
        if call.atLeast(2, 73) { view["locked_reason"] = .null }
        return .object(view)
    }

    // MARK: Listing

    private func listServers(_ call: ServiceCall, detail: Bool) throws(ServiceFailure) -> HTTPResponseData {
        var parameters = call.query
        let unknown = parameters.names.filter { !novaQuerySchemaKeys.contains($0) }
        if !unknown.isEmpty {
            if call.atLeast(2, 75) { throw .badRequest(additionalPropertiesMessage(unknown)) }
            // Below 2.75 the schema strips unknown keys, so `?id=X` lists every server.
            parameters.items.removeAll { unknown.contains($0.name) }
        }
        // Known but not whitelisted for this caller: silently dropped.
        let allowed = novaUserFilters(call)
        parameters.items.removeAll { !allowed.contains($0.name) }

        var limit = novaMaxLimit
        if let text = parameters["limit"] {
            guard let value = Int(text), value >= 0 else {
                throw .badRequest("Invalid input for query parameters limit. Value: \(text). '\(text)' does not match '^[0-9]*$'")
            }
            limit = min(value, novaMaxLimit)
        }
        var items = servers.filter { $0.projectID == call.projectID }
        if let pattern = parameters["name"] {
            // Nova matches `name` as a regular expression anywhere in the name (SQL REGEXP).
            let regex = try? Regex(pattern)
            items = items.filter { server in
                guard let regex else { return false }
                return (try? regex.firstMatch(in: server.name)) != nil
            }
        }
        if let status = parameters["status"] {
            let wanted = status.uppercased()
            if !ServerRecord.knownStatuses.contains(wanted) {
                if call.atLeast(2, 38) { throw .badRequest("Invalid status value") }
                items = []
            } else {
                items = items.filter { $0.status == wanted }
            }
        }
        if let image = parameters["image"] { items = items.filter { $0.imageID == image } }
        if let flavor = parameters["flavor"] { items = items.filter { $0.flavorID == flavor } }
        if let since = parameters["changes-since"] {
            guard let time = Timestamp(parsing: since) else {
                throw .badRequest("Invalid input for query parameters changes-since. Value: \(since). '\(since)' is not a 'date-time'")
            }
            items = items.filter { $0.updatedAt >= time }
        }
        for tagList in parameters.all("tags") {
            let tags = tagList.split(separator: ",").map(String.init)
            items = items.filter { server in tags.allSatisfy(server.tags.contains) }
        }
        for tagList in parameters.all("tags-any") {
            let tags = tagList.split(separator: ",").map(String.init)
            items = items.filter { server in tags.contains(where: server.tags.contains) }
        }
        if let locked = parameters["locked"], let flag = queryBoolean(locked) {
            items = items.filter { $0.locked == flag }
        }
        if let vmState = parameters["vm_state"] { items = items.filter { $0.vmState == vmState } }
        if let taskState = parameters["task_state"] { items = items.filter { $0.taskState == taskState } }
        if let powerState = parameters["power_state"], let value = Int(powerState) {
            items = items.filter { $0.powerState == value }
        }

        let sortKey = parameters["sort_key"] ?? "created_at"
        let ascending = parameters["sort_dir"] == "asc"
        items.sort { lhs, rhs in
            let order: Int
            switch sortKey {
            case "display_name", "name": order = lhs.name < rhs.name ? -1 : (lhs.name > rhs.name ? 1 : 0)
            case "updated_at": order = lhs.updatedAt < rhs.updatedAt ? -1 : (lhs.updatedAt > rhs.updatedAt ? 1 : 0)
            case "vm_state": order = lhs.vmState < rhs.vmState ? -1 : (lhs.vmState > rhs.vmState ? 1 : 0)
            default: order = lhs.createdAt < rhs.createdAt ? -1 : (lhs.createdAt > rhs.createdAt ? 1 : 0)
            }
            if order != 0 { return ascending ? order < 0 : order > 0 }
            return ascending ? lhs.id < rhs.id : lhs.id > rhs.id
        }
        if let marker = parameters["marker"] {
            guard let position = items.firstIndex(where: { $0.id == marker }) else {
                throw .badRequest("marker [\(marker)] not found")
            }
            items = Array(items[(position + 1)...])
        }
        let page = Array(items.prefix(limit))
        var result: JSONObject = [
            "servers": .array(
                page.map {
                    detail
                        ? serverView($0, call)
                        : ["id": .string($0.id), "links": computeLinks("servers", $0.id, call), "name": .string($0.name)]
                })
        ]
        if let last = page.last, limit <= page.count {
            var next = call.query
            next.set("marker", last.id)
            let collection = detail ? "servers/detail" : "servers"
            result["servers_links"] = [
                ["rel": "next", "href": .string("\(call.route.applicationURL)/\(collection)?\(next.encoded)")]
            ]
        }
        return .json(200, .object(result))
    }

    // MARK: Actions

    private mutating func serverAction(_ id: String, _ call: ServiceCall) throws(ServiceFailure) -> HTTPResponseData {
        let server = try server(id, call)
        let body = try call.jsonBody()
        guard let object = body.objectValue, let (action, argument) = object.first else {
            throw .badRequest("Malformed request body")
        }
        func requireState(_ verb: String, _ vmStates: [String]) throws(ServiceFailure) {
            // nova/compute/api.py `check_instance_state`: vm_state first, then task_state must be None.
            guard vmStates.contains(server.vmState) else {
                throw .conflict("Cannot '\(verb)' instance \(server.id) while it is in vm_state \(server.vmState)")
            }
            if let taskState = server.taskState {
                throw .conflict("Cannot '\(verb)' instance \(server.id) while it is in task_state \(taskState)")
            }
        }
        let now = clock.now()
        let delay = settings.delays.serverAction
        guard let index = servers.firstIndex(where: { $0.id == server.id }) else {
            throw .notFound("Instance \(id) could not be found.")
        }
        switch action {
        case "os-stop":
            if server.locked { throw .conflict("Instance \(server.id) is locked") }
            try requireState("stop", ["active", "error"])
            servers[index].taskState = "powering-off"
            servers[index].updatedAt = now
            schedule(.serverTask(id: server.id, taskState: nil, vmState: "stopped", powerState: 4), after: delay, from: now)
            return .empty(202)
        case "os-start":
            if server.locked { throw .conflict("Instance \(server.id) is locked") }
            try requireState("start", ["stopped"])
            servers[index].taskState = "powering-on"
            servers[index].updatedAt = now
            schedule(.serverTask(id: server.id, taskState: nil, vmState: "active", powerState: 1), after: delay, from: now)
            return .empty(202)
        case "createImage":
            guard let arguments = argument.objectValue else {
                throw .badRequest(
                    "Invalid input for field/attribute createImage. Value: \(argument.pythonRepr). "
                        + typeMessage(argument, ["object"]))
            }
            guard let name = arguments["name"]?.stringValue else {
                throw .badRequest(
                    "Invalid input for field/attribute createImage. Value: \(argument.pythonRepr). "
                        + "'name' is a required property")
            }
            try requireState("createImage", ["active", "stopped", "paused", "suspended"])
            servers[index].taskState = "image_snapshot"
            servers[index].updatedAt = now
            schedule(.serverTask(id: server.id, taskState: "image_pending_upload", vmState: nil, powerState: nil), after: delay / 3, from: now)
            schedule(.serverTask(id: server.id, taskState: "image_uploading", vmState: nil, powerState: nil), after: delay * 2 / 3, from: now)
            schedule(.serverTask(id: server.id, taskState: nil, vmState: nil, powerState: nil), after: delay, from: now)

            // nova/compute/utils.py `create_image`: the snapshot's properties.
            var properties: JSONObject = [
                "instance_uuid": .string(server.id),
                "image_type": "snapshot",
                "user_id": .string(call.userID),
                "base_image_ref": .string(server.imageID),
                "owner_project_name": .string(identity.projects.first { $0.id == call.projectID }?.name ?? ""),
                "owner_user_name": .string(identity.user(id: call.userID)?.name ?? ""),
                "boot_roles": .string(call.token.roles.joined(separator: ",")),
            ]
            for (key, value) in arguments["metadata"]?.objectValue ?? [:] {
                properties[key] = .string(value.stringValue ?? value.description)
            }
            let image = ImageRecord(
                id: Identifiers.uuid(), name: name, status: "queued", visibility: "private", containerFormat: "bare",
                diskFormat: "qcow2", minDisk: 1, owner: call.projectID, createdAt: now, updatedAt: now,
                properties: properties)
            images.append(image)
            schedule(.imageStatus(id: image.id, status: "saving"), after: settings.delays.image / 2, from: now)
            schedule(.imageStatus(id: image.id, status: "active"), after: settings.delays.image, from: now)
            if call.atLeast(2, 45) {
                return .json(202, ["image_id": .string(image.id)])
            }
            let glance = "\(baseURL)/\(call.route.region ?? SimulatorDefaults.regions[0])/\(call.route.interface ?? "public")/image"
            return .empty(202, headers: [("Location", "\(glance)/images/\(image.id)")])
        default:
            throw .badRequest("There is no such action: \(action)")
        }
    }
}
