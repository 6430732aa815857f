import ActionKit
import OrderedJSON

/// `nova.servers.assert_power_status`
struct NovaServerAssertPowerStatus: MistralAction {
    static let name = "nova.servers.assert_power_status"
    static let description = """
        Asserts that a server's power state is the expected one.

        Power states: nostate, running, paused, shutdown, crashed, suspended.
        A server in ERROR fails at once. With wait_timeout > 0 it checks
        again every interval seconds until the power state is reached or
        wait_timeout passes.
        """

    @Parameter("server_id", help: "The server to check.") var serverID: String
    @Parameter(default: "running", help: "The expected power state.") var status: String
    @Parameter("wait_timeout", default: 0, help: "Seconds to keep checking; 0 checks once.") var waitTimeout: Double
    @Parameter(default: 5, help: "Seconds between checks.") var interval: Double
    @Parameter("action_region", help: "Region of the Nova endpoint; default: the request's region.") var actionRegion: String?

    init() {}

    func run(context: ActionContext) async throws -> JSON {
        let id = try requireIdentifier(serverID, "server_id")
        let expected = status.lowercased()
        guard NovaAPI.powerStateNames.values.contains(expected) else {
            let known = NovaAPI.powerStateNames.sorted { $0.key < $1.key }.map(\.value).joined(separator: ", ")
            throw ActionFailure("status must be a power state (\(known)), got '\(status)'")
        }
        let wait = try WaitOptions(timeout: waitTimeout, interval: interval)
        let nova = NovaAPI(client: try context.openStack(region: actionRegion))
        return try await StatusWait.assertStatus(of: "server \(id) power state", expected: expected, wait: wait) {
            let server = try await nova.server(id)
            if server.status == "ERROR" {
                throw ActionFailure("server \(id) is in ERROR status")
            }
            return StatusObservation(status: server.powerStateName, detail: server.taskDetail, isTerminal: false)
        }
    }
}
