import ActionKit
import OrderedJSON

/// `cinder.volumes.assert_status`
struct CinderVolumeAssertStatus: MistralAction {
    static let name = "cinder.volumes.assert_status"
    static let description = """
        Asserts that a volume has the expected status.

        Fails with the status it has otherwise. With wait_timeout > 0 it
        checks again every interval seconds until the status is reached, the
        volume lands in an error status, or wait_timeout passes. A missing
        volume counts as status "deleted".
        """

    @Parameter("volume_id", help: "The volume to check.") var volumeID: String
    @Parameter(default: "available", help: "The expected status.") var status: String
    @Parameter("wait_timeout", default: 0, help: "Seconds to keep checking; 0 checks once.") var waitTimeout: Double
    @Parameter(default: 5, help: "Seconds between checks.") var interval: Double
    @Parameter("action_region", help: "Region of the Cinder endpoint; default: the request's region.") var actionRegion: String?

    init() {}

    func run(context: ActionContext) async throws -> JSON {
        try await CinderAPI.assertStatus(
            of: "volume", id: volumeID, parameter: "volume_id", expected: status, waitTimeout: waitTimeout,
            interval: interval, region: actionRegion, terminal: CinderStatuses.terminalVolume, context: context
        ) { cinder, id in try await cinder.volume(id) }
    }
}
