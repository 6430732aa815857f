import Foundation
// Re-exported: every file of this target uses the shared environment and
// failures, as when they were declared here.
@_exported import MistralActionsTestSupport
import OrderedJSON
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The binary under test; the servers' addresses come from the shared
/// ``TestEnvironment`` (MistralActionsTestSupport).
extension TestEnvironment {
    /// The `mistral-actions` binary built next to the test bundle.
    static var binary: String {
        if let path = variables["MA_BINARY"] { return path }
        let bundle = Bundle.main.bundleURL
        let candidates = [
            bundle.deletingLastPathComponent().appendingPathComponent("mistral-actions"),
            bundle.appendingPathComponent("mistral-actions"),
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("mistral-actions"),
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }?.path ?? candidates[0].path
    }
}

/// A `mistral-actions worker` process with its own configuration file and log.
final class WorkerProcess: @unchecked Sendable {
    // @unchecked: the Process is started and waited for from one test task only.
    let process: Process
    let exit: ProcessExit
    let logURL: URL
    let configURL: URL

    /// Starts a worker and waits until it consumes.
    static func start(extraConfiguration: String = "", overrides: [String] = []) async throws -> WorkerProcess {
        let worker = try WorkerProcess(extraConfiguration: extraConfiguration, overrides: overrides)
        try await worker.waitForLog("worker consuming", timeout: 180)
        return worker
    }

    private init(extraConfiguration: String, overrides: [String]) throws {
        let process = Process()
        self.process = process
        exit = ProcessExit(of: process)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ma-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        configURL = directory.appendingPathComponent("worker.conf")
        logURL = directory.appendingPathComponent("worker.log")
        let configuration = """
            [DEFAULT]
            transport_url = \(TestEnvironment.amqpURL)

            [database]
            connection = \(TestEnvironment.mistralDatabaseURL)

            [action_heartbeat]
            check_interval = 1

            # Mistral runs without Keystone: requests carry no token, so the
            # OpenStack actions act as this user of the simulator's cloud.
            [keystone_authtoken]
            auth_url = \(TestEnvironment.simulatorURL)/identity
            username = admin
            password = secret
            project_name = demo
            user_domain_name = Default
            project_domain_name = Default

            [mistral_actions]
            fallback_topic = \(TestEnvironment.fallbackTopic)
            shutdown_grace_period = 20s
            # Test workers run side by side: no status endpoint on the
            # default port unless a test asks for one (the last value wins).
            http_listen = off
            \(extraConfiguration)
            """
        try configuration.write(to: configURL, atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: TestEnvironment.binary)
        process.arguments = ["worker", "--config-file", configURL.path] + overrides.flatMap { ["--set", $0] }
        let log = try FileHandle(forWritingTo: logURL)
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    /// Polls the log (another process writes it and tells no one) without
    /// blocking a thread of Swift's cooperative pool (other tests, and the
    /// servers' clients, need those threads).
    func waitForLog(_ text: String, timeout: TimeInterval) async throws {
        do {
            try await eventually("worker logs '\(text)'", limit: .seconds(timeout), every: .milliseconds(100)) {
                if log.contains(text) { return true }
                if let status = exit.status { throw TestFailure("worker exited (\(status)) before logging '\(text)':\n\(log)") }
                return false
            }
        } catch is TestTimeout {
            throw TestFailure("worker did not log '\(text)' within \(timeout) s:\n\(log)")
        }
    }

    /// Sends SIGTERM and waits for the exit; returns the exit status.
    @discardableResult
    func terminate(timeout: TimeInterval = 40) async throws -> Int32 {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGTERM) }
        do {
            return try await exit.wait(limit: .seconds(timeout), "the worker to stop")
        } catch is TestTimeout {
            Foundation.kill(process.processIdentifier, SIGKILL)
            throw TestFailure("worker did not stop within \(timeout) s after SIGTERM:\n\(log)")
        }
    }

    /// Waits for the exit (after ``kill()``); returns the exit status.
    @discardableResult
    func waitForExit(timeout: TimeInterval = 60) async throws -> Int32 {
        try await exit.wait(limit: .seconds(timeout), "the worker to exit")
    }

    /// Whether the worker process is still running.
    var isRunning: Bool { process.isRunning }

    /// How many log lines contain `text`.
    func count(_ text: String) -> Int {
        log.split(separator: "\n").filter { $0.contains(text) }.count
    }

    /// Stops the worker at the end of a test, whatever happened (no waiting).
    func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
    }

    deinit {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
    }
}

/// A small client of Mistral's REST API (Keystone off).
struct MistralAPI {
    let base = TestEnvironment.mistralURL

    func request(_ method: String, _ path: String, body: Data? = nil, contentType: String = "application/json") async throws -> (Int, JSON) {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = method
        request.httpBody = body
        request.setValue(contentType, forHTTPHeaderField: "Content-Type")
        request.setValue("admin", forHTTPHeaderField: "X-Roles")
        request.timeoutInterval = 90
        let (data, response) = try await URLSession.shared.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        let json = data.isEmpty ? JSON.null : ((try? JSON(parsing: data)) ?? .string(String(decoding: data, as: UTF8.self)))
        return (status, json)
    }

    /// Creates or updates a workflow definition.
    func putWorkflow(_ yaml: String) async throws {
        let (status, body) = try await request("POST", "/workflows", body: Data(yaml.utf8), contentType: "text/plain")
        if status == 409 {
            let (updated, updateBody) = try await request("PUT", "/workflows", body: Data(yaml.utf8), contentType: "text/plain")
            guard updated == 200 else { throw TestFailure("PUT /workflows: \(updated) \(updateBody)") }
        } else if status != 201 {
            throw TestFailure("POST /workflows: \(status) \(body)")
        }
    }

    func startExecution(_ workflow: String, input: JSON = [:]) async throws -> String {
        let body: JSON = ["workflow_name": .string(workflow), "input": .string(input.description)]
        let (status, json) = try await request("POST", "/executions", body: Data(body.description.utf8))
        guard status == 201, let id = json["id"]?.stringValue else { throw TestFailure("POST /executions: \(status) \(json)") }
        return id
    }

    struct Execution {
        var state: String
        var stateInfo: String?
        var output: JSON
    }

    /// Waits until the execution leaves RUNNING (polling: Mistral's API has
    /// no notification).
    func waitForExecution(_ id: String, timeout: TimeInterval = 60) async throws -> Execution {
        var execution: Execution?
        do {
            try await eventually("execution \(id) ends", limit: .seconds(timeout), every: .milliseconds(200)) {
                let (_, json) = try await request("GET", "/executions/\(id)")
                let state = json["state"]?.stringValue ?? ""
                guard state != "RUNNING" && state != "IDLE" && !state.isEmpty else { return false }
                let output = try json["output"]?.stringValue.map { try JSON(parsing: $0) } ?? .null
                execution = Execution(state: state, stateInfo: json["state_info"]?.stringValue, output: output)
                return true
            }
        } catch is TestTimeout {
            throw TestFailure("execution \(id) still running after \(timeout) s")
        }
        guard let execution else { throw TestFailure("execution \(id): no state") }
        return execution
    }

    struct TaskExecution {
        var name: String
        var state: String
        var stateInfo: String?
    }

    func tasks(of execution: String) async throws -> [TaskExecution] {
        let (_, json) = try await request("GET", "/tasks?workflow_execution_id=\(execution)")
        return (json["tasks"]?.arrayValue ?? []).map {
            TaskExecution(name: $0["name"]?.stringValue ?? "", state: $0["state"]?.stringValue ?? "", stateInfo: $0["state_info"]?.stringValue)
        }
    }

    /// POST /v2/action_executions; returns (state, output, state_info).
    func runAction(_ name: String, input: JSON, params: JSON = [:]) async throws -> (String, JSON, String?) {
        let body: JSON = ["name": .string(name), "input": .string(input.description), "params": .string(params.description)]
        let (status, json) = try await request("POST", "/action_executions", body: Data(body.description.utf8))
        guard status == 201 else { throw TestFailure("POST /action_executions: \(status) \(json)") }
        let output = try json["output"]?.stringValue.map { try JSON(parsing: $0) } ?? .null
        return (json["state"]?.stringValue ?? "", output, json["state_info"]?.stringValue)
    }
}

/// Publishes raw bodies to the executor topic with the Python peer's venv
/// (kombu), as a misbehaving client would.
struct Publisher {
    let python: String

    init() throws {
        python = TestEnvironment.python
    }

    func publish(_ body: String, routingKey: String = "mistral_executor") async throws {
        let script = """
            import sys, kombu
            with kombu.Connection(sys.argv[1].replace("rabbit://", "amqp://")) as connection:
                exchange = kombu.Exchange("openstack", type="topic", durable=False)
                connection.Producer().publish(sys.stdin.read().encode(), exchange=exchange, routing_key=sys.argv[2],
                                              content_type="application/json", content_encoding="utf-8")
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", script, TestEnvironment.amqpURL, routingKey]
        let input = Pipe()
        process.standardInput = input
        let exit = ProcessExit(of: process)
        try process.run()
        input.fileHandleForWriting.write(Data(body.utf8))
        try input.fileHandleForWriting.close()
        guard try await exit.wait(limit: .seconds(180), "kombu to publish") == 0 else { throw TestFailure("publishing with kombu failed") }
    }
}
