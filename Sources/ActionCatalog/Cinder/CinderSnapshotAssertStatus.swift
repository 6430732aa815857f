import ActionKit
import OrderedJSON

/// `cinder.snapshots.assert_status`
struct CinderSnapshotAssertStatus: MistralAction {
    static let name = "cinder.snapshots.assert_status"
    static let description = """
        Asserts that a volume snapshot has the expected status.

        Fails with the status it has otherwise. With wait_timeout > 0 it
        checks again every interval seconds until the status is reached, the
        snapshot lands in an error status, or wait_timeout passes. A missing
        snapshot counts as status "deleted".
        """

    @Parameter("snapshot_id", help: "The snapshot to check.") var snapshotID: String
    @Parameter(default: "available", help: "The expected status.") var status: String
    @Parameter("wait_timeout", default: 0, help: "Seconds to keep checking; 0 checks once.") var waitTimeout: Double
    @Parameter(default: 5, help: "Seconds between checks.") var interval: Double
    @Parameter("action_region", help: "Region of the Cinder endpoint; default: the request's region.") var actionRegion: String?

    init() {}

    func run(context: ActionContext) async throws -> JSON {
        try await CinderAPI.assertStatus(
            of: "snapshot", id: snapshotID, parameter: "snapshot_id", expected: status, waitTimeout: waitTimeout,
            interval: interval, region: actionRegion, terminal: CinderStatuses.terminalSnapshot, context: context
        ) { cinder, id in try await cinder.snapshot(id) }
    }
}
