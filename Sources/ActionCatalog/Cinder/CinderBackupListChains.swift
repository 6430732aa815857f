import ActionKit
import OrderedJSON

/// `cinder.backups.list_chains`
struct CinderBackupListChains: MistralAction {
    static let name = "cinder.backups.list_chains"
    static let description = """
        Lists a volume's backup chains as cinder.backups.create_backup sees them.

        Each chain is a full backup and the incremental backups that build on
        it, oldest first. Orphans are incremental backups older than every
        full backup of the volume (their full backup is gone).
        """

    @Parameter("volume_id", help: "The volume whose backups are listed.") var volumeID: String
    @Parameter("action_region", help: "Region of the Cinder endpoint; default: the request's region.") var actionRegion: String?

    init() {}

    func run(context: ActionContext) async throws -> JSON {
        let id = try requireIdentifier(volumeID, "volume_id")
        let cinder = CinderAPI(client: try context.openStack(region: actionRegion))
        let backups = try await cinder.backups(ofVolume: id).compactMap(VolumeBackup.init(json:))
        if backups.isEmpty {
            // No backups, or no such volume (a mistyped id must not read as
            // "no chains"). Backups outlive their volume, so with backups
            // the volume need not exist.
            _ = try await cinder.volume(id)
        }
        let (chains, orphans) = BackupChainPlanner.chains(of: backups)
        func describe(_ backup: VolumeBackup) -> JSON {
            [
                "id": .string(backup.id),
                "name": backup.name.map(JSON.string) ?? .null,
                "status": .string(backup.status),
                "incremental": .bool(backup.isIncremental),
            ]
        }
        let current = BackupChainPlanner.currentChain(of: backups)
        return [
            "volume_id": .string(id),
            "chains": .array(chains.map { chain in
                [
                    "full_backup_id": .string(chain.full.id),
                    "length": .integer(Int64(chain.backups.count)),
                    "backups": .array(chain.backups.map(describe)),
                ]
            }),
            "orphans": .array(orphans.map(describe)),
            "current_chain_length": .integer(Int64(current?.backups.count ?? 0)),
        ]
    }
}
