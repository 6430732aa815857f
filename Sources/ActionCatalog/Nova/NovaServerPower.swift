import ActionKit
import OpenStackClient
import OrderedJSON

/// Starting and stopping a server: the request, Nova's 409 when the server
/// is already there, and the optional wait until it has settled.
enum ServerPower {
    struct Target {
        /// `os-start` or `os-stop`.
        var action: String
        /// The vm_state and status once done.
        var vmState: String
        var status: String
        var verb: String
    }

    static let start = Target(action: "os-start", vmState: "active", status: "ACTIVE", verb: "start")
    static let stop = Target(action: "os-stop", vmState: "stopped", status: "SHUTOFF", verb: "stop")

    static func run(
        _ target: Target, serverID: String, wait: WaitOptions, region: String?, context: ActionContext
    ) async throws -> JSON {
        let id = try requireIdentifier(serverID, "server_id")
        let nova = NovaAPI(client: try context.openStack(region: region))
        do {
            _ = try await nova.action(id, body: [target.action: .null])
        } catch let error as OpenStackError where error.status == 409 {
            // Already there (and idle) is success: the workflow wants the end state.
            let server = try await nova.server(id)
            guard server.vmState == target.vmState, server.isSettled else { throw error }
            return ["server_id": .string(id), "status": .string(server.status), "changed": false]
        }
        guard wait.waits else {
            return ["server_id": .string(id), "status": .string("\(target.verb) requested"), "changed": true]
        }
        _ = try await StatusWait.assertStatus(of: "server \(id)", expected: target.status, wait: wait) {
            let server = try await nova.server(id)
            return StatusObservation(
                status: server.status, detail: server.taskDetail,
                isTerminal: NovaStatuses.terminal.contains(server.status), isSettled: server.isSettled)
        }
        return ["server_id": .string(id), "status": .string(target.status), "changed": true]
    }
}

/// `nova.servers.start`
struct NovaServerStart: MistralAction {
    static let name = "nova.servers.start"
    static let description = """
        Starts a stopped server (os-start).

        A server already running and idle counts as success ("changed":
        false). With wait_timeout > 0 the action waits until the server is
        ACTIVE with no task running.
        """

    @Parameter("server_id", help: "The server to start.") var serverID: String
    @Parameter("wait_timeout", default: 0, help: "Seconds to wait for ACTIVE; 0: do not wait.") var waitTimeout: Double
    @Parameter(default: 5, help: "Seconds between checks while waiting.") var interval: Double
    @Parameter("action_region", help: "Region of the Nova endpoint; default: the request's region.") var actionRegion: String?

    init() {}

    func run(context: ActionContext) async throws -> JSON {
        try await ServerPower.run(
            ServerPower.start, serverID: serverID, wait: try WaitOptions(timeout: waitTimeout, interval: interval),
            region: actionRegion, context: context)
    }
}

/// `nova.servers.stop`
struct NovaServerStop: MistralAction {
    static let name = "nova.servers.stop"
    static let description = """
        Stops a running server (os-stop).

        A server already stopped and idle counts as success ("changed":
        false). With wait_timeout > 0 the action waits until the server is
        SHUTOFF with no task running.
        """

    @Parameter("server_id", help: "The server to stop.") var serverID: String
    @Parameter("wait_timeout", default: 0, help: "Seconds to wait for SHUTOFF; 0: do not wait.") var waitTimeout: Double
    @Parameter(default: 5, help: "Seconds between checks while waiting.") var interval: Double
    @Parameter("action_region", help: "Region of the Nova endpoint; default: the request's region.") var actionRegion: String?

    init() {}

    func run(context: ActionContext) async throws -> JSON {
        try await ServerPower.run(
            ServerPower.stop, serverID: serverID, wait: try WaitOptions(timeout: waitTimeout, interval: interval),
            region: actionRegion, context: context)
    }
}
