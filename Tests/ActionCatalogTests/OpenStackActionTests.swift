import ActionKit
import Logging
import MistralActionsTestSupport
import OpenStackClient
import OpenStackSimulator
import OrderedJSON
import OsloMessaging
import Testing

@testable import ActionCatalog

/// An in-process OpenStack simulator and the worker's OpenStack session,
/// with a request context as Mistral sends it (token + whole token body).
extension JSONObject {
    func merging(_ other: JSONObject) -> JSONObject {
        var result = self
        for (key, value) in other { result.updateValue(value, forKey: key) }
        return result
    }
}

struct CloudHarness {
    let simulator: OpenStackSimulator
    let session: OpenStackSession
    let token: IssuedToken
    let registry: ActionRegistry

    static func start(delay: Double = 0.05, settings: OpenStackSettings? = nil) async throws -> CloudHarness {
        let simulator = try await OpenStackSimulator.start(.testing(delay: delay))
        var logger = Logger(label: "test.openstack")
        logger.logLevel = .warning
        let session = OpenStackSession(
            settings: settings ?? OpenStackSettings(
                requestTimeout: .seconds(10), maxRetries: 3, retryBaseDelay: .milliseconds(20), maxRetryDelay: .seconds(2)),
            logger: logger)
        return CloudHarness(
            simulator: simulator, session: session, token: try simulator.issueToken(), registry: try ActionCatalog.registry())
    }

    func shutdown() async {
        try? await session.shutdown()
        await simulator.shutdown()
    }

    /// The security context Mistral would send for the token.
    func security(region: String? = "RegionOne", catalog: Bool = true, token: IssuedToken? = nil) -> RequestContext {
        let token = token ?? self.token
        var fields: JSONObject = [
            "auth_token": .string(token.id),
            "project_id": .string(simulator.projectID),
            "region_name": region.map(JSON.string) ?? .null,
            "service_catalog": catalog ? token.token : .null,
            "expires_at": .string(token.expiresAt),
        ]
        fields.updateValue(.bool(false), forKey: "is_trust_scoped")
        return RequestContext(fields: fields)
    }

    func context(_ name: String, security: RequestContext? = nil, services: ActionServices? = nil) -> ActionContext {
        var logger = Logger(label: "test.action")
        logger.logLevel = .warning
        var defaultServices = ActionServices()
        defaultServices[OpenStackSessionKey.self] = session
        return ActionContext(
            actionName: "int32bit." + name, security: security ?? self.security(), execution: ExecutionContext(),
            logger: logger, services: services ?? defaultServices)
    }

    /// Runs a catalog action the way the worker does: decoded input, then `run`.
    func run(_ name: String, _ input: JSONObject, security: RequestContext? = nil, services: ActionServices? = nil) async throws -> JSON {
        let descriptor = try #require(registry.descriptor(named: name), "no action \(name)")
        let action = try descriptor.instantiate(input: input)
        return try await action.run(context: context(name, security: security, services: services))
    }

    /// Runs an action that must fail; returns its message.
    func failure(_ name: String, _ input: JSONObject, security: RequestContext? = nil) async throws -> String {
        do {
            let result = try await run(name, input, security: security)
            Issue.record("\(name) succeeded with \(result)")
            return ""
        } catch {
            return String(describing: error)
        }
    }

    func seed(_ resources: JSON) throws -> JSON { try simulator.seed(resources) }

    func newVolume(status: String = "available") throws -> String {
        try #require(seed(["volumes": [["name": "vol", "size": 1, "status": .string(status)]]])["volumes"]?[0]?["id"]?.stringValue)
    }

    func backups(ofVolume volume: String) -> [JSON] {
        (simulator.state()["backups"]?.arrayValue ?? []).filter { $0["volume_id"]?.stringValue == volume }
    }
}

@Suite("OpenStack actions against the simulator")
struct OpenStackActionTests {
    @Test("every assertion: success, wrong status, 404 and an expired token")
    func assertions() async throws {
        let cloud = try await CloudHarness.start()
        defer { Task { await cloud.shutdown() } }
        let volume = SimulatorDefaults.demoVolumeID
        let seeded = try cloud.seed([
            "snapshots": [["volume_id": .string(volume), "status": "available"]],
            "backups": [["volume_id": .string(volume), "status": "available"]],
            "trove_backups": [["instance_id": .string(SimulatorDefaults.demoDatabaseInstanceID), "status": "COMPLETED"]],
        ])
        let snapshot = try #require(seeded["snapshots"]?[0]?["id"]?.stringValue)
        let backup = try #require(seeded["backups"]?[0]?["id"]?.stringValue)
        let databaseBackup = try #require(seeded["trove_backups"]?[0]?["id"]?.stringValue)
        let cases: [(name: String, key: String, id: String, status: String, wrong: String)] = [
            ("cinder.volumes.assert_status", "volume_id", volume, "available", "in-use"),
            ("cinder.snapshots.assert_status", "snapshot_id", snapshot, "available", "creating"),
            ("cinder.backups.assert_status", "backup_id", backup, "available", "restoring"),
            ("trove.backups.assert_status", "backup_id", databaseBackup, "COMPLETED", "BUILDING"),
            ("glance.images.assert_status", "image_id", SimulatorDefaults.cirrosImageID, "active", "queued"),
            ("nova.servers.assert_status", "server_id", SimulatorDefaults.demoServerID, "ACTIVE", "SHUTOFF"),
            ("nova.servers.assert_power_status", "server_id", SimulatorDefaults.demoServerID, "running", "shutdown"),
        ]
        for item in cases {
            #expect(try await cloud.run(item.name, [item.key: .string(item.id), "status": .string(item.status)]) == true)
            let wrong = try await cloud.failure(item.name, [item.key: .string(item.id), "status": .string(item.wrong)])
            #expect(wrong.contains("expected '\(item.wrong)'"), "\(item.name): \(wrong)")
            let missing = try await cloud.failure(item.name, [item.key: "00000000-0000-0000-0000-000000000000"])
            #expect(missing.contains("404"), "\(item.name): \(missing)")
        }
        // Defaults: the original tool's expected statuses.
        #expect(try await cloud.run("cinder.volumes.assert_status", ["volume_id": .string(volume)]) == true)
        #expect(try await cloud.run("nova.servers.get_status", ["server_id": .string(SimulatorDefaults.stoppedServerID)]) == "SHUTOFF")

        cloud.simulator.expireTokens()
        for item in cases {
            let unauthorized = try await cloud.failure(item.name, [item.key: .string(item.id)])
            #expect(unauthorized.contains("401"), "\(item.name): \(unauthorized)")
        }
    }

    @Test("snapshot, backup and database backup assertions wait until the status is reached")
    func waitingAssertions() async throws {
        // Transitions take a simulated minute; the test moves the clock, so
        // nothing depends on how fast this machine is.
        let cloud = try await CloudHarness.start(delay: 60)
        defer { Task { await cloud.shutdown() } }
        let volume = try cloud.newVolume()

        /// Starts a waiting assertion, lets it check at least once (its GET
        /// shows in the simulator's log), then completes the transition.
        func waitWhileTheClockMoves(_ name: String, _ input: JSONObject) async throws -> JSON {
            let checksBefore = cloud.simulator.requestLog().filter { $0.method == "GET" }.count
            async let waited = cloud.run(name, input.merging(["wait_timeout": 120, "interval": 0.05]))
            // The simulator announces no request: poll its log.
            try await eventually("the assertion checks once", every: .milliseconds(10)) {
                cloud.simulator.requestLog().filter({ $0.method == "GET" }).count > checksBefore
            }
            cloud.simulator.advanceClock(by: 61)
            return try await waited
        }

        let snapshot = try await cloud.run("cinder.snapshots.create_snapshot", ["volume_id": .string(volume)])
        let snapshotID = try #require(snapshot["id"]?.stringValue)
        #expect(snapshot["status"] == "creating")
        // One check fails while it is still creating; a wait succeeds.
        let early = try await cloud.failure("cinder.snapshots.assert_status", ["snapshot_id": .string(snapshotID)])
        #expect(early.contains("'creating'"), "\(early)")
        #expect(try await waitWhileTheClockMoves("cinder.snapshots.assert_status", ["snapshot_id": .string(snapshotID)]) == true)

        let backup = try await cloud.run("cinder.backups.create", ["volume_id": .string(volume), "backup_name": "b"])
        let backupID = try #require(backup["id"]?.stringValue)
        #expect(try await waitWhileTheClockMoves("cinder.backups.assert_status", ["backup_id": .string(backupID)]) == true)
        // A wait that cannot succeed ends at its timeout with what it saw.
        let timedOut = try await cloud.failure(
            "cinder.backups.assert_status",
            ["backup_id": .string(backupID), "status": "restoring", "wait_timeout": 0.3, "interval": 0.05])
        #expect(timedOut.contains("after waiting 0.3 s"), "\(timedOut)")

        let database = try await cloud.run(
            "trove.backups.create_backup", ["instance_id": .string(SimulatorDefaults.demoDatabaseInstanceID)])
        let databaseBackup = try #require(database["id"]?.stringValue)
        #expect(try await waitWhileTheClockMoves("trove.backups.assert_status", ["backup_id": .string(databaseBackup)]) == true)
    }

    @Test("a failed backup ends the wait at once with Cinder's fail_reason")
    func terminalStatusEndsTheWait() async throws {
        let cloud = try await CloudHarness.start()
        defer { Task { await cloud.shutdown() } }
        let volume = try cloud.newVolume()
        cloud.simulator.updateSettings { $0.failures.volumeBackup = 1 }
        let failed = try await cloud.failure(
            "cinder.backups.create_backup", ["volume_id": .string(volume), "wait_timeout": 30, "interval": 0.05])
        #expect(failed.contains("status is 'error'") && failed.contains("cannot get there by itself"), "\(failed)")
    }

    @Test("chain-aware Cinder backups: full, incrementals up to max_chain_length, full again; Cinder's parents match")
    func chainAwareCinderBackups() async throws {
        let cloud = try await CloudHarness.start()
        defer { Task { await cloud.shutdown() } }
        let volume = try cloud.newVolume()
        var results: [JSON] = []
        for _ in 0..<5 {
            results.append(try await cloud.run(
                "cinder.backups.create_backup",
                ["volume_id": .string(volume), "max_chain_length": 3, "wait_timeout": 60, "interval": 0.05]))
        }
        #expect(results.map { $0["incremental"] } == [false, true, true, false, true])
        #expect(results.map { $0["chain_length"] } == [1, 2, 3, 1, 2])
        // The parent the action expected is the one Cinder (simulated) chose.
        let held = cloud.backups(ofVolume: volume)
        for result in results where result["incremental"] == true {
            let backup = held.first { $0["id"] == result["id"] }
            #expect(backup?["parent_id"] == result["parent_id"])
        }
        let chains = try await cloud.run("cinder.backups.list_chains", ["volume_id": .string(volume)])
        #expect(chains["chains"]?.arrayValue?.map { $0["length"] } == [3, 2])
        #expect(chains["current_chain_length"] == 2)

        // The configured default applies when the input leaves it out.
        var services = ActionServices()
        services[OpenStackSessionKey.self] = cloud.session
        services[BackupSettingsKey.self] = BackupSettings(maxChainLength: 2)
        let next = try await cloud.run(
            "cinder.backups.create_backup", ["volume_id": .string(volume), "wait_timeout": 60, "interval": 0.05], services: services)
        #expect(next["incremental"] == false)
        #expect(next["max_chain_length"] == 2)
    }

    @Test("keep_chains deletes older chains newest backup first and keeps the newest")
    func pruning() async throws {
        let cloud = try await CloudHarness.start()
        defer { Task { await cloud.shutdown() } }
        let volume = try cloud.newVolume()
        var results: [JSON] = []
        for _ in 0..<5 {
            results.append(try await cloud.run(
                "cinder.backups.create_backup",
                ["volume_id": .string(volume), "max_chain_length": 2, "keep_chains": 1, "wait_timeout": 60, "interval": 0.05]))
        }
        // Runs 3 and 5 start new chains: each deletes the chain before it, child first.
        #expect(results[2]["deleted_backups"] == [results[1]["id"] ?? .null, results[0]["id"] ?? .null])
        #expect(results[4]["deleted_backups"] == [results[3]["id"] ?? .null, results[2]["id"] ?? .null])
        #expect(cloud.backups(ofVolume: volume).compactMap { $0["id"] } == [results[4]["id"]].compactMap { $0 })
        let needsWait = try await cloud.failure("cinder.backups.create_backup", ["volume_id": .string(volume), "keep_chains": 1])
        #expect(needsWait.contains("keep_chains needs wait_timeout"))
    }

    @Test("a volume that cannot be backed up gets a clear error before any backup request")
    func notBackupable() async throws {
        // A backup takes a simulated minute: the second request finds the first running.
        let cloud = try await CloudHarness.start(delay: 60)
        defer { Task { await cloud.shutdown() } }
        let broken = try cloud.newVolume(status: "error")
        let message = try await cloud.failure("cinder.backups.create_backup", ["volume_id": .string(broken)])
        #expect(message.contains("cannot be backed up now: its status is 'error'"), "\(message)")
        #expect(!cloud.simulator.requestLog().contains { $0.method == "POST" })
        // An in-use volume is backed up (force).
        let inUse = try await cloud.run("cinder.backups.create_backup", ["volume_id": .string(SimulatorDefaults.inUseVolumeID)])
        #expect(inUse["incremental"] == false)
        // A second backup while the first runs: the volume is backing-up.
        let busy = try await cloud.failure("cinder.backups.create_backup", ["volume_id": .string(SimulatorDefaults.inUseVolumeID)])
        #expect(busy.contains("backing-up") || busy.contains("already being created"), "\(busy)")
    }

    @Test("cinder.backups.create falls back to a full backup when there is nothing to build on")
    func plainCreate() async throws {
        let cloud = try await CloudHarness.start()
        defer { Task { await cloud.shutdown() } }
        let volume = try cloud.newVolume()
        let first = try await cloud.run(
            "cinder.backups.create", ["volume_id": .string(volume), "backup_name": "one", "description": "d"])
        #expect(first["incremental"] == false)
        #expect(first["name"] == "one")
        // Cinder rejected the incremental request (400) before the full one.
        let posts = cloud.simulator.requestLog().filter { $0.method == "POST" }
        #expect(posts.map(\.status) == [400, 202])
        #expect(posts.last?.body?["backup"]?["incremental"] == false)
        #expect(posts.last?.body?["backup"]?["description"] == "d")
        #expect(posts.last?.body?["backup"]?["parent_id"] == nil)
    }

    @Test("reads are retried after 503s and after a 429 with Retry-After; writes are not retried")
    func retries() async throws {
        let cloud = try await CloudHarness.start()
        defer { Task { await cloud.shutdown() } }
        let volume = SimulatorDefaults.demoVolumeID
        cloud.simulator.setFaults([FaultRule(method: "GET", path: "/volumes/.*", times: 2, status: 503)])
        #expect(try await cloud.run("cinder.volumes.assert_status", ["volume_id": .string(volume)]) == true)
        #expect(cloud.simulator.requestLog().filter { $0.method == "GET" }.map(\.status) == [503, 503, 200])

        cloud.simulator.clearRequestLog()
        cloud.simulator.setFaults([FaultRule(method: "GET", path: "/volumes/.*", times: 1, status: 429, retryAfter: "1")])
        let clock = ContinuousClock()
        let started = clock.now
        #expect(try await cloud.run("cinder.volumes.assert_status", ["volume_id": .string(volume)]) == true)
        #expect(clock.now - started >= .milliseconds(900), "Retry-After: 1 was not honoured")
        #expect(cloud.simulator.requestLog().map(\.status) == [429, 200])

        cloud.simulator.clearRequestLog()
        cloud.simulator.setFaults([FaultRule(method: "POST", path: "/snapshots", times: 1, status: 503)])
        let message = try await cloud.failure("cinder.snapshots.create_snapshot", ["volume_id": .string(volume)])
        #expect(message.contains("503"), "\(message)")
        #expect(cloud.simulator.requestLog().filter { $0.method == "POST" }.count == 1)
    }

    @Test("endpoints: the request's region, action_region over it, the public interface and the token header")
    func endpointSelection() async throws {
        let cloud = try await CloudHarness.start()
        defer { Task { await cloud.shutdown() } }
        let volume = SimulatorDefaults.demoVolumeID
        _ = try await cloud.run("cinder.volumes.assert_status", ["volume_id": .string(volume)], security: cloud.security(region: "RegionTwo"))
        _ = try await cloud.run(
            "cinder.volumes.assert_status", ["volume_id": .string(volume), "action_region": "RegionOne"],
            security: cloud.security(region: "RegionTwo"))
        let log = cloud.simulator.requestLog()
        #expect(log.map(\.region) == ["RegionTwo", "RegionOne"])
        #expect(log.allSatisfy { $0.interface == "public" })
        #expect(log.allSatisfy { $0.headers.first { $0.key.lowercased() == "x-auth-token" }?.value == cloud.token.id })
        let unknown = try await cloud.failure(
            "cinder.volumes.assert_status", ["volume_id": .string(volume), "action_region": "RegionNine"])
        #expect(unknown.contains("RegionNine"), "\(unknown)")
    }

    @Test("a request without a catalog or without a token uses the service credentials")
    func serviceCredentials() async throws {
        let cloud = try await CloudHarness.start()
        defer { Task { await cloud.shutdown() } }
        var logger = Logger(label: "test.service-credentials")
        logger.logLevel = .warning
        let session = OpenStackSession(
            settings: OpenStackSettings(serviceCredentials: ServiceCredentials(
                authURL: cloud.simulator.authURL, username: "admin", password: "secret", projectName: "demo")),
            logger: logger)
        defer { Task { try? await session.shutdown() } }
        var services = ActionServices()
        services[OpenStackSessionKey.self] = session
        let volume = SimulatorDefaults.demoVolumeID
        // Trust-scoped style: a token but no catalog.
        #expect(try await cloud.run(
            "cinder.volumes.assert_status", ["volume_id": .string(volume)], security: cloud.security(catalog: false),
            services: services) == true)
        // Mistral without Keystone: no token at all.
        #expect(try await cloud.run(
            "cinder.volumes.assert_status", ["volume_id": .string(volume)], security: RequestContext(), services: services) == true)
        // Without service credentials the same request fails clearly.
        let refused = try await cloud.failure("cinder.volumes.assert_status", ["volume_id": .string(volume)], security: RequestContext())
        #expect(refused.contains("no Keystone token"), "\(refused)")
    }

    @Test("nova: stop, start (idempotent) and create_image with their waits")
    func serverActions() async throws {
        let cloud = try await CloudHarness.start()
        defer { Task { await cloud.shutdown() } }
        let server = SimulatorDefaults.demoServerID
        let stopped = try await cloud.run("nova.servers.stop", ["server_id": .string(server), "wait_timeout": 60, "interval": 0.05])
        #expect(stopped["changed"] == true)
        #expect(stopped["status"] == "SHUTOFF")
        #expect(try await cloud.run("nova.servers.assert_power_status", ["server_id": .string(server), "status": "shutdown"]) == true)
        let again = try await cloud.run("nova.servers.stop", ["server_id": .string(server)])
        #expect(again["changed"] == false)
        let started = try await cloud.run("nova.servers.start", ["server_id": .string(server), "wait_timeout": 60, "interval": 0.05])
        #expect(started["status"] == "ACTIVE")
        let image = try await cloud.run(
            "nova.servers.create_image",
            ["server_id": .string(server), "image_name": "snap", "metadata": ["purpose": "test"], "wait_timeout": 60, "interval": 0.05])
        let imageID = try #require(image["image_id"]?.stringValue)
        #expect(image["status"] == "active")
        let found = try await cloud.run("glance.images.filter_by", ["instance_uuid": .string(server), "image_type": "snapshot"])
        #expect(found.arrayValue?.compactMap { $0["id"]?.stringValue } == [imageID])
        let badPower = try await cloud.failure("nova.servers.assert_power_status", ["server_id": .string(server), "status": "on"])
        #expect(badPower.contains("must be a power state"))
    }

    @Test("glance.images.filter_by: server-side filters, every page, colons, no match")
    func imageFilters() async throws {
        let cloud = try await CloudHarness.start()
        defer { Task { await cloud.shutdown() } }
        let many: [JSON] = (0..<1005).map { ["name": .string("bulk-\($0)"), "status": "active", "tags": ["bulk"]] }
        _ = try cloud.seed(["images": .array(many + [["name": "ubuntu:22.04", "status": "active", "disk_format": "raw"]])])
        let bulk = try await cloud.run("glance.images.filter_by", ["tag": "bulk"])
        #expect(bulk.arrayValue?.count == 1005)
        #expect(cloud.simulator.requestLog().count >= 2, "a second page was not requested")
        let colon = try await cloud.run("glance.images.filter_by", ["name": "ubuntu:22.04"])
        #expect(colon.arrayValue?.first?["disk_format"] == "raw")
        // As Mistral sends it: the registered stub's `kwargs` attribute.
        let wrapped = try await cloud.run("glance.images.filter_by", ["kwargs": ["name": "ubuntu:22.04"], "wait_timeout": 0])
        #expect(wrapped.arrayValue?.count == 1)
        let none = try await cloud.failure("glance.images.filter_by", ["name": "nothing-like-this"])
        #expect(none.contains("no image matches name=nothing-like-this"), "\(none)")
        let descriptor = try #require(cloud.registry.descriptor(named: "glance.images.filter_by"))
        #expect(descriptor.inputString.hasSuffix("**kwargs"))
    }

    @Test("chain-aware Trove backups pass parent_id and incremental as 0/1")
    func troveChains() async throws {
        let cloud = try await CloudHarness.start()
        defer { Task { await cloud.shutdown() } }
        let instance = SimulatorDefaults.demoDatabaseInstanceID
        var results: [JSON] = []
        for _ in 0..<3 {
            results.append(try await cloud.run(
                "trove.backups.create_backup",
                ["instance_id": .string(instance), "max_chain_length": 2, "wait_timeout": 60, "interval": 0.05]))
        }
        #expect(results.map { $0["incremental"] } == [false, true, false])
        #expect(results[1]["parent_id"] == results[0]["id"])
        let posts = cloud.simulator.requestLog().filter { $0.method == "POST" }
        #expect(posts.compactMap { $0.body?["backup"]?["incremental"] } == [0, 1, 0])
    }

    @Test("without OpenStack set up, actions say so")
    func noSession() async throws {
        let cloud = try await CloudHarness.start()
        defer { Task { await cloud.shutdown() } }
        let message = await {
            do {
                _ = try await cloud.run("nova.servers.get_status", ["server_id": "x"], services: ActionServices())
                return ""
            } catch { return String(describing: error) }
        }()
        #expect(message.contains("OpenStack access is not set up"))
    }
}
