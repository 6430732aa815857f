import ActionKit
import OpenStackClient
import OrderedJSON

/// `nova.servers.create_image`
struct NovaServerCreateImage: MistralAction {
    static let name = "nova.servers.create_image"
    static let description = """
        Creates an image (snapshot) of a server and returns its image id.

        With wait_timeout > 0 the action waits until the Glance image is
        active. The server must be ACTIVE, SHUTOFF, PAUSED or SUSPENDED with
        no task running; Nova answers 409 otherwise.
        """

    @Parameter("server_id", help: "The server to snapshot.") var serverID: String
    @Parameter("image_name", help: "The new image's name.") var imageName: String
    @Parameter(help: "Properties of the new image (string values).") var metadata: JSON?
    @Parameter("wait_timeout", default: 0, help: "Seconds to wait for the image to become active; 0: do not wait.")
    var waitTimeout: Double
    @Parameter(default: 5, help: "Seconds between checks while waiting.") var interval: Double
    @Parameter("action_region", help: "Region of the endpoints; default: the request's region.") var actionRegion: String?

    init() {}

    func run(context: ActionContext) async throws -> JSON {
        let id = try requireIdentifier(serverID, "server_id")
        let wait = try WaitOptions(timeout: waitTimeout, interval: interval)
        var request: JSONObject = ["name": .string(imageName)]
        switch metadata {
        case nil, .null?: break
        case .object(let properties)?:
            guard properties.values.allSatisfy({ $0.stringValue != nil }) else {
                throw ActionFailure("metadata values must be strings (Nova's image properties are strings)")
            }
            request.updateValue(.object(properties), forKey: "metadata")
        case let other?:
            throw ActionFailure("metadata must be an object of strings, got \(other.typeName)")
        }
        let client = try context.openStack(region: actionRegion)
        let nova = NovaAPI(client: client)
        let body: JSON = ["createImage": .object(request)]
        let imageID: String
        do {
            let response = try await nova.action(id, body: body, microversion: NovaAPI.createImageMicroversion)
            imageID = try Self.imageID(from: response)
        } catch let error as OpenStackError where error.status == 406 {
            // A Nova older than 2.45 refuses the microversion before doing
            // anything; it names the image in the Location header instead.
            let response = try await nova.action(id, body: body)
            imageID = try Self.imageID(from: response)
        }
        var result: JSONObject = ["image_id": .string(imageID), "server_id": .string(id), "name": .string(imageName)]
        guard wait.waits else { return .object(result) }
        let glance = GlanceAPI(client: client)
        _ = try await StatusWait.assertStatus(of: "image \(imageID)", expected: "active", wait: wait) {
            let seen = try await glance.image(imageID).string("status") ?? "unknown"
            return StatusObservation(status: seen, detail: nil, isTerminal: GlanceStatuses.terminal.contains(seen))
        }
        result.updateValue("active", forKey: "status")
        return .object(result)
    }

    /// `{"image_id": ...}` from 2.45, else the last segment of `Location`.
    static func imageID(from response: OpenStackResponse) throws -> String {
        if let id = response.body?["image_id"]?.stringValue, !id.isEmpty { return id }
        if let location = response.header("Location"),
            let last = location.split(separator: "/").last, !last.isEmpty
        {
            return String(last)
        }
        throw OpenStackError(
            kind: .invalidResponse("createImage answered without an image id or Location header"),
            service: .compute, method: "POST", path: "/servers/.../action")
    }
}
