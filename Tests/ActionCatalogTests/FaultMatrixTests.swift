import ActionKit
import OpenStackSimulator
import OrderedJSON
import Testing

@testable import ActionCatalog

/// One OpenStack action of the catalog, with an input that succeeds on a
/// fresh simulator and one that names a resource that does not exist.
struct ActionCase: Sendable, CustomTestStringConvertible {
    var name: String
    /// Seeds what the action needs; returns the input that succeeds.
    var input: @Sendable (CloudHarness) throws -> JSONObject
    /// Holds for the successful result.
    var succeeded: @Sendable (JSON) -> Bool
    /// An input naming a missing resource (nil: the action takes no id).
    var missing: JSONObject?

    var testDescription: String { name }

    /// Waits for the simulator's transitions, checking often; the timeout
    /// only guards against a hang, generous for a loaded machine.
    static let waiting: JSONObject = ["wait_timeout": 60, "interval": 0.05]
    static let absent: JSON = "00000000-0000-0000-0000-000000000000"

    static func isTrue(_ result: JSON) -> Bool { result == true }

    /// `input` with `waiting` added.
    static func waited(_ input: JSONObject) -> JSONObject { input.merging(waiting) }
}

extension ActionCase {
    /// Every OpenStack action of the catalog; the test below fails when an
    /// action is missing here.
    static let all: [ActionCase] = [
        ActionCase(
            name: "cinder.volumes.assert_status",
            input: { _ in ["volume_id": .string(SimulatorDefaults.demoVolumeID)] }, succeeded: isTrue,
            missing: ["volume_id": absent]),
        ActionCase(
            name: "cinder.snapshots.assert_status",
            input: { cloud in
                let seeded = try cloud.seed(["snapshots": [["volume_id": .string(SimulatorDefaults.demoVolumeID), "status": "available"]]])
                return ["snapshot_id": seeded["snapshots"]?[0]?["id"] ?? .null]
            }, succeeded: isTrue, missing: ["snapshot_id": absent]),
        ActionCase(
            name: "cinder.snapshots.create_snapshot",
            input: { cloud in waited(["volume_id": .string(try cloud.newVolume())]) },
            succeeded: { $0["status"] == "available" }, missing: ["volume_id": absent]),
        ActionCase(
            name: "cinder.backups.assert_status",
            input: { cloud in
                let seeded = try cloud.seed(["backups": [["volume_id": .string(SimulatorDefaults.demoVolumeID), "status": "available"]]])
                return ["backup_id": seeded["backups"]?[0]?["id"] ?? .null]
            }, succeeded: isTrue, missing: ["backup_id": absent]),
        ActionCase(
            name: "cinder.backups.create",
            input: { cloud in ["volume_id": .string(try cloud.newVolume()), "backup_name": "matrix"] },
            succeeded: { $0["id"]?.stringValue != nil && $0["incremental"] == false },
            missing: ["volume_id": absent, "backup_name": "matrix"]),
        ActionCase(
            name: "cinder.backups.create_backup",
            input: { cloud in waited(["volume_id": .string(try cloud.newVolume())]) },
            succeeded: { $0["status"] == "available" && $0["chain_length"] == 1 }, missing: ["volume_id": absent]),
        ActionCase(
            name: "cinder.backups.list_chains",
            input: { cloud in
                let volume = try cloud.newVolume()
                _ = try cloud.seed(["backups": [["volume_id": .string(volume), "status": "available"]]])
                return ["volume_id": .string(volume)]
            }, succeeded: { $0["chains"]?.arrayValue?.count == 1 }, missing: ["volume_id": absent]),
        ActionCase(
            name: "glance.images.assert_status",
            input: { _ in ["image_id": .string(SimulatorDefaults.cirrosImageID)] }, succeeded: isTrue,
            missing: ["image_id": absent]),
        ActionCase(
            name: "glance.images.filter_by",
            input: { _ in ["id": .string(SimulatorDefaults.cirrosImageID)] },
            succeeded: { $0.arrayValue?.count == 1 }, missing: nil),
        ActionCase(
            name: "nova.servers.assert_status",
            input: { _ in ["server_id": .string(SimulatorDefaults.demoServerID)] }, succeeded: isTrue,
            missing: ["server_id": absent]),
        ActionCase(
            name: "nova.servers.assert_power_status",
            input: { _ in ["server_id": .string(SimulatorDefaults.demoServerID)] }, succeeded: isTrue,
            missing: ["server_id": absent]),
        ActionCase(
            name: "nova.servers.get_status",
            input: { _ in ["server_id": .string(SimulatorDefaults.stoppedServerID)] }, succeeded: { $0 == "SHUTOFF" },
            missing: ["server_id": absent]),
        ActionCase(
            name: "nova.servers.start",
            input: { _ in waited(["server_id": .string(SimulatorDefaults.stoppedServerID)]) },
            succeeded: { $0["status"] == "ACTIVE" && $0["changed"] == true }, missing: ["server_id": absent]),
        ActionCase(
            name: "nova.servers.stop",
            input: { _ in waited(["server_id": .string(SimulatorDefaults.demoServerID)]) },
            succeeded: { $0["status"] == "SHUTOFF" && $0["changed"] == true }, missing: ["server_id": absent]),
        ActionCase(
            name: "nova.servers.create_image",
            input: { _ in waited(["server_id": .string(SimulatorDefaults.demoServerID), "image_name": "matrix"]) },
            succeeded: { $0["status"] == "active" }, missing: ["server_id": absent, "image_name": "matrix"]),
        ActionCase(
            name: "trove.backups.assert_status",
            input: { cloud in
                let seeded = try cloud.seed([
                    "trove_backups": [["instance_id": .string(SimulatorDefaults.demoDatabaseInstanceID), "status": "COMPLETED"]]
                ])
                return ["backup_id": seeded["trove_backups"]?[0]?["id"] ?? .null]
            }, succeeded: isTrue, missing: ["backup_id": absent]),
        ActionCase(
            name: "trove.backups.create_backup",
            input: { _ in waited(["instance_id": .string(SimulatorDefaults.demoDatabaseInstanceID)]) },
            succeeded: { $0["status"] == "COMPLETED" && $0["incremental"] == false }, missing: ["instance_id": absent]),
    ]
}

@Suite("Every OpenStack action against a misbehaving simulator")
struct FaultMatrixTests {
    @Test("the cases cover every OpenStack action of the catalog")
    func coverage() throws {
        let openStack = try ActionCatalog.registry().descriptors.map(\.name)
            .filter { !$0.hasPrefix("debug.") && !$0.hasPrefix("system.") }
        #expect(Set(ActionCase.all.map(\.name)) == Set(openStack))
        #expect(ActionCase.all.count == openStack.count, "a case is listed twice")
    }

    @Test("429 with Retry-After, then 503, then success", arguments: ActionCase.all)
    func rateLimitThenUnavailable(_ item: ActionCase) async throws {
        let cloud = try await CloudHarness.start()
        defer { Task { await cloud.shutdown() } }
        let input = try item.input(cloud)
        cloud.simulator.clearRequestLog()
        // The action's first request is turned away by a rate limit (which
        // leaves writes undone too), its first read then finds the service
        // unavailable; both are repeated.
        cloud.simulator.setFaults([
            FaultRule(times: 1, status: 429, retryAfter: "1"),
            FaultRule(method: "GET", times: 1, status: 503),
        ])
        let clock = ContinuousClock()
        let started = clock.now
        let result = try await cloud.run(item.name, input)
        #expect(item.succeeded(result), "\(item.name): \(result)")
        #expect(clock.now - started >= .milliseconds(900), "\(item.name): Retry-After: 1 was not honoured")
        let log = cloud.simulator.requestLog()
        #expect(log.first?.status == 429, "\(item.name): \(log.map(\.status))")
        // The same request again, after the wait.
        #expect(log.count >= 2 && log[1].method == log[0].method && log[1].path == log[0].path)
        if log.contains(where: { $0.method == "GET" }) {
            #expect(log.contains { $0.status == 503 }, "\(item.name): \(log.map(\.status))")
        }
    }

    @Test("a missing resource is a 404 and an expired token a 401", arguments: ActionCase.all)
    func notFoundAndUnauthorized(_ item: ActionCase) async throws {
        let cloud = try await CloudHarness.start()
        defer { Task { await cloud.shutdown() } }
        let input = try item.input(cloud)
        if let missing = item.missing {
            let message = try await cloud.failure(item.name, missing)
            #expect(message.contains("404") && message.lowercased().contains("found"), "\(item.name): \(message)")
        }
        _ = cloud.simulator.expireTokens()
        cloud.simulator.clearRequestLog()
        let message = try await cloud.failure(item.name, input)
        #expect(message.contains("401"), "\(item.name): \(message)")
        // One request, refused, and not repeated with the same token.
        #expect(cloud.simulator.requestLog().map(\.status) == [401], "\(item.name)")
    }
}
