import OrderedJSON

// Glance v2: image show, list with filters and paging, delete (api-facts §4).

private let glanceDefaultLimit = 25
private let glanceMaxLimit = 1000
private let glanceSortKeys = ["name", "status", "container_format", "disk_format", "size", "id", "created_at", "updated_at"]

extension CloudState {
    mutating func handleImage(_ call: ServiceCall) throws(ServiceFailure) -> HTTPResponseData {
        switch (call.method, call.segments) {
        case ("GET", ["v2", "images"]): return try listImages(call)
        case ("GET", let path) where path.count == 3 && path[0] == "v2" && path[1] == "images":
            return .json(200, imageView(try image(path[2], call)))
        case ("DELETE", let path) where path.count == 3 && path[0] == "v2" && path[1] == "images":
            let found = try image(path[2], call)
            guard found.owner == call.projectID else {
                throw ServiceFailure(403, "You are not permitted to delete this image.")
            }
            guard !found.protected else { throw ServiceFailure(403, "Image \(found.id) is protected and cannot be deleted.") }
            images.removeAll { $0.id == found.id }
            return .empty(204)
        default:
            throw .notFound("The resource could not be found.")
        }
    }

    private func isVisible(_ image: ImageRecord, to call: ServiceCall) -> Bool {
        image.owner == call.projectID || ["public", "community"].contains(image.visibility)
    }

    private func image(_ id: String, _ call: ServiceCall) throws(ServiceFailure) -> ImageRecord {
        guard let image = images.first(where: { $0.id == id }), isVisible(image, to: call) else {
            throw .notFound("No image found with ID \(id)")
        }
        return image
    }

    private func imageView(_ image: ImageRecord) -> JSON {
        var view: JSONObject = [
            "id": .string(image.id),
            "name": image.name.map(JSON.string) ?? .null,
            "status": .string(image.status),
            "visibility": .string(image.visibility),
            "protected": .bool(image.protected),
            "os_hidden": .bool(image.osHidden),
            "checksum": image.checksum.map(JSON.string) ?? .null,
            "os_hash_algo": image.checksum == nil ? .null : "sha512",
            "os_hash_value": image.checksum.map { .string($0 + $0 + $0 + $0) } ?? .null,
            "min_ram": .integer(Int64(image.minRam)),
            "min_disk": .integer(Int64(image.minDisk)),
            "owner": .string(image.owner),
            "size": image.size.map(JSON.integer) ?? .null,
            "virtual_size": image.virtualSize.map(JSON.integer) ?? .null,
            "container_format": image.containerFormat.map(JSON.string) ?? .null,
            "disk_format": image.diskFormat.map(JSON.string) ?? .null,
            "created_at": .string(image.createdAt.novaFormat),
            "updated_at": .string(image.updatedAt.novaFormat),
            "tags": .array(image.tags.map(JSON.string)),
        ]
        for (key, value) in image.properties where view[key] == nil {
            view[key] = value
        }
        view["self"] = .string("/v2/images/\(image.id)")
        view["file"] = .string("/v2/images/\(image.id)/file")
        view["schema"] = "/v2/schemas/image"
        return .object(view)
    }

    /// glance/common/utils.py `split_filter_op`: `op:value`, unless the whole value is an ISO time.
    private func splitFilterOperator(_ expression: String) -> (String, String) {
        guard let colon = expression.firstIndex(of: ":") else { return ("eq", expression) }
        if Timestamp(parsing: expression) != nil { return ("eq", expression) }
        return (String(expression[..<colon]), String(expression[expression.index(after: colon)...]))
    }

    /// glance/common/utils.py `split_filter_value_for_quotes`: commas split, double quotes group.
    private func splitListValue(_ text: String) -> [String] {
        var values: [String] = []
        var current = ""
        var quoted = false
        for character in text {
            if character == "\"" {
                quoted.toggle()
            } else if character == ",", !quoted {
                values.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        values.append(current)
        return values
    }

    private func listImages(_ call: ServiceCall) throws(ServiceFailure) -> HTTPResponseData {
        let parameters = call.query
        var limit = glanceDefaultLimit
        if let text = parameters["limit"] {
            guard let value = Int(text) else { throw .badRequest("limit param must be an integer") }
            guard value >= 0 else { throw .badRequest("limit param must be positive") }
            limit = min(value, glanceMaxLimit)
        }
        // Sorting: `sort_key`/`sort_dir` (repeatable) or `sort=k:dir,...`, never both.
        var sorting: [(String, String)] = []
        if let sort = parameters["sort"] {
            if parameters.contains("sort_key") || parameters.contains("sort_dir") {
                throw .badRequest("The 'sort' param cannot be combined with 'sort_key' or 'sort_dir'.")
            }
            for part in sort.split(separator: ",") {
                let pieces = part.split(separator: ":", maxSplits: 1).map { String($0).trimmingSpaces }
                sorting.append((pieces[0], pieces.count > 1 ? pieces[1] : "desc"))
            }
        } else {
            let keys = parameters.all("sort_key")
            let directions = parameters.all("sort_dir")
            for (position, key) in keys.enumerated() {
                sorting.append((key, position < directions.count ? directions[position] : (directions.first ?? "desc")))
            }
            if sorting.isEmpty { sorting = [("created_at", directions.first ?? "desc")] }
        }
        for (key, direction) in sorting {
            guard glanceSortKeys.contains(key) else {
                throw .badRequest(
                    "Invalid sort key: \(key). It must be one of the following: \(glanceSortKeys.joined(separator: ", ")).")
            }
            guard direction == "asc" || direction == "desc" else { throw .badRequest("Invalid sort direction: \(direction)") }
        }

        var items = images
        var visibility: String?
        // `os_hidden` is an ordinary filter whose default is false.
        var hidden = false
        var tagFilters: [String] = []
        let reserved: Set<String> = ["limit", "marker", "sort", "sort_key", "sort_dir", "member_status"]
        for (name, value) in parameters.items where !reserved.contains(name) {
            switch name {
            case "tag":
                tagFilters.append(value)
            case "visibility":
                guard ["public", "private", "community", "shared", "all"].contains(value) else {
                    throw .badRequest("Invalid visibility value: \(value)")
                }
                visibility = value
            case "os_hidden":
                guard let flag = ["true": true, "false": false][value.lowercased()] else {
                    throw .badRequest("Invalid value '\(value)' for 'os_hidden' filter. Valid values are 'true' or 'false'.")
                }
                hidden = flag
            case "protected":
                guard let flag = ["true": true, "false": false][value.lowercased()] else {
                    throw .badRequest("Invalid value '\(value)' for 'protected' filter. Valid values are 'true' or 'false'.")
                }
                items = items.filter { $0.protected == flag }
            case "changes-since":
                throw .badRequest("The 'changes-since' filter is no longer available on v2.")
            case "size_min", "size_max":
                guard let bound = Int64(value) else { throw .badRequest("Invalid value for \(name): \(value)") }
                items = items.filter {
                    guard let size = $0.size else { return false }
                    return name == "size_min" ? size >= bound : size <= bound
                }
            case "created_at", "updated_at":
                let (operation, text) = splitFilterOperator(value)
                guard let time = Timestamp(parsing: text) else {
                    throw .badRequest("Unable to filter on a invalid date time: \(text)")
                }
                let compare: (Timestamp) -> Bool
                switch operation {
                case "gt": compare = { $0 > time }
                case "gte": compare = { $0 >= time }
                case "eq": compare = { $0 == time }
                case "neq": compare = { $0 != time }
                case "lt": compare = { $0 < time }
                case "lte": compare = { $0 <= time }
                default: throw .badRequest("Unable to filter by unknown operator '\(operation)'.")
                }
                // Glance stores whole seconds.
                items = items.filter {
                    let stamp = name == "created_at" ? $0.createdAt : $0.updatedAt
                    return compare(Timestamp(microseconds: stamp.microseconds / 1_000_000 * 1_000_000))
                }
            case "id", "name", "status", "container_format", "disk_format":
                let (operation, text) = splitFilterOperator(value)
                let accepted: [String]
                switch operation {
                case "in": accepted = splitListValue(text)
                case "eq": accepted = [text]
                default: throw .badRequest("Unable to filter by unknown operator '\(operation)'.")
                }
                items = items.filter { image in
                    let field: String? =
                        switch name {
                        case "id": image.id
                        case "name": image.name
                        case "status": image.status
                        case "container_format": image.containerFormat
                        default: image.diskFormat
                        }
                    return field.map(accepted.contains) ?? false
                }
            case "owner":
                items = items.filter { $0.owner == value }
            case "checksum":
                items = items.filter { $0.checksum == value }
            default:
                // Any other key is an exact match on a custom property.
                items = items.filter { $0.properties[name]?.stringValue == value }
            }
        }
        items = items.filter { image in
            switch visibility {
            case nil: return image.owner == call.projectID || image.visibility == "public"
            case "all": return isVisible(image, to: call)
            case "private", "shared": return image.visibility == visibility && image.owner == call.projectID
            default: return image.visibility == visibility
            }
        }
        items = items.filter { $0.osHidden == hidden }
        for tag in tagFilters {
            items = items.filter { $0.tags.contains(tag) }
        }
        let orderedKeys = sorting + [("id", sorting[0].1)]
        items.sort { lhs, rhs in
            for (key, direction) in orderedKeys {
                let order = compareImages(lhs, rhs, key: key)
                if order != 0 { return direction == "asc" ? order < 0 : order > 0 }
            }
            return false
        }
        if let marker = parameters["marker"] {
            guard let position = items.firstIndex(where: { $0.id == marker }) else {
                throw .badRequest("Invalid marker. Image \(marker) could not be found.")
            }
            items = Array(items[(position + 1)...])
        }
        let page = Array(items.prefix(limit))

        // `first` and `next` are host-relative paths that keep the query (glance/api/v2/images.py).
        var withoutMarker = parameters
        withoutMarker.remove("marker")
        var result: JSONObject = [
            "images": .array(page.map(imageView)),
            "first": .string("/v2/images" + (withoutMarker.items.isEmpty ? "" : "?" + withoutMarker.encoded)),
            "schema": "/v2/schemas/images",
        ]
        if let last = page.last, page.count == limit {
            var next = parameters
            next.set("marker", last.id)
            result["next"] = .string("/v2/images?" + next.encoded)
        }
        return .json(200, .object(result))
    }

    private func compareImages(_ lhs: ImageRecord, _ rhs: ImageRecord, key: String) -> Int {
        func compare<T: Comparable>(_ left: T, _ right: T) -> Int { left < right ? -1 : (left > right ? 1 : 0) }
        switch key {
        case "name": return compare(lhs.name ?? "", rhs.name ?? "")
        case "status": return compare(lhs.status, rhs.status)
        case "container_format": return compare(lhs.containerFormat ?? "", rhs.containerFormat ?? "")
        case "disk_format": return compare(lhs.diskFormat ?? "", rhs.diskFormat ?? "")
        case "size": return compare(lhs.size ?? -1, rhs.size ?? -1)
        case "id": return compare(lhs.id, rhs.id)
        case "updated_at": return compare(lhs.updatedAt, rhs.updatedAt)
        default: return compare(lhs.createdAt, rhs.createdAt)
        }
    }
}
