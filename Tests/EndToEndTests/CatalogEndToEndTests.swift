import Foundation
import OrderedJSON
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The control API of the OpenStack simulator (scripts/simulator.sh).
struct Simulator {
    let base = TestEnvironment.simulatorURL

    func request(_ method: String, _ path: String, body: JSON? = nil) async throws -> JSON {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = method
        if let body {
            request.httpBody = Data(body.description.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else {
            throw TestFailure("simulator \(method) \(path): \(status) \(String(decoding: data, as: UTF8.self))")
        }
        return data.isEmpty ? .null : try JSON(parsing: data)
    }

    /// Adds resources; returns what was created (with ids).
    func seed(_ resources: JSON) async throws -> JSON {
        try await request("POST", "/_simulator/seed", body: resources)
    }

    func state() async throws -> JSON {
        try await request("GET", "/_simulator/state")
    }

    /// The backups of a volume as the simulator holds them (with `parent_id`,
    /// which Cinder never shows).
    func volumeBackups(_ volumeID: String) async throws -> [JSON] {
        let all = try await state()["backups"]?.arrayValue ?? []
        return all.filter { $0["volume_id"]?.stringValue == volumeID }
    }
}

/// The example workflows of examples/, run by real Mistral 23 through the
/// worker against the OpenStack simulator. Nested in the serialized
/// end-to-end suite: workers compete on Mistral's one executor topic.
extension ExecutorEndToEndTests {
    @Suite("catalog and examples against the OpenStack simulator")
    struct CatalogExamples {
        let mistral = MistralAPI()
        let simulator = Simulator()

        static let examples = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("examples")

        func example(_ name: String) throws -> String {
            try String(contentsOf: Self.examples.appendingPathComponent(name), encoding: .utf8)
        }

        /// A new volume (so each test starts without backups).
        func newVolume(_ name: String, status: String = "available") async throws -> String {
            let created = try await simulator.seed(["volumes": [["name": .string(name), "size": 1, "status": .string(status)]]])
            return try #require(created["volumes"]?[0]?["id"]?.stringValue)
        }

        func newServer(_ name: String, vmState: String) async throws -> String {
            let created = try await simulator.seed(["servers": [["name": .string(name), "vm_state": .string(vmState)]]])
            return try #require(created["servers"]?[0]?["id"]?.stringValue)
        }

        func run(_ workflow: String, _ input: JSON, timeout: TimeInterval = 90) async throws -> MistralAPI.Execution {
            let id = try await mistral.startExecution(workflow, input: input)
            let execution = try await mistral.waitForExecution(id, timeout: timeout)
            if execution.state != "SUCCESS" {
                let tasks = try await mistral.tasks(of: id)
                Issue.record("\(workflow): \(execution.state) \(execution.stateInfo ?? "") tasks: \(tasks.map { "\($0.name)=\($0.state) \($0.stateInfo ?? "")" })")
            }
            return execution
        }

        @Test("stop_server and start_server: the server really goes SHUTOFF, then ACTIVE")
        func stopAndStartServer() async throws {
            let worker = try await WorkerProcess.start()
            defer { worker.kill() }
            try await mistral.putWorkflow(try example("stop_server.yaml"))
            try await mistral.putWorkflow(try example("start_server.yaml"))
            let server = try await newServer("e2e-power", vmState: "active")

            let stopped = try await run("stop_server", ["server_id": .string(server), "wait_timeout": 30])
            #expect(stopped.state == "SUCCESS")
            #expect(stopped.output["changed"] == true)
            let afterStop = try await simulator.state()["servers"]?.arrayValue?.first { $0["id"]?.stringValue == server }
            #expect(afterStop?["OS-EXT-STS:vm_state"] == "stopped" || afterStop?["vm_state"] == "stopped")

            let started = try await run("start_server", ["server_id": .string(server), "wait_timeout": 30])
            #expect(started.state == "SUCCESS")
            #expect(started.output["changed"] == true)
            // Starting a running server succeeds without a change.
            let again = try await run("start_server", ["server_id": .string(server), "wait_timeout": 30])
            #expect(again.state == "SUCCESS")
            #expect(again.output["changed"] == false)
            #expect(try await worker.terminate() == 0)
        }

        @Test("create_image: Nova snapshots the server and the Glance image becomes active")
        func createImage() async throws {
            let worker = try await WorkerProcess.start()
            defer { worker.kill() }
            try await mistral.putWorkflow(try example("create_image.yaml"))
            let server = try await newServer("e2e-image", vmState: "active")
            let name = "e2e-image-\(UUID().uuidString.prefix(8))"
            let execution = try await run("create_image", ["server_id": .string(server), "image_name": .string(name), "wait_timeout": 30])
            #expect(execution.state == "SUCCESS")
            #expect(execution.output["image_name"]?.stringValue == name)
            #expect(execution.output["image_status"] == "active")
            let images = try await simulator.state()["images"]?.arrayValue ?? []
            let image = images.first { $0["name"]?.stringValue == name }
            #expect(image?["properties"]?["instance_uuid"]?.stringValue == server)
            #expect(image?["properties"]?["image_type"] == "snapshot")
            #expect(try await worker.terminate() == 0)
        }

        @Test("create_volume_backup and create_volume_snapshot run to SUCCESS; the second backup is incremental")
        func backupAndSnapshot() async throws {
            let worker = try await WorkerProcess.start()
            defer { worker.kill() }
            try await mistral.putWorkflow(try example("create_volume_backup.yaml"))
            try await mistral.putWorkflow(try example("create_snapshot.yaml"))
            let volume = try await newVolume("e2e-backup")

            let first = try await run("create_volume_backup", ["volume_id": .string(volume), "backup_name": "first", "wait_timeout": 30])
            #expect(first.state == "SUCCESS")
            // No backup to build on yet: a full one instead of Cinder's 400.
            #expect(first.output["incremental"] == false)
            let second = try await run("create_volume_backup", ["volume_id": .string(volume), "backup_name": "second", "wait_timeout": 30])
            #expect(second.state == "SUCCESS")
            #expect(second.output["incremental"] == true)
            let backups = try await simulator.volumeBackups(volume)
            let secondBackup = backups.first { $0["name"] == "second" }
            #expect(secondBackup?["parent_id"] == first.output["backup_id"])

            let snapshot = try await run("create_volume_snapshot", ["volume_id": .string(volume), "wait_timeout": 30])
            #expect(snapshot.state == "SUCCESS")
            let snapshots = try await simulator.state()["snapshots"]?.arrayValue ?? []
            let made = snapshots.first { $0["id"] == snapshot.output["snapshot_id"] }
            #expect(made?["status"] == "available")
            #expect(made?["volume_id"]?.stringValue == volume)
            #expect(try await worker.terminate() == 0)
        }

        @Test("scheduled_volume_backup builds chains of max_chain_length and prunes old chains newest-first")
        func chainAwareVolumeBackups() async throws {
            let worker = try await WorkerProcess.start()
            defer { worker.kill() }
            try await mistral.putWorkflow(try example("scheduled_volume_backup.yaml"))
            let volume = try await newVolume("e2e-chain")
            let input: JSON = ["volume_id": .string(volume), "max_chain_length": 2, "keep_chains": 1, "wait_timeout": 30]
            var runs: [JSON] = []
            for _ in 0..<4 {
                let execution = try await run("scheduled_volume_backup", input)
                #expect(execution.state == "SUCCESS")
                runs.append(execution.output)
            }
            #expect(runs.map { $0["incremental"] } == [false, true, false, true])
            #expect(runs.map { $0["chain_length"] } == [1, 2, 1, 2])
            // The third run started a new chain, so the first chain (run 1
            // and 2) was deleted, the incremental first.
            #expect(runs[2]["deleted_backups"] == [runs[1]["backup_id"] ?? .null, runs[0]["backup_id"] ?? .null])
            let remaining = try await simulator.volumeBackups(volume)
            #expect(Set(remaining.compactMap { $0["id"]?.stringValue }) == Set([runs[2], runs[3]].compactMap { $0["backup_id"]?.stringValue }))
            let newest = remaining.first { $0["id"] == runs[3]["backup_id"] }
            #expect(newest?["parent_id"] == runs[2]["backup_id"])
            let chains = try #require(runs[3]["chains"]?.arrayValue)
            #expect(chains.count == 1)
            #expect(chains.first?["length"] == 2)
            #expect(try await worker.terminate() == 0)
        }

        @Test("scheduled_database_backup: a full Trove backup, then an incremental one on it")
        func chainAwareDatabaseBackups() async throws {
            let worker = try await WorkerProcess.start()
            defer { worker.kill() }
            try await mistral.putWorkflow(try example("scheduled_database_backup.yaml"))
            let created = try await simulator.seed(["trove_instances": [["name": "e2e-db", "status": "ACTIVE"]]])
            let instance = try #require(created["trove_instances"]?[0]?["id"]?.stringValue)
            let input: JSON = ["instance_id": .string(instance), "max_chain_length": 3, "wait_timeout": 30]
            let first = try await run("scheduled_database_backup", input)
            let second = try await run("scheduled_database_backup", input)
            #expect(first.state == "SUCCESS" && second.state == "SUCCESS")
            #expect(first.output["incremental"] == false)
            #expect(first.output["parent_id"] == .null)
            #expect(second.output["incremental"] == true)
            #expect(second.output["parent_id"] == first.output["backup_id"])
            #expect(second.output["chain_length"] == 2)
            #expect(try await worker.terminate() == 0)
        }

        @Test("a cron trigger runs the scheduled backup workflow on its own")
        func cronTrigger() async throws {
            let worker = try await WorkerProcess.start()
            defer { worker.kill() }
            try await mistral.putWorkflow(try example("scheduled_volume_backup.yaml"))
            let volume = try await newVolume("e2e-cron")
            let name = "e2e-cron-\(UUID().uuidString.prefix(8))"
            let body: JSON = [
                "name": .string(name), "workflow_name": "scheduled_volume_backup",
                "workflow_input": .string((["volume_id": .string(volume), "wait_timeout": 30] as JSON).description),
                "pattern": "* * * * *", "remaining_executions": 1,
            ]
            let (status, created) = try await mistral.request("POST", "/cron_triggers", body: Data(body.description.utf8))
            #expect(status == 201, "\(created)")
            // The trigger fires at the next minute boundary.
            var backups: [JSON] = []
            try? await eventually("a backup of \(volume)", limit: .seconds(100), every: .seconds(1)) {
                backups = try await simulator.volumeBackups(volume).filter { $0["status"] == "available" }
                return !backups.isEmpty
            }
            // With one execution left, Mistral deletes the trigger itself; this is for a failed run.
            _ = try? await mistral.request("DELETE", "/cron_triggers/\(name)")
            #expect(backups.count == 1, "the cron trigger made no backup of \(volume) within 100 s")
            #expect(try await worker.terminate() == 0)
        }

        @Test("an assertion that does not hold fails its task with the status it saw")
        func failingAssertion() async throws {
            let worker = try await WorkerProcess.start()
            defer { worker.kill() }
            let volume = try await newVolume("e2e-assert")
            let (state, failure, _) = try await mistral.runAction(
                "int32bit.cinder.volumes.assert_status", input: ["volume_id": .string(volume), "status": "in-use"],
                params: ["run_sync": true])
            #expect(state == "ERROR")
            let message = failure["result"]?.stringValue ?? ""
            #expect(message.contains("volume \(volume) status is 'available', expected 'in-use'"), "\(failure)")
            let (okState, output, _) = try await mistral.runAction(
                "int32bit.cinder.volumes.assert_status", input: ["volume_id": .string(volume)], params: ["run_sync": true])
            #expect(okState == "SUCCESS")
            #expect(output["result"] == true)
            let (missingState, missingOutput, _) = try await mistral.runAction(
                "int32bit.nova.servers.get_status", input: ["server_id": "no-such-server"], params: ["run_sync": true])
            #expect(missingState == "ERROR")
            let missing = missingOutput["result"]?.stringValue ?? ""
            #expect(missing.contains("404") && missing.contains("could not be found"), "\(missingOutput)")
            #expect(try await worker.terminate() == 0)
        }
    }
}
