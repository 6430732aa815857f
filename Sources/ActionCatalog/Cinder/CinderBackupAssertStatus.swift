import ActionKit
import OrderedJSON

/// `cinder.backups.assert_status`
struct CinderBackupAssertStatus: MistralAction {
    static let name = "cinder.backups.assert_status"
    static let description = """
        Asserts that a volume backup has the expected status.

        Fails with the status it has otherwise (and Cinder's fail_reason for a
        backup in error). With wait_timeout > 0 it checks again every interval
        seconds until the status is reached, the backup lands in an error
        status, or wait_timeout passes. A missing backup counts as status
        "deleted".
        """

    @Parameter("backup_id", help: "The backup to check.") var backupID: String
    @Parameter(default: "available", help: "The expected status.") var status: String
    @Parameter("wait_timeout", default: 0, help: "Seconds to keep checking; 0 checks once.") var waitTimeout: Double
    @Parameter(default: 5, help: "Seconds between checks.") var interval: Double
    @Parameter("action_region", help: "Region of the Cinder endpoint; default: the request's region.") var actionRegion: String?

    init() {}

    func run(context: ActionContext) async throws -> JSON {
        try await CinderAPI.assertStatus(
            of: "backup", id: backupID, parameter: "backup_id", expected: status, waitTimeout: waitTimeout,
            interval: interval, region: actionRegion, terminal: CinderStatuses.terminalBackup, context: context
        ) { cinder, id in try await cinder.backup(id) }
    }
}
