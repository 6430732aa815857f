import ActionKit
import OpenStackClient
import OrderedJSON

/// The Trove calls the actions make, below the catalog's `database`
/// endpoint (`.../v1.0/<project_id>`).
struct TroveAPI: Sendable {
    let client: OpenStackClient

    static let maximumPages = 10_000

    func instance(_ id: String) async throws -> JSONObject {
        try await client.getObject(.database, "/instances/\(pathSegment(id))", key: "instance")
    }

    func backup(_ id: String) async throws -> JSONObject {
        try await client.getObject(.database, "/backups/\(pathSegment(id))", key: "backup")
    }

    /// Every backup of an instance, all pages (Trove's marker is an offset).
    func backups(ofInstance instanceID: String) async throws -> [JSONObject] {
        var result: [JSONObject] = []
        var marker: String?
        var seen = Set<String>()
        for _ in 0..<Self.maximumPages {
            var query: [(name: String, value: String)] = [("instance_id", instanceID)]
            if let marker { query.append(("marker", marker)) }
            let response = try await client.get(.database, "/backups", query: query)
            result.append(contentsOf: response.body?["backups"]?.arrayValue?.compactMap(\.objectValue) ?? [])
            guard let next = CinderAPI.nextMarker(response.body?["links"]), !next.isEmpty, !seen.contains(next) else { break }
            seen.insert(next)
            marker = next
        }
        // Trove lists backups of every instance when it ignores the filter (old releases).
        return result.filter { $0.string("instance_id") == nil || $0.string("instance_id") == instanceID }
    }

    func createBackup(instanceID: String, name: String, description: String, parentID: String?) async throws -> JSONObject {
        var backup: JSONObject = [
            "name": .string(name),
            "instance": .string(instanceID),
            "description": .string(description),
        ]
        if let parentID {
            backup.updateValue(.string(parentID), forKey: "parent_id")
            // Trove's schema wants the integer 0 or 1, not a boolean.
            backup.updateValue(1, forKey: "incremental")
        } else {
            backup.updateValue(0, forKey: "incremental")
        }
        let response = try await client.post(.database, "/backups", body: ["backup": .object(backup)])
        return try response.object("backup", service: .database, method: "POST", path: "/backups")
    }

    func deleteBackup(_ id: String) async throws {
        _ = try await client.delete(.database, "/backups/\(pathSegment(id))")
    }
}

enum TroveStatuses {
    static let terminalBackup: Set<String> = ["FAILED", "DELETE_FAILED"]
    static let backupReady: Set<String> = ["ACTIVE", "HEALTHY"]
}

/// One Trove backup as the chain logic sees it. Trove shows `parent_id`.
struct DatabaseBackup: Sendable, Equatable {
    var id: String
    var status: String
    var parentID: String?
    /// `updated`, seconds since the epoch: Trove's own order for "latest".
    var updated: Double
    var created: Double

    init(id: String, status: String, parentID: String?, updated: Double, created: Double? = nil) {
        self.id = id
        self.status = status
        self.parentID = parentID
        self.updated = updated
        self.created = created ?? updated
    }

    init?(json: JSONObject) {
        guard let id = json.string("id"), let status = json.string("status") else { return nil }
        let created = json.string("created").flatMap(OpenStackTimestamp.parse)
        guard let updated = json.string("updated").flatMap(OpenStackTimestamp.parse) ?? created else { return nil }
        let parent = json.string("parent_id").flatMap { $0.isEmpty ? nil : $0 }
        self.init(id: id, status: status, parentID: parent, updated: updated, created: created)
    }
}

/// Trove chains follow `parent_id`, which Trove accepts and shows.
enum DatabaseBackupPlanner {
    enum Decision: Sendable, Equatable {
        case full(reason: String)
        case incremental(parentID: String, chainLength: Int)
    }

    /// The number of backups from `backup` up to its full backup, or nil
    /// when a parent is missing or the links loop (the chain cannot be
    /// trusted).
    static func chainLength(of backup: DatabaseBackup, in byID: [String: DatabaseBackup]) -> Int? {
        var length = 1
        var visited: Set<String> = [backup.id]
        var current = backup
        while let parentID = current.parentID {
            guard let parent = byID[parentID], !visited.contains(parentID) else { return nil }
            visited.insert(parentID)
            length += 1
            current = parent
        }
        return length
    }

    /// Builds on the latest COMPLETED backup (by `updated`, as Trove itself
    /// picks) while its chain is shorter than `maxChainLength`.
    static func decide(backups: [DatabaseBackup], maxChainLength: Int) -> Decision {
        let byID = Dictionary(backups.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let completed = backups.filter { $0.status == "COMPLETED" }
        // Trove's timestamps have whole seconds: a backup and its child can
        // share one, and the child (the deeper one) is the newer.
        func depth(_ backup: DatabaseBackup) -> Int { chainLength(of: backup, in: byID) ?? 0 }
        guard let latest = completed.max(by: {
            ($0.updated, depth($0), $0.created, $0.id) < ($1.updated, depth($1), $1.created, $1.id)
        }) else {
            return .full(reason: backups.isEmpty ? "the instance has no backup yet" : "no completed backup to build on")
        }
        guard let length = chainLength(of: latest, in: byID) else {
            return .full(reason: "the chain of backup \(latest.id) is broken (a parent is missing)")
        }
        if length >= maxChainLength {
            return .full(reason: "the current chain already has \(length) backups (max_chain_length \(maxChainLength))")
        }
        return .incremental(parentID: latest.id, chainLength: length + 1)
    }

    /// Full backups (chain roots) older than the newest `keep` ones; Trove
    /// deletes a full backup's chain with it.
    static func rootsToPrune(backups: [DatabaseBackup], keep: Int) -> [DatabaseBackup] {
        let roots = backups.filter { $0.parentID == nil && $0.status == "COMPLETED" }
            .sorted { ($0.created, $0.id) < ($1.created, $1.id) }
        guard keep >= 1, roots.count > keep else { return [] }
        let kept = Set(roots.suffix(keep).map(\.id))
        let byID = Dictionary(backups.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        // A chain with a backup still running cannot be deleted yet.
        let running: Set<String> = ["NEW", "BUILDING", "SAVING"]
        return roots.filter { root in
            !kept.contains(root.id) && !backups.contains { backup in
                running.contains(backup.status) && Self.root(of: backup, in: byID) == root.id
            }
        }
    }

    static func root(of backup: DatabaseBackup, in byID: [String: DatabaseBackup]) -> String? {
        var current = backup
        var visited: Set<String> = [backup.id]
        while let parentID = current.parentID {
            guard let parent = byID[parentID], !visited.contains(parentID) else { return nil }
            visited.insert(parentID)
            current = parent
        }
        return current.id
    }
}
