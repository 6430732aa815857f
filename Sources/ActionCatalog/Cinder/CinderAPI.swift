import ActionKit
import OpenStackClient
import OrderedJSON

/// The Cinder calls the actions make. Paths are below the catalog's
/// `block-storage` endpoint, which ends in `/v3/<project_id>`.
struct CinderAPI: Sendable {
    let client: OpenStackClient

    /// Cinder's default page size cap (`osapi_max_limit`).
    static let pageSize = 1000

    func volume(_ id: String) async throws -> JSONObject {
        try await client.getObject(.blockStorage, "/volumes/\(pathSegment(id))", key: "volume")
    }

    func snapshot(_ id: String) async throws -> JSONObject {
        try await client.getObject(.blockStorage, "/snapshots/\(pathSegment(id))", key: "snapshot")
    }

    func backup(_ id: String) async throws -> JSONObject {
        try await client.getObject(.blockStorage, "/backups/\(pathSegment(id))", key: "backup")
    }

    /// Every backup of a volume in the caller's project, all pages, with details.
    func backups(ofVolume volumeID: String) async throws -> [JSONObject] {
        var result: [JSONObject] = []
        var marker: String?
        var seenMarkers = Set<String>()
        while true {
            var query: [(name: String, value: String)] = [
                ("volume_id", volumeID), ("sort", "created_at:asc"), ("limit", String(Self.pageSize)),
            ]
            if let marker { query.append(("marker", marker)) }
            let response = try await client.get(.blockStorage, "/backups/detail", query: query)
            let page = response.body?["backups"]?.arrayValue?.compactMap(\.objectValue) ?? []
            result.append(contentsOf: page)
            // Cinder adds a `next` link when the page is full; its marker is
            // the last id. A repeated marker would loop forever: stop.
            guard let next = Self.nextMarker(response.body?["backups_links"]), let last = page.last?.string("id"),
                !seenMarkers.contains(next)
            else { break }
            seenMarkers.insert(next)
            marker = next.isEmpty ? last : next
        }
        return result
    }

    /// The `marker` of a `backups_links` next link (an absolute URL whose
    /// host may be internal; only its marker is used).
    static func nextMarker(_ links: JSON?) -> String? {
        guard let links = links?.arrayValue else { return nil }
        for link in links {
            guard link["rel"]?.stringValue == "next", let href = link["href"]?.stringValue else { continue }
            guard let queryStart = href.firstIndex(of: "?") else { return "" }
            for pair in href[href.index(after: queryStart)...].split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0] == "marker" { return percentDecoded(String(parts[1])) }
            }
            return ""
        }
        return nil
    }

    static func percentDecoded(_ text: String) -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%"), let high = iterator.next(), let low = iterator.next(),
                let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
            {
                bytes.append(value)
            } else {
                bytes.append(byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `POST /backups`: returns the summary Cinder answers (`id`, `name`, `links`).
    func createBackup(
        volumeID: String, name: String?, description: String?, incremental: Bool, force: Bool,
        snapshotID: String? = nil, container: String? = nil
    ) async throws -> JSONObject {
        var backup: JSONObject = ["volume_id": .string(volumeID)]
        if let container { backup.updateValue(.string(container), forKey: "container") }
        if let name { backup.updateValue(.string(name), forKey: "name") }
        if let description { backup.updateValue(.string(description), forKey: "description") }
        backup.updateValue(.bool(incremental), forKey: "incremental")
        backup.updateValue(.bool(force), forKey: "force")
        if let snapshotID { backup.updateValue(.string(snapshotID), forKey: "snapshot_id") }
        let response = try await client.post(.blockStorage, "/backups", body: ["backup": .object(backup)])
        return try response.object("backup", service: .blockStorage, method: "POST", path: "/backups")
    }

    func deleteBackup(_ id: String) async throws {
        _ = try await client.delete(.blockStorage, "/backups/\(pathSegment(id))")
    }

    /// Cinder's answer when an incremental backup has no base.
    static func isNoIncrementalBase(_ error: OpenStackError) -> Bool {
        guard case .http(400, _, let message) = error.kind else { return false }
        return message.contains("No backups available to do an incremental backup")
    }
}

/// Terminal statuses: nothing moves a resource out of them without an operator.
enum CinderStatuses {
    static let terminalVolume: Set<String> = [
        "error", "error_deleting", "error_extending", "error_restoring", "error_managing", "maintenance",
    ]
    static let terminalSnapshot: Set<String> = ["error", "error_deleting"]
    static let terminalBackup: Set<String> = ["error", "error_deleting"]
}

extension CinderAPI {
    /// The body of the Cinder assertions: check (and, with a wait, re-check)
    /// the status of one volume, snapshot or backup.
    static func assertStatus(
        of kind: String, id rawID: String, parameter: String, expected: String,
        waitTimeout: Double, interval: Double, region: String?, terminal: Set<String>, context: ActionContext,
        fetch: @escaping @Sendable (CinderAPI, String) async throws -> JSONObject
    ) async throws -> JSON {
        let id = try requireIdentifier(rawID, parameter)
        let wait = try WaitOptions(timeout: waitTimeout, interval: interval)
        let cinder = CinderAPI(client: try context.openStack(region: region))
        return try await StatusWait.assertStatus(of: "\(kind) \(id)", expected: expected, wait: wait) {
            let resource = try await fetch(cinder, id)
            let seen = resource.string("status") ?? "unknown"
            let reason = resource.string("fail_reason").flatMap { $0.isEmpty ? nil : "fail_reason: \($0)" }
            return StatusObservation(status: seen, detail: reason, isTerminal: terminal.contains(seen))
        }
    }
}
