import ActionKit
import CheckedNumbers
import OpenStackClient
import OrderedJSON

/// The Glance calls the actions make. The catalog's `image` endpoint has no
/// version: paths start with `/v2`.
struct GlanceAPI: Sendable {
    let client: OpenStackClient

    /// The largest page Glance serves (`api_limit_max`).
    static let pageSize = 1000
    /// A bound on pages followed, so a misbehaving `next` cannot loop forever.
    static let maximumPages = 10_000

    func image(_ id: String) async throws -> JSONObject {
        guard let object = try await client.get(.image, "/v2/images/\(pathSegment(id))").body?.objectValue else {
            throw OpenStackError(kind: .invalidResponse("the image is not a JSON object"), service: .image, method: "GET", path: "/v2/images/\(id)")
        }
        return object
    }

    /// Every image matching the query, following `next` (a host-relative
    /// path that keeps the query) until Glance gives none.
    func images(query: [(name: String, value: String)]) async throws -> [JSONObject] {
        var result: [JSONObject] = []
        var path = "/v2/images"
        var pageQuery = query + [("limit", String(Self.pageSize))]
        var seen = Set<String>()
        for _ in 0..<Self.maximumPages {
            let response = try await client.get(.image, path, query: pageQuery)
            result.append(contentsOf: response.body?["images"]?.arrayValue?.compactMap(\.objectValue) ?? [])
            guard let next = response.body?["next"]?.stringValue, !next.isEmpty, !seen.contains(next) else {
                return result
            }
            seen.insert(next)
            // `next` is relative to the endpoint's root and already holds the query.
            path = next.hasPrefix("/") ? next : "/" + next
            pageQuery = []
        }
        return result
    }
}

enum GlanceStatuses {
    static let terminal: Set<String> = ["killed", "deleted", "pending_delete", "deactivated"]
}

/// Turns `filter_by` keyword input into Glance's query.
enum GlanceFilters {
    /// Filters whose values Glance reads as `operator:value`.
    static let operatorKeys: Set<String> = ["id", "name", "status", "container_format", "disk_format"]
    static let operators: Set<String> = ["in", "eq", "neq", "gt", "gte", "lt", "lte", "nin"]
    /// Query keys that are not filters at all; filter_by sets them itself.
    static let reserved: Set<String> = ["limit", "marker", "sort", "sort_key", "sort_dir"]

    /// The query for the filters, in order. A plain value containing `:` is
    /// sent as `eq:<value>` where Glance would read an operator; a list means
    /// any of its values (`in:`), or every tag for `tag`.
    static func query(_ filters: JSONObject) throws -> [(name: String, value: String)] {
        var query: [(name: String, value: String)] = []
        for (key, value) in filters {
            if reserved.contains(key) {
                throw ActionFailure("'\(key)' is not a filter: filter_by follows every page itself")
            }
            switch value {
            case .null:
                continue
            case .array(let items):
                let texts = try items.map { try text(of: $0, key: key) }
                if key == "tag" || key == "tags" {
                    query.append(contentsOf: texts.map { ("tag", $0) })
                } else if operatorKeys.contains(key) {
                    if let bad = texts.first(where: { $0.contains(",") }) {
                        throw ActionFailure("filter \(key): the value '\(bad)' contains a comma, which Glance's in: cannot carry")
                    }
                    query.append((key, "in:" + texts.joined(separator: ",")))
                } else {
                    throw ActionFailure("filter \(key) takes one value, got a list")
                }
            default:
                let text = try text(of: value, key: key)
                query.append((key == "tags" ? "tag" : key, operatorKeys.contains(key) ? guarded(text) : text))
            }
        }
        return query
    }

    /// `a:b` becomes `eq:a:b` unless it already starts with an operator.
    static func guarded(_ value: String) -> String {
        guard let colon = value.firstIndex(of: ":") else { return value }
        return operators.contains(String(value[..<colon])) ? value : "eq:" + value
    }

    static func text(of value: JSON, key: String) throws -> String {
        switch value {
        case .string(let text): return text
        case .bool(let flag): return flag ? "true" : "false"
        case .integer(let number): return String(number)
        case .double(let number):
            guard number.isFinite else { throw ActionFailure("filter \(key) must be a finite number, got \(NumberOutOfRange.format(number))") }
            // 5.0 is sent as 5; a whole number past Int64 (1e19) as Python writes it.
            return Int64(wholeNumber: number).map { String($0) } ?? String(number)
        default: throw ActionFailure("filter \(key) must be a string, number or boolean, got \(value.typeName)")
        }
    }
}
