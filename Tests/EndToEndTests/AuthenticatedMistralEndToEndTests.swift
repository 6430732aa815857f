import Foundation
import OrderedJSON
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The Mistral with Keystone authentication on (`scripts/mistral.sh start-auth`,
/// `eval "$(scripts/mistral.sh env-auth)"`): its own API, database, exchange and topics;
/// keystonemiddleware, trusts and trust-scoped tokens against the OpenStack simulator.
enum AuthMistral {
    static var url: String? { TestEnvironment.variables["MA_TEST_AUTH_MISTRAL_URL"] }
    static var configuration: String? { TestEnvironment.variables["MA_TEST_AUTH_MISTRAL_CONFIG"] }
    static var fallbackTopic: String {
        TestEnvironment.variables["MA_TEST_AUTH_MISTRAL_FALLBACK_TOPIC"] ?? "mistral_auth_executor_python"
    }
    static var isConfigured: Bool { url != nil && configuration != nil }
}

/// A Keystone user as the tests act: a token from the simulator's Keystone.
struct KeystoneUser {
    let token: String
    let userID: String

    /// `POST /v3/auth/tokens` with the user's password, scoped to `project`.
    static func login(_ name: String, password: String, project: String) async throws -> KeystoneUser {
        let body: JSON = [
            "auth": [
                "identity": [
                    "methods": ["password"],
                    "password": ["user": ["name": .string(name), "domain": ["name": "Default"], "password": .string(password)]],
                ],
                "scope": ["project": ["name": .string(project), "domain": ["name": "Default"]]],
            ]
        ]
        var request = URLRequest(url: URL(string: TestEnvironment.simulatorURL + "/identity/v3/auth/tokens")!)
        request.httpMethod = "POST"
        request.httpBody = Data(body.description.utf8)
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        let (data, response) = try await URLSession.shared.data(for: request)
        guard let http = response as? HTTPURLResponse, http.statusCode == 201,
            let token = http.value(forHTTPHeaderField: "X-Subject-Token")
        else { throw TestFailure("Keystone refused \(name): \(String(decoding: data, as: UTF8.self))") }
        let json = try JSON(parsing: data)
        return KeystoneUser(token: token, userID: json["token"]?["user"]?["id"]?.stringValue ?? "")
    }
}

/// Mistral's REST API with a user's token (`X-Auth-Token`), as a client of a Mistral with Keystone on.
struct AuthenticatedMistralAPI {
    let base: String
    let token: String?

    func request(_ method: String, _ path: String, body: Data? = nil, contentType: String = "application/json") async throws
        -> (Int, JSON)
    {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = method
        request.httpBody = body
        request.setValue(contentType, forHTTPHeaderField: "Content-Type")
        if let token { request.setValue(token, forHTTPHeaderField: "X-Auth-Token") }
        request.timeoutInterval = 90
        let (data, response) = try await URLSession.shared.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        let json = data.isEmpty ? JSON.null : ((try? JSON(parsing: data)) ?? .string(String(decoding: data, as: UTF8.self)))
        return (status, json)
    }

    func putWorkflow(_ yaml: String) async throws {
        let (status, body) = try await request("POST", "/workflows", body: Data(yaml.utf8), contentType: "text/plain")
        if status == 409 {
            let (updated, updateBody) = try await request("PUT", "/workflows", body: Data(yaml.utf8), contentType: "text/plain")
            guard updated == 200 else { throw TestFailure("PUT /workflows: \(updated) \(updateBody)") }
        } else if status != 201 {
            throw TestFailure("POST /workflows: \(status) \(body)")
        }
    }

    /// POST /v2/action_executions with run_sync; returns (state, output).
    func runAction(_ name: String, input: JSON) async throws -> (String, JSON) {
        let body: JSON = [
            "name": .string(name), "input": .string(input.description), "params": .string((["run_sync": true] as JSON).description),
        ]
        let (status, json) = try await request("POST", "/action_executions", body: Data(body.description.utf8))
        guard status == 201 else { throw TestFailure("POST /action_executions: \(status) \(json)") }
        let output = try json["output"]?.stringValue.map { try JSON(parsing: $0) } ?? .null
        return (json["state"]?.stringValue ?? "", output)
    }

    func startExecution(_ workflow: String, input: JSON) async throws -> String {
        let body: JSON = ["workflow_name": .string(workflow), "input": .string(input.description)]
        let (status, json) = try await request("POST", "/executions", body: Data(body.description.utf8))
        guard status == 201, let id = json["id"]?.stringValue else { throw TestFailure("POST /executions: \(status) \(json)") }
        return id
    }

    /// Waits until the execution leaves RUNNING; returns (state, state_info, output).
    func waitForExecution(_ id: String, timeout: TimeInterval = 90) async throws -> (String, String?, JSON) {
        var result: (String, String?, JSON)?
        try await eventually("execution \(id) ends", limit: .seconds(timeout), every: .milliseconds(300)) {
            let (_, json) = try await request("GET", "/executions/\(id)")
            let state = json["state"]?.stringValue ?? ""
            guard state != "RUNNING" && state != "IDLE" && !state.isEmpty else { return false }
            let output = try json["output"]?.stringValue.map { try JSON(parsing: $0) } ?? .null
            result = (state, json["state_info"]?.stringValue, output)
            return true
        }
        guard let result else { throw TestFailure("execution \(id): no state") }
        return result
    }
}

/// A `mistral-actions worker` pointed at the authenticated Mistral's own `mistral.conf`
/// (its exchange, topics, database and `[keystone_authtoken]` of the `mistral` user), at debug level.
final class AuthWorkerProcess: @unchecked Sendable {
    // @unchecked: started, read and stopped from one test task.
    let process = Process()
    let exit: ProcessExit
    let logURL: URL

    init() throws {
        exit = ProcessExit(of: process)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ma-e2e-auth-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let extra = directory.appendingPathComponent("worker.conf")
        logURL = directory.appendingPathComponent("worker.log")
        try """
            [mistral_actions]
            fallback_topic = \(AuthMistral.fallbackTopic)
            log_level = debug
            shutdown_grace_period = 20s
            # Other suites' workers run at the same time: no shared status port.
            http_listen = off
            """.write(to: extra, atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: TestEnvironment.binary)
        process.arguments = ["worker", "--config-file", AuthMistral.configuration ?? "", "--config-file", extra.path]
        let log = try FileHandle(forWritingTo: logURL)
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    static func start() async throws -> AuthWorkerProcess {
        let worker = try AuthWorkerProcess()
        try await eventually("the worker consumes", limit: .seconds(180), every: .milliseconds(100)) {
            if worker.log.contains("worker consuming") { return true }
            if let status = worker.exit.status { throw TestFailure("worker exited (\(status)):\n\(worker.log)") }
            return false
        }
        return worker
    }

    var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    /// The `openstack.credential_source` of each "OpenStack request" line whose path contains `text`.
    func credentialSources(forPathsContaining text: String) -> [String] {
        log.split(separator: "\n").filter { $0.contains("OpenStack request") && $0.contains(text) }.map { line in
            guard let range = line.range(of: "openstack.credential_source=") else { return "none" }
            return String(line[range.upperBound...].prefix { $0 != " " })
        }
    }

    /// Whether each such line says `openstack.trust_scoped=true`.
    func trustScoped(forPathsContaining text: String) -> [Bool] {
        log.split(separator: "\n").filter { $0.contains("OpenStack request") && $0.contains(text) }.map {
            $0.contains("openstack.trust_scoped=true")
        }
    }

    func terminate() async throws -> Int32 {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGTERM) }
        return try await exit.wait(limit: .seconds(40), "the worker to stop")
    }

    func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
    }

    deinit { kill() }
}

/// Real Mistral 23 with Keystone authentication on, the worker, and the simulator's
/// Keystone: each action acts with the credentials Mistral hands over, which the
/// simulator's request log (`credentials` of each request) proves call by call.
@Suite(
    "Mistral with Keystone authentication end to end", .serialized,
    .enabled(
        if: AuthMistral.isConfigured,
        "no authenticated Mistral: run scripts/mistral.sh start-auth and eval \"$(scripts/mistral.sh env-auth)\""))
struct AuthenticatedMistralEndToEndTests {
    let simulator = Simulator()

    static let examples = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("examples")

    func example(_ name: String) throws -> String {
        try String(contentsOf: Self.examples.appendingPathComponent(name), encoding: .utf8)
    }

    func api(_ user: KeystoneUser?) -> AuthenticatedMistralAPI {
        AuthenticatedMistralAPI(base: AuthMistral.url ?? "", token: user?.token)
    }

    static func admin() async throws -> KeystoneUser {
        try await KeystoneUser.login("admin", password: "secret", project: "demo")
    }

    func newVolume(_ name: String) async throws -> String {
        let created = try await simulator.seed(["volumes": [["name": .string(name), "size": 1, "status": "available"]]])
        return try #require(created["volumes"]?[0]?["id"]?.stringValue)
    }

    /// The simulator's log entries of Cinder requests whose path or body contains `text`
    /// (the backup's `POST /backups` names its volume in the body only).
    func cinderRequests(containing text: String) async throws -> [JSON] {
        let log = try await simulator.request("GET", "/_simulator/requests").arrayValue ?? []
        return log.filter { entry in
            guard entry["service"] == "block-storage" else { return false }
            if entry["path"]?.stringValue?.contains(text) == true { return true }
            guard let body = entry["body"], !body.isNull else { return false }
            return body.description.contains(text)
        }
    }

    func tokens(of requests: [JSON]) -> Set<String> {
        Set(requests.compactMap { $0["headers"]?["X-Auth-Token"]?.stringValue })
    }

    @Test("without a token Mistral's API answers 401; a sync run-action acts with the caller's own token at Cinder")
    func syncRunActionWithUserToken() async throws {
        let worker = try await AuthWorkerProcess.start()
        defer { worker.kill() }
        #expect(try await api(nil).request("GET", "/workflows").0 == 401)
        let admin = try await Self.admin()
        let volume = try await newVolume("e2e-auth-sync")

        let (state, output) = try await api(admin).runAction(
            "int32bit.cinder.volumes.assert_status", input: ["volume_id": .string(volume)])
        #expect(state == "SUCCESS", "\(output)")
        #expect(output["result"] == true)

        let calls = try await cinderRequests(containing: volume)
        #expect(!calls.isEmpty)
        #expect(tokens(of: calls) == [admin.token])
        #expect(calls.allSatisfy { $0["credentials"]?["user_name"] == "admin" && $0["credentials"]?["trust_id"] == .null })
        // The worker says whose credentials it used, never the token itself.
        let sources = worker.credentialSources(forPathsContaining: volume)
        #expect(!sources.isEmpty && sources.allSatisfy { $0 == "request_token" }, "\(sources)")
        #expect(worker.trustScoped(forPathsContaining: volume).allSatisfy { !$0 })
        #expect(!worker.log.contains("openstack.credential_source=service_user"))
        #expect(!worker.log.contains(admin.token))
        #expect(try await worker.terminate() == 0)
    }

    @Test("create_volume_backup runs to SUCCESS with the user's token on every Cinder call")
    func workflowWithUserToken() async throws {
        let worker = try await AuthWorkerProcess.start()
        defer { worker.kill() }
        let admin = try await Self.admin()
        let mistral = api(admin)
        try await mistral.putWorkflow(try example("create_volume_backup.yaml"))
        let volume = try await newVolume("e2e-auth-backup")

        let id = try await mistral.startExecution(
            "create_volume_backup", input: ["volume_id": .string(volume), "backup_name": "auth", "wait_timeout": 30])
        let (state, info, output) = try await mistral.waitForExecution(id)
        #expect(state == "SUCCESS", "\(info ?? "")")
        let backup = try #require(output["backup_id"]?.stringValue)
        let backups = try await simulator.volumeBackups(volume)
        #expect(backups.contains { $0["id"]?.stringValue == backup && $0["status"] == "available" })

        // The backup's creation (its body names the volume; an incremental
        // try refused with 400 may come first) and at least one look at the
        // backup (how many depends on how fast it becomes available).
        let creations = try await cinderRequests(containing: volume).filter { $0["method"] == "POST" }
        let looks = try await cinderRequests(containing: backup)
        #expect(creations.contains { $0["status"] == 202 } && !looks.isEmpty, "\(creations) \(looks)")
        let calls = creations + looks
        #expect(tokens(of: calls) == [admin.token])
        let sources = worker.credentialSources(forPathsContaining: backup)
        #expect(!sources.isEmpty && sources.allSatisfy { $0 == "request_token" }, "\(sources)")
        #expect(!worker.log.contains("openstack.credential_source=service_user"))
        #expect(try await worker.terminate() == 0)
    }

    @Test("a cron trigger created through the API: Mistral makes a trust to its service user, the scheduled backup runs with a trust-scoped token of it, and deleting the trigger deletes the trust")
    func cronTriggerWithTrust() async throws {
        let worker = try await AuthWorkerProcess.start()
        defer { worker.kill() }
        let admin = try await Self.admin()
        let mistral = api(admin)
        try await mistral.putWorkflow(try example("scheduled_volume_backup.yaml"))
        let volume = try await newVolume("e2e-auth-cron")
        let trustsBefore = Set((try await simulator.state()["trusts"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue })

        let name = "e2e-auth-cron-\(UUID().uuidString.prefix(8))"
        let body: JSON = [
            "name": .string(name), "workflow_name": "scheduled_volume_backup",
            "workflow_input": .string((["volume_id": .string(volume), "wait_timeout": 30] as JSON).description),
            "pattern": "* * * * *",
        ]
        let (status, created) = try await mistral.request("POST", "/cron_triggers", body: Data(body.description.utf8))
        #expect(status == 201, "\(created)")
        var deleted = false
        defer { if !deleted { Task { [mistral] in _ = try? await mistral.request("DELETE", "/cron_triggers/\(name)") } } }

        // Mistral asked Keystone for a trust: from the user to its [keystone_authtoken] user, impersonating.
        let trusts = try await simulator.state()["trusts"]?.arrayValue ?? []
        let newTrusts = trusts.filter { !trustsBefore.contains($0["id"]?.stringValue ?? "") }
        #expect(newTrusts.count == 1)
        let trust = try #require(newTrusts.first)
        let trustID = try #require(trust["id"]?.stringValue)
        #expect(trust["trustor_user_id"]?.stringValue == admin.userID)
        #expect(trust["trustee_user_id"] == "a1e2c3d4b5f64a7b8c9d0e1f2a3b4c5d")  // `mistral`
        #expect(trust["impersonation"] == true)

        // The trigger fires at the next minute boundary; its execution ends in SUCCESS.
        var execution: JSON?
        try await eventually("the cron trigger's execution succeeds", limit: .seconds(150), every: .seconds(1)) {
            let (_, list) = try await mistral.request("GET", "/executions?workflow_name=scheduled_volume_backup&limit=100&sort_keys=created_at&sort_dirs=desc")
            execution = list["executions"]?.arrayValue?.first {
                ($0["input"]?.stringValue ?? "").contains(volume) && $0["state"] == "SUCCESS"
            }
            return execution != nil
        }
        let backups = try await simulator.volumeBackups(volume).filter { $0["status"] == "available" }
        #expect(!backups.isEmpty)

        // Every Cinder call of the run carried a token scoped to Mistral's trust, impersonating the user:
        // not the user's own token, not the service user's.
        let calls = try await cinderRequests(containing: volume)
        #expect(!calls.isEmpty)
        #expect(!tokens(of: calls).contains(admin.token))
        for call in calls {
            #expect(call["credentials"]?["trust_id"]?.stringValue == trustID, "\(call)")
            #expect(call["credentials"]?["user_id"]?.stringValue == admin.userID, "\(call)")
        }
        // The request's token came without a catalog: the worker looked it up as the service
        // user (GET /v3/auth/tokens) and says so; the Cinder calls used the request's token.
        let lookups = (try await simulator.request("GET", "/_simulator/requests").arrayValue ?? []).filter {
            $0["method"] == "GET" && ($0["path"]?.stringValue?.hasSuffix("/auth/tokens") ?? false)
                && tokens(of: calls).contains($0["headers"]?["X-Subject-Token"]?.stringValue ?? "")
        }
        #expect(!lookups.isEmpty)
        #expect(lookups.allSatisfy { $0["credentials"]?["user_name"] == "mistral" })
        let sources = worker.credentialSources(forPathsContaining: volume)
        #expect(!sources.isEmpty && sources.allSatisfy { $0 == "request_token" }, "\(sources)")
        #expect(worker.trustScoped(forPathsContaining: volume).allSatisfy { $0 })
        #expect(worker.log.contains("openstack.credential_source=service_user"))
        for token in tokens(of: calls) { #expect(!worker.log.contains(token)) }

        // Deleting the trigger deletes its trust, with a token of that trust.
        let (deletedStatus, deleteBody) = try await mistral.request("DELETE", "/cron_triggers/\(name)")
        #expect(deletedStatus == 204, "\(deleteBody)")
        deleted = true
        try await eventually("Mistral deletes the trust", limit: .seconds(30), every: .milliseconds(300)) {
            let all = try await simulator.state()["trusts"]?.arrayValue ?? []
            return !all.contains { $0["id"]?.stringValue == trustID }
        }
        let trustDeletes = (try await simulator.request("GET", "/_simulator/requests").arrayValue ?? []).filter {
            $0["method"] == "DELETE" && ($0["path"]?.stringValue?.hasSuffix("/OS-TRUST/trusts/" + trustID) ?? false)
        }
        #expect(trustDeletes.last?["status"] == 204)
        #expect(trustDeletes.last?["credentials"]?["trust_id"]?.stringValue == trustID)
        #expect(try await worker.terminate() == 0)
    }

    @Test("a user of another project gets Cinder's 404 through the action's error; an expired user token a clear 401")
    func refusedCredentials() async throws {
        let worker = try await AuthWorkerProcess.start()
        defer { worker.kill() }
        let volume = try await newVolume("e2e-auth-refused")

        let alt = try await KeystoneUser.login("alt", password: "alt-secret", project: "alt")
        let (altState, altOutput) = try await api(alt).runAction(
            "int32bit.cinder.volumes.assert_status", input: ["volume_id": .string(volume)])
        #expect(altState == "ERROR")
        let altMessage = altOutput["result"]?.stringValue ?? ""
        #expect(altMessage.contains("Cinder GET /volumes/\(volume): 404 itemNotFound"), "\(altOutput)")
        let altCalls = try await cinderRequests(containing: volume)
        #expect(tokens(of: altCalls) == [alt.token])
        #expect(altCalls.allSatisfy { $0["status"] == 404 && $0["credentials"]?["user_name"] == "alt" })

        // Mistral's API has validated (and cached) the token; then Keystone ends it.
        let admin = try await Self.admin()
        #expect(try await api(admin).request("GET", "/workflows?limit=1").0 == 200)
        _ = try await simulator.request("POST", "/_simulator/tokens/expire", body: ["tokens": [.string(admin.token)]])
        let (state, output) = try await api(admin).runAction(
            "int32bit.cinder.volumes.assert_status", input: ["volume_id": .string(volume)])
        #expect(state == "ERROR")
        let message = output["result"]?.stringValue ?? ""
        #expect(message.contains("Cinder GET /volumes/\(volume): 401"), "\(output)")
        #expect(message.contains("Mistral's user token"), "\(output)")
        #expect(!message.contains(admin.token))
        let expiredCalls = try await cinderRequests(containing: volume).filter {
            $0["headers"]?["X-Auth-Token"]?.stringValue == admin.token
        }
        #expect(!expiredCalls.isEmpty && expiredCalls.allSatisfy { $0["status"] == 401 && $0["credentials"]?["valid"] == false })
        #expect(try await worker.terminate() == 0)
    }
}
