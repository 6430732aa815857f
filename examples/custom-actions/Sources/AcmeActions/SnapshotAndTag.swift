import ActionCatalog
import ActionKit
import OpenStackClient
import OrderedJSON

/// `acme.volumes.snapshot_and_tag`: a snapshot that says why it exists.
struct SnapshotAndTag: MistralAction {
    static let name = "acme.volumes.snapshot_and_tag"
    static let description = """
        Snapshots a volume and tags the snapshot with why and by whom.

        The snapshot is named acme-{purpose}-{volume name} and carries the
        metadata acme:purpose, acme:ticket (when given) and
        acme:workflow_execution. With wait_timeout > 0 it waits until the
        snapshot is available. Returns snapshot_id, status, volume_id and
        metadata.
        """

    @Parameter("volume_id", help: "The volume to snapshot.") var volumeID: String
    @Parameter(help: "Why the snapshot is taken, e.g. pre-upgrade (letters, digits, - and _).") var purpose: String
    @Parameter(help: "The change ticket, stored as acme:ticket.") var ticket: String?
    @Parameter("wait_timeout", default: 0, help: "Seconds to wait for the snapshot to become available; 0: do not wait.")
    var waitTimeout: Double
    @Parameter(default: 5, help: "Seconds between checks while waiting.") var interval: Double
    @Parameter("action_region", help: "Region of the Cinder endpoint; default: the request's region.") var actionRegion: String?

    init() {}

    /// Cinder's limit on metadata keys and values.
    static let metadataLimit = 255

    func run(context: ActionContext) async throws -> JSON {
        // Input comes from workflows: check it before any call.
        guard Self.isPlain(volumeID, allowing: "-") else {
            throw ActionFailure("volume_id must be a volume id (letters, digits and -), got '\(volumeID.prefix(80))'")
        }
        guard Self.isPlain(purpose, allowing: "-_") else {
            throw ActionFailure("purpose must be 1 to 64 letters, digits, - or _, got '\(purpose.prefix(80))'")
        }
        if let ticket, ticket.isEmpty || ticket.utf8.count > Self.metadataLimit {
            throw ActionFailure("ticket must be 1 to \(Self.metadataLimit) bytes")
        }
        let wait = try WaitOptions(timeout: waitTimeout, interval: interval)

        // A client acting with the caller's token, region and catalog.
        let cinder = try context.openStack(region: actionRegion)
        let volume = try await cinder.get(.blockStorage, "/volumes/\(volumeID)")
        let volumeName = volume.body?["volume"]?["name"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? volumeID

        var metadata: JSONObject = ["acme:purpose": .string(purpose)]
        if let ticket { metadata.updateValue(.string(ticket), forKey: "acme:ticket") }
        if let execution = context.execution.workflowExecutionID {
            metadata.updateValue(.string(execution), forKey: "acme:workflow_execution")
        }
        let body: JSON = [
            "snapshot": [
                "volume_id": .string(volumeID),
                "name": .string(String("acme-\(purpose)-\(volumeName)".prefix(Self.metadataLimit))),
                "description": .string("Created by \(context.actionName)"),
                "force": true,
                "metadata": .object(metadata),
            ]
        ]
        let created = try await cinder.post(.blockStorage, "/snapshots", body: body)
        guard let snapshotID = created.body?["snapshot"]?["id"]?.stringValue else {
            throw ActionFailure("Cinder answered the snapshot request without a snapshot id")
        }
        context.logger.info("snapshot requested", metadata: ["snapshot.id": "\(snapshotID)", "volume.id": "\(volumeID)"])

        if wait.waits {
            _ = try await StatusWait.assertStatus(of: "snapshot \(snapshotID)", expected: "available", wait: wait) {
                let status = try await Self.snapshot(snapshotID, cinder)["status"]?.stringValue ?? "unknown"
                return StatusObservation(status: status, isTerminal: status == "error" || status == "error_deleting")
            }
        }
        let snapshot = try await Self.snapshot(snapshotID, cinder)
        return [
            "snapshot_id": .string(snapshotID),
            "status": snapshot["status"] ?? .null,
            "volume_id": .string(volumeID),
            "metadata": snapshot["metadata"] ?? .object(metadata),
        ]
    }

    /// 1 to 64 ASCII letters and digits, and the characters of `extra`.
    static func isPlain(_ text: String, allowing extra: String) -> Bool {
        (1...64).contains(text.utf8.count) && text.utf8.allSatisfy { byte in
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || extra.utf8.contains(byte)
        }
    }

    static func snapshot(_ id: String, _ cinder: OpenStackClient) async throws -> JSON {
        let response = try await cinder.get(.blockStorage, "/snapshots/\(id)")
        guard let snapshot = response.body?["snapshot"] else {
            throw ActionFailure("Cinder answered GET /snapshots/\(id) without a snapshot")
        }
        return snapshot
    }
}
