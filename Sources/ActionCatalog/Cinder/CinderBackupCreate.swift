import ActionKit
import Logging
import OpenStackClient
import OrderedJSON

/// `cinder.backups.create`
struct CinderBackupCreate: MistralAction {
    static let name = "cinder.backups.create"
    static let description = """
        Creates a backup of a volume and returns Cinder's answer (id, name, links).

        Cinder, not the caller, chooses an incremental backup's parent: the
        volume's latest available backup. When incremental is true and the
        volume has no available backup yet, a full backup is made instead
        (Cinder would refuse the request); the result's "incremental" says
        which kind was made. force allows backing up an in-use volume.
        """

    @Parameter("volume_id", help: "The volume to back up.") var volumeID: String
    @Parameter("backup_name", help: "The backup's name.") var backupName: String
    @Parameter("snapshot_id", help: "Back up this snapshot of the volume instead of the volume itself.") var snapshotID: String?
    @Parameter(help: "The backup's description.") var description: String?
    @Parameter(help: "The backup service container; default: the backend's.") var container: String?
    @Parameter(default: true, help: "An incremental backup when the volume has an available backup.") var incremental: Bool
    @Parameter(default: true, help: "Allow backing up an in-use volume.") var force: Bool
    @Parameter("action_region", help: "Region of the Cinder endpoint; default: the request's region.") var actionRegion: String?

    init() {}

    func run(context: ActionContext) async throws -> JSON {
        let id = try requireIdentifier(volumeID, "volume_id")
        let cinder = CinderAPI(client: try context.openStack(region: actionRegion))
        var madeIncremental = incremental
        var created: JSONObject
        do {
            created = try await cinder.createBackup(
                volumeID: id, name: backupName, description: description, incremental: incremental, force: force,
                snapshotID: snapshotID, container: container
            )
        } catch let error as OpenStackError where incremental && CinderAPI.isNoIncrementalBase(error) {
            // A 400 leaves nothing behind, so asking again for a full backup is safe.
            context.logger.info("no available backup to build on: making a full backup", metadata: ["cinder.volume_id": "\(id)"])
            madeIncremental = false
            created = try await cinder.createBackup(
                volumeID: id, name: backupName, description: description, incremental: false, force: force,
                snapshotID: snapshotID, container: container
            )
        }
        created.updateValue(.bool(madeIncremental), forKey: "incremental")
        return .object(created)
    }
}
