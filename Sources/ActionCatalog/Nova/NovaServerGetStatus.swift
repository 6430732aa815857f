import ActionKit
import OrderedJSON

/// `nova.servers.get_status`
struct NovaServerGetStatus: MistralAction {
    static let name = "nova.servers.get_status"
    static let description = "Returns a server's status (ACTIVE, SHUTOFF, ...)."

    @Parameter("server_id", help: "The server.") var serverID: String
    @Parameter("action_region", help: "Region of the Nova endpoint; default: the request's region.") var actionRegion: String?

    init() {}

    func run(context: ActionContext) async throws -> JSON {
        let id = try requireIdentifier(serverID, "server_id")
        let nova = NovaAPI(client: try context.openStack(region: actionRegion))
        return .string(try await nova.server(id).status)
    }
}
