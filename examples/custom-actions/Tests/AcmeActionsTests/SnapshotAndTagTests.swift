import ActionCatalog
import ActionKit
import MistralActionsTesting
import OpenStackClient
import OpenStackSimulator
import OrderedJSON
import Testing

@testable import AcmeActions

/// acme.volumes.snapshot_and_tag against the OpenStack simulator, run in
/// this process as the worker runs it (input decoded, then `run`).
@Suite("acme.volumes.snapshot_and_tag")
struct SnapshotAndTagTests {
    @Test("the discovery plugin found the action in this target")
    func discovered() throws {
        let registry = try ActionRegistry(catalogs: [AcmeActions.catalog])
        #expect(AcmeActions.catalog.name == "AcmeActions")
        let descriptor = try #require(registry.descriptor(named: "acme.volumes.snapshot_and_tag"))
        #expect(descriptor.inputString == "volume_id, purpose, ticket=null, wait_timeout=0, interval=5, action_region=null")
    }

    @Test("with wait_timeout it returns the available snapshot, tagged")
    func waitsAndTags() async throws {
        try await ActionTestCloud.withCloud(transitionDelay: 0.3) { cloud in
            let result = try await cloud.run(SnapshotAndTag.self, input: [
                "volume_id": .string(SimulatorDefaults.demoVolumeID), "purpose": "pre-upgrade", "ticket": "CHG-1234",
                "wait_timeout": 60, "interval": 0.1,
            ])
            #expect(result["status"]?.stringValue == "available")
            #expect(result["volume_id"]?.stringValue == SimulatorDefaults.demoVolumeID)
            #expect(result["metadata"]?["acme:purpose"]?.stringValue == "pre-upgrade")
            #expect(result["metadata"]?["acme:ticket"]?.stringValue == "CHG-1234")
            // Cinder itself has the snapshot, with the name and metadata.
            let id = try #require(result["snapshot_id"]?.stringValue)
            let client = try cloud.context(actionName: "test").openStack()
            let stored = try await client.get(.blockStorage, "/snapshots/\(id)").body?["snapshot"]
            #expect(stored?["name"]?.stringValue == "acme-pre-upgrade-demo-volume")
            #expect(stored?["metadata"]?["acme:ticket"]?.stringValue == "CHG-1234")
            #expect(stored?["status"]?.stringValue == "available")
        }
    }

    @Test("without wait_timeout it returns at once, the snapshot still creating")
    func noWait() async throws {
        // Snapshots take 30 s here: the action must not wait for it.
        try await ActionTestCloud.withCloud(transitionDelay: 30) { cloud in
            let result = try await cloud.run(SnapshotAndTag.self, input: [
                "volume_id": .string(SimulatorDefaults.demoVolumeID), "purpose": "nightly",
            ])
            #expect(result["status"]?.stringValue == "creating")
            #expect(result["metadata"]?["acme:ticket"] == nil)
        }
    }

    @Test("input a workflow got wrong is refused before any call to Cinder, naming the parameter", arguments: [
        (["volume_id": "../../volumes", "purpose": "x"], "volume_id"),
        (["volume_id": .string(SimulatorDefaults.demoVolumeID), "purpose": "a b"], "purpose"),
        (["volume_id": .string(SimulatorDefaults.demoVolumeID), "purpose": "x", "ticket": ""], "ticket"),
        (["volume_id": .string(SimulatorDefaults.demoVolumeID), "purpose": "x", "wait_timeout": .double(.nan)], "wait_timeout"),
        (["volume_id": .string(SimulatorDefaults.demoVolumeID), "purpose": "x", "wait_timeout": 1e300], "wait_timeout"),
        (["volume_id": .string(SimulatorDefaults.demoVolumeID), "purpose": "x", "interval": 0], "interval"),
    ] as [(JSONObject, String)])
    func refusesBadInput(input: JSONObject, parameter: String) async throws {
        try await ActionTestCloud.withCloud { cloud in
            cloud.simulator.clearRequestLog()
            let error = await #expect(throws: (any Error).self) {
                try await cloud.run(SnapshotAndTag.self, input: input)
            }
            // Refused by the action (ActionFailure) or by the input decoding (ActionInputError).
            #expect(error is ActionFailure || error is ActionInputError)
            #expect(error.map { "\($0)" }?.contains(parameter) == true, "\(String(describing: error))")
            #expect(cloud.simulator.requestLog().filter { $0.path.contains("/volumes") || $0.path.contains("/snapshots") }.isEmpty)
        }
    }

    @Test("an unknown volume fails with Cinder's 404, and no snapshot is made")
    func unknownVolume() async throws {
        try await ActionTestCloud.withCloud { cloud in
            let error = await #expect(throws: (any Error).self) {
                try await cloud.run(SnapshotAndTag.self, input: [
                    "volume_id": "00000000-0000-0000-0000-000000000000", "purpose": "x",
                ])
            }
            #expect(String(describing: error.map { "\($0)" } ?? "").contains("404"))
            #expect(!cloud.simulator.requestLog().contains { $0.method == "POST" && $0.path.contains("/snapshots") })
        }
    }
}
