import OrderedJSON

/// One Cinder backup as the chain logic sees it.
struct VolumeBackup: Sendable, Equatable {
    var id: String
    var name: String?
    var status: String
    var isIncremental: Bool
    /// `data_timestamp` (the point in time the data is from), else `created_at`;
    /// seconds since the epoch.
    var dataTimestamp: Double
    var createdAt: Double

    init(id: String, name: String? = nil, status: String, isIncremental: Bool, dataTimestamp: Double, createdAt: Double? = nil) {
        self.id = id
        self.name = name
        self.status = status
        self.isIncremental = isIncremental
        self.dataTimestamp = dataTimestamp
        self.createdAt = createdAt ?? dataTimestamp
    }

    /// From a `GET /backups/detail` item; nil when it lacks an id or a timestamp.
    init?(json: JSONObject) {
        guard let id = json.string("id"), let status = json.string("status") else { return nil }
        let created = json.string("created_at").flatMap(OpenStackTimestamp.parse)
        guard let data = json.string("data_timestamp").flatMap(OpenStackTimestamp.parse) ?? created else { return nil }
        self.init(
            id: id, name: json.string("name"), status: status,
            isIncremental: json["is_incremental"]?.boolValue ?? false,
            dataTimestamp: data, createdAt: created
        )
    }

    var isAvailable: Bool { status == "available" }
    /// Cinder deletes only backups in these statuses.
    var isDeletable: Bool { status == "available" || status == "error" }
}

/// A full backup and the incrementals that depend on it, oldest first.
struct BackupChain: Sendable, Equatable {
    var backups: [VolumeBackup]

    var full: VolumeBackup { backups[0] }
    var ids: [String] { backups.map(\.id) }
}

/// What the chain-aware backup should do next.
enum BackupDecision: Sendable, Equatable {
    /// A full backup, and why.
    case full(reason: String)
    /// An incremental one; Cinder will make `expectedParentID` its parent
    /// (the latest available backup), which becomes the chain's
    /// `chainLength`-th backup counting the full one.
    case incremental(expectedParentID: String, chainLength: Int)

    var isIncremental: Bool {
        if case .incremental = self { return true }
        return false
    }
}

/// Backup chains of one volume, reconstructed from what Cinder shows.
///
/// Cinder never exposes `parent_id`: it makes an incremental backup's parent
/// the volume's latest *available* backup by `data_timestamp` at the time
/// it is created (cinder/backup/api.py). So, ordered by `data_timestamp`, a
/// full backup starts a chain and every later incremental continues the
/// newest chain. Incrementals older than every full backup belong to no
/// known chain (their full backup is gone or in another project): they are
/// orphans and are left alone.
enum BackupChainPlanner {
    /// Statuses that leave no backup behind.
    static let gone: Set<String> = ["deleting", "deleted"]

    static func ordered(_ backups: [VolumeBackup]) -> [VolumeBackup] {
        backups.sorted {
            ($0.dataTimestamp, $0.createdAt, $0.id) < ($1.dataTimestamp, $1.createdAt, $1.id)
        }
    }

    /// Every chain, oldest first, and the orphans.
    ///
    /// A full backup in `error` never becomes a parent: it is a chain of its
    /// own and later incrementals continue the chain before it.
    static func chains(of backups: [VolumeBackup]) -> (chains: [BackupChain], orphans: [VolumeBackup]) {
        var chains: [BackupChain] = []
        var orphans: [VolumeBackup] = []
        var current: Int?
        for backup in ordered(backups) where !gone.contains(backup.status) {
            if !backup.isIncremental {
                chains.append(BackupChain(backups: [backup]))
                if backup.status != "error" { current = chains.count - 1 }
            } else if let current {
                chains[current].backups.append(backup)
            } else {
                orphans.append(backup)
            }
        }
        return (chains, orphans)
    }

    /// The current chain: the latest available full backup and the
    /// available incrementals after it. Nil when no full backup is available.
    static func currentChain(of backups: [VolumeBackup]) -> BackupChain? {
        let available = ordered(backups).filter(\.isAvailable)
        guard let lastFull = available.lastIndex(where: { !$0.isIncremental }) else { return nil }
        return BackupChain(backups: Array(available[lastFull...]))
    }

    /// Full or incremental, so that no chain grows past `maxChainLength`
    /// backups (the full one included).
    static func decide(backups: [VolumeBackup], maxChainLength: Int) -> BackupDecision {
        let live = backups.filter { !gone.contains($0.status) }
        if live.isEmpty {
            return .full(reason: "the volume has no backup yet")
        }
        guard let chain = currentChain(of: live) else {
            return .full(reason: "no full backup of the volume is available to build on")
        }
        // Cinder's parent is the latest available backup of all; the chain's
        // last one is that backup unless an orphan is newer, which cannot
        // be (orphans are older than every full backup).
        let parent = chain.backups[chain.backups.count - 1]
        if chain.backups.count >= maxChainLength {
            return .full(reason: "the current chain already has \(chain.backups.count) backups (max_chain_length \(maxChainLength))")
        }
        return .incremental(expectedParentID: parent.id, chainLength: chain.backups.count + 1)
    }

    /// The chains to delete so that only the newest `keep` chains remain,
    /// oldest first. A failed full backup (a chain of one in `error`) older
    /// than the kept chains goes too; chains with a backup Cinder cannot
    /// delete right now (`creating`, `restoring`, ...) stay.
    static func chainsToPrune(backups: [VolumeBackup], keep: Int) -> [BackupChain] {
        let all = chains(of: backups).chains
        let valid = all.indices.filter { all[$0].full.status != "error" }
        guard keep >= 1, valid.count > keep else { return [] }
        let oldestKept = valid[valid.count - keep]
        return all[..<oldestKept].filter { chain in chain.backups.allSatisfy(\.isDeletable) }
    }
}
