import ActionKit
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import OpenStackClient
import OrderedJSON

/// `cinder.snapshots.create_snapshot`
struct CinderSnapshotCreate: MistralAction {
    static let name = "cinder.snapshots.create_snapshot"
    static let description = """
        Creates a snapshot of a volume, named {volume name}_snap_{UTC time}.

        Returns the snapshot as Cinder answers (status "creating"); with
        wait_timeout > 0 it waits until the snapshot is available and
        returns it then. In-use volumes are snapshotted too (force).
        """

    @Parameter("volume_id", help: "The volume to snapshot.") var volumeID: String
    @Parameter("wait_timeout", default: 0, help: "Seconds to wait for the snapshot to become available; 0: do not wait.")
    var waitTimeout: Double
    @Parameter(default: 5, help: "Seconds between checks while waiting.") var interval: Double
    @Parameter("action_region", help: "Region of the Cinder endpoint; default: the request's region.") var actionRegion: String?

    init() {}

    func run(context: ActionContext) async throws -> JSON {
        let id = try requireIdentifier(volumeID, "volume_id")
        let wait = try WaitOptions(timeout: waitTimeout, interval: interval)
        let client = try context.openStack(region: actionRegion)
        let cinder = CinderAPI(client: client)
        let volume = try await cinder.volume(id)
        let now = Date().timeIntervalSince1970
        let volumeName = volume.string("name").flatMap { $0.isEmpty ? nil : $0 } ?? id
        let body: JSON = [
            "snapshot": [
                "volume_id": .string(id),
                "name": .string("\(volumeName)_snap_\(OpenStackTimestamp.nameSuffix(secondsSinceEpoch: now))"),
                "description": .string("Created by mistral-actions (\(context.actionName))"),
                "force": true,
            ]
        ]
        let response = try await client.post(.blockStorage, "/snapshots", body: body)
        let snapshot = try response.object("snapshot", service: .blockStorage, method: "POST", path: "/snapshots")
        guard wait.waits, let snapshotID = snapshot.string("id") else { return .object(snapshot) }
        _ = try await StatusWait.assertStatus(of: "snapshot \(snapshotID)", expected: "available", wait: wait) {
            let seen = try await cinder.snapshot(snapshotID).string("status") ?? "unknown"
            return StatusObservation(status: seen, detail: nil, isTerminal: CinderStatuses.terminalSnapshot.contains(seen))
        }
        return .object(try await cinder.snapshot(snapshotID))
    }
}
