import ActionKit
import OrderedJSON

/// `glance.images.assert_status`
struct GlanceImageAssertStatus: MistralAction {
    static let name = "glance.images.assert_status"
    static let description = """
        Asserts that an image has the expected status (active, queued, saving, ...).

        With wait_timeout > 0 it checks again every interval seconds until
        the status is reached, the image is killed or deleted, or
        wait_timeout passes. A missing image counts as status "deleted".
        """

    @Parameter("image_id", help: "The image to check.") var imageID: String
    @Parameter(default: "active", help: "The expected status.") var status: String
    @Parameter("wait_timeout", default: 0, help: "Seconds to keep checking; 0 checks once.") var waitTimeout: Double
    @Parameter(default: 5, help: "Seconds between checks.") var interval: Double
    @Parameter("action_region", help: "Region of the Glance endpoint; default: the request's region.") var actionRegion: String?

    init() {}

    func run(context: ActionContext) async throws -> JSON {
        let id = try requireIdentifier(imageID, "image_id")
        let wait = try WaitOptions(timeout: waitTimeout, interval: interval)
        let glance = GlanceAPI(client: try context.openStack(region: actionRegion))
        return try await StatusWait.assertStatus(of: "image \(id)", expected: status, wait: wait) {
            let seen = try await glance.image(id).string("status") ?? "unknown"
            return StatusObservation(status: seen, detail: nil, isTerminal: GlanceStatuses.terminal.contains(seen))
        }
    }
}
