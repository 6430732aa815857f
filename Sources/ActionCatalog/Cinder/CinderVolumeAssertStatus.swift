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
        let id = try requireIdentifier(volumeID, "volume_id")
        let wait = try WaitOptions(timeout: waitTimeout, interval: interval)
        let cinder = CinderAPI(client: try context.openStack(region: actionRegion))
        return try await StatusWait.assertStatus(of: "volume \(id)", expected: status, wait: wait) {
            let volume = try await cinder.volume(id)
            let seen = volume.string("status") ?? "unknown"
            return StatusObservation(status: seen, detail: nil, isTerminal: CinderStatuses.terminalVolume.contains(seen))
        }
    }
}
