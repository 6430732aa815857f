import ActionKit
import OrderedJSON

/// `trove.backups.assert_status`
struct TroveBackupAssertStatus: MistralAction {
    static let name = "trove.backups.assert_status"
    static let description = """
        Asserts that a database backup has the expected status (COMPLETED, NEW, BUILDING, ...).

        With wait_timeout > 0 it checks again every interval seconds until
        the status is reached, the backup FAILED, or wait_timeout passes. A
        missing backup counts as status "deleted".
        """

    @Parameter("backup_id", help: "The backup to check.") var backupID: String
    @Parameter(default: "COMPLETED", help: "The expected status.") var status: String
    @Parameter("wait_timeout", default: 0, help: "Seconds to keep checking; 0 checks once.") var waitTimeout: Double
    @Parameter(default: 5, help: "Seconds between checks.") var interval: Double
    @Parameter("action_region", help: "Region of the Trove endpoint; default: the request's region.") var actionRegion: String?

    init() {}

    func run(context: ActionContext) async throws -> JSON {
        let id = try requireIdentifier(backupID, "backup_id")
        let wait = try WaitOptions(timeout: waitTimeout, interval: interval)
        let trove = TroveAPI(client: try context.openStack(region: actionRegion))
        return try await StatusWait.assertStatus(of: "database backup \(id)", expected: status, wait: wait) {
            let seen = try await trove.backup(id).string("status") ?? "UNKNOWN"
            return StatusObservation(status: seen, detail: nil, isTerminal: TroveStatuses.terminalBackup.contains(seen))
        }
    }
}
