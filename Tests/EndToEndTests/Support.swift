import Foundation
import OrderedJSON
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Where the real servers are (scripts/local-services.sh and scripts/mistral.sh).
enum TestEnvironment {
    static let variables = ProcessInfo.processInfo.environment

    static var mistralURL: String { variables["MA_TEST_MISTRAL_URL"] ?? "http://127.0.0.1:28989/v2" }
    static var amqpURL: String { variables["MA_TEST_AMQP_URL"] ?? "rabbit://guest:guest@127.0.0.1:26672/" }
    static var mistralDatabaseURL: String {
        variables["MA_TEST_MISTRAL_DATABASE_URL"] ?? "postgresql://mistral_actions:ma-secret@127.0.0.1:26432/mistral"
    }
    static var fallbackTopic: String { variables["MA_TEST_FALLBACK_TOPIC"] ?? "mistral_executor_python" }
    /// The OpenStack simulator (scripts/simulator.sh).
    static var simulatorURL: String { variables["MA_TEST_SIMULATOR_URL"] ?? "http://127.0.0.1:28500" }

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
    let process = Process()
    let logURL: URL
    let configURL: URL

    /// Starts a worker and waits until it consumes.
    static func start(extraConfiguration: String = "", overrides: [String] = []) async throws -> WorkerProcess {
        let worker = try WorkerProcess(extraConfiguration: extraConfiguration, overrides: overrides)
        try await worker.waitForLog("worker consuming", timeout: 180)
        return worker
    }

    private init(extraConfiguration: String, overrides: [String]) throws {
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

    /// Polls the log without blocking a thread of Swift's cooperative pool
    /// (other tests, and the servers' clients, need those threads).
    func waitForLog(_ text: String, timeout: TimeInterval) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if log.contains(text) { return }
            if !process.isRunning { throw TestFailure("worker exited (\(process.terminationStatus)) before logging '\(text)':\n\(log)") }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("worker did not log '\(text)' within \(timeout) s:\n\(log)")
    }

    /// Sends SIGTERM and waits for the exit; returns the exit status.
    @discardableResult
    func terminate(timeout: TimeInterval = 40) async throws -> Int32 {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(100)) }
        if process.isRunning {
            Foundation.kill(process.processIdentifier, SIGKILL)
            throw TestFailure("worker did not stop within \(timeout) s after SIGTERM:\n\(log)")
        }
        return process.terminationStatus
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

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
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

    /// Waits until the execution leaves RUNNING.
    func waitForExecution(_ id: String, timeout: TimeInterval = 60) async throws -> Execution {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let (_, json) = try await request("GET", "/executions/\(id)")
            let state = json["state"]?.stringValue ?? ""
            if state != "RUNNING" && state != "IDLE" && !state.isEmpty {
                let output = try json["output"]?.stringValue.map { try JSON(parsing: $0) } ?? .null
                return Execution(state: state, stateInfo: json["state_info"]?.stringValue, output: output)
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw TestFailure("execution \(id) still running after \(timeout) s")
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
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let venv = TestEnvironment.variables["MA_VENV"] ?? root.appendingPathComponent(".venv").path
        python = venv + "/bin/python"
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
        try process.run()
        input.fileHandleForWriting.write(Data(body.utf8))
        try input.fileHandleForWriting.close()
        while process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        guard process.terminationStatus == 0 else { throw TestFailure("publishing with kombu failed") }
    }
}
