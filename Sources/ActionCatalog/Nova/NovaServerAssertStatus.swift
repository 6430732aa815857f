import ActionKit
import OrderedJSON

/// `nova.servers.assert_status`
struct NovaServerAssertStatus: MistralAction {
    static let name = "nova.servers.assert_status"
    static let description = """
        Asserts that a server has the expected status (ACTIVE, SHUTOFF, ...).

        The server counts as being in a status only when no task runs on it:
        Nova keeps showing ACTIVE while it powers a server off. With
        wait_timeout > 0 it checks again every interval seconds until the
        status is reached, the server lands in ERROR, or wait_timeout passes.
        """

    @Parameter("server_id", help: "The server to check.") var serverID: String
    @Parameter(default: "ACTIVE", help: "The expected status.") var status: String
    @Parameter("wait_timeout", default: 0, help: "Seconds to keep checking; 0 checks once.") var waitTimeout: Double
    @Parameter(default: 5, help: "Seconds between checks.") var interval: Double
    @Parameter("action_region", help: "Region of the Nova endpoint; default: the request's region.") var actionRegion: String?

    init() {}

    func run(context: ActionContext) async throws -> JSON {
        let id = try requireIdentifier(serverID, "server_id")
        let wait = try WaitOptions(timeout: waitTimeout, interval: interval)
        let nova = NovaAPI(client: try context.openStack(region: actionRegion))
        return try await StatusWait.assertStatus(of: "server \(id)", expected: status, wait: wait) {
            let server = try await nova.server(id)
            return StatusObservation(
                status: server.status, detail: server.taskDetail,
                isTerminal: NovaStatuses.terminal.contains(server.status), isSettled: server.isSettled)
        }
    }
}
