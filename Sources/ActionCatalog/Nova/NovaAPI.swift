import ActionKit
import OpenStackClient
import OrderedJSON

/// The Nova calls the actions make, below the catalog's `compute` endpoint
/// (`.../v2.1`).
struct NovaAPI: Sendable {
    let client: OpenStackClient

    /// The microversion whose createImage answers with `{"image_id"}` (Pike and later).
    static let createImageMicroversion = "2.45"

    /// Power states by number (`OS-EXT-STS:power_state`); 2 and 5 are unused.
    static let powerStateNames: [Int: String] = [
        0: "nostate", 1: "running", 3: "paused", 4: "shutdown", 6: "crashed", 7: "suspended",
    ]

    struct Server: Sendable {
        var object: JSONObject
        var status: String { object.string("status") ?? "UNKNOWN" }
        var vmState: String? { object.string("OS-EXT-STS:vm_state") }
        var taskState: String? { object.string("OS-EXT-STS:task_state") }
        var powerState: Int? { object["OS-EXT-STS:power_state"]?.intValue }
        var powerStateName: String {
            guard let powerState else { return "unknown" }
            return NovaAPI.powerStateNames[powerState] ?? "unknown(\(powerState))"
        }
        /// Nova's status lags its task state: during os-stop the server
        /// stays ACTIVE with task_state powering-off.
        var isSettled: Bool { taskState == nil }
        var taskDetail: String? { taskState.map { "task_state \($0)" } }
    }

    /// `GET /servers/{id}` (never the list: Nova has no `id` filter).
    func server(_ id: String) async throws -> Server {
        Server(object: try await client.getObject(.compute, "/servers/\(pathSegment(id))", key: "server"))
    }

    /// `POST /servers/{id}/action`.
    func action(_ id: String, body: JSON, microversion: String? = nil) async throws -> OpenStackResponse {
        try await client.send(OpenStackRequest(
            "POST", .compute, "/servers/\(pathSegment(id))/action", body: body, microversion: microversion))
    }
}

enum NovaStatuses {
    static let terminal: Set<String> = ["ERROR", "DELETED", "SOFT_DELETED"]
}
