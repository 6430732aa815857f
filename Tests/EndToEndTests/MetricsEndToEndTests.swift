import Foundation
import OrderedJSON
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// The worker's HTTP endpoint, scraped while Mistral runs a workflow on it.
extension ExecutorEndToEndTests {
    @Test("/readyz and /metrics of a real worker during and after a workflow; after SIGTERM /readyz says draining, then the port closes")
    func metricsEndpoint() async throws {
        let port = try StatusEndpoint.freePort()
        let endpoint = StatusEndpoint(port: port)
        let worker = try await WorkerProcess.start(extraConfiguration: """
            log_level = debug
            http_listen = 127.0.0.1:\(port)
            """)
        defer { worker.kill() }
        let ready = try await endpoint.get("/readyz")
        #expect(ready.status == 200, "\(ready.body)")
        #expect(try await endpoint.get("/healthz").status == 200)

        let suffix = UUID().uuidString.prefix(8).lowercased()
        let workflow = "e2e_metrics_\(suffix)"
        try await mistral.putWorkflow("""
            version: '2.0'
            \(workflow):
              tasks:
                sleeper:
                  action: int32bit.debug.sleep seconds=3
                many:
                  with-items: i in <% range(0, 6) %>
                  action: int32bit.debug.echo output=<% $.i %>
                python:
                  action: std.echo output="relayed"
                lookup:
                  action: int32bit.nova.servers.get_status server_id="no-such-server-\(suffix)"
                  on-complete: [done]
                done:
                  action: int32bit.debug.noop
            """)
        let id = try await mistral.startExecution(workflow)
        // During: the sleeping action holds a slot.
        try await eventually("slots_used reaches 1 while the sleeper runs", limit: .seconds(90), every: .milliseconds(100)) {
            let metrics = Exposition(try await endpoint.get("/metrics").body)
            return (metrics.value("mistral_actions_slots_used") ?? 0) >= 1
        }
        #expect(try await endpoint.get("/readyz").status == 200)
        _ = try await mistral.waitForExecution(id, timeout: 120)

        // After: the counts match what this worker logged it ran.
        let scraped = try await endpoint.get("/metrics")
        #expect(scraped.contentType?.hasPrefix("text/plain; version=0.0.4") == true)
        let metrics = Exposition(scraped.body)
        let log = worker.log.split(separator: "\n")
        func logged(_ text: String, action: String) -> Double {
            Double(log.filter { $0.contains(text) && $0.contains("action.name=\(action)") }.count)
        }
        let echoes = metrics.value("mistral_actions_requests_total", ["action": "int32bit.debug.echo", "outcome": "succeeded"])
        #expect(echoes == logged("action succeeded", action: "int32bit.debug.echo"), "\(metrics.text)")
        #expect((echoes ?? 0) >= 1, "\(metrics.text)")
        #expect(metrics.value("mistral_actions_requests_total", ["action": "int32bit.debug.sleep", "outcome": "succeeded"])
            == logged("action succeeded", action: "int32bit.debug.sleep"))
        #expect(metrics.value("mistral_actions_requests_total", ["action": "int32bit.nova.servers.get_status", "outcome": "failed"])
            == logged("action failed", action: "int32bit.nova.servers.get_status"))
        let relayed = Double(worker.count("relayed a request to the fallback topic"))
        #expect((metrics.value("mistral_actions_requests_total", ["action": "other", "outcome": "relayed"]) ?? 0) == relayed)
        #expect(relayed >= 1)
        #expect(metrics.value("mistral_actions_action_duration_seconds_count", ["action": "int32bit.debug.echo"]) == echoes)
        // The nova lookup went to the simulator's Keystone and Nova.
        let compute = metrics.samples("mistral_actions_openstack_requests_total").filter { $0.labels["service"] == "compute" }
        #expect(!compute.isEmpty, "\(metrics.text)")
        #expect(metrics.value("mistral_actions_slots_used") == 0)
        #expect(metrics.value("mistral_actions_broker_reconnects_total") == 0)
        let version = try #require(metrics.samples("mistral_actions_build_info").first, "\(metrics.text)")
        #expect(version.value == 1 && version.labels["version"]?.isEmpty == false)
        for name in ["mistral_actions_requests_total", "mistral_actions_action_duration_seconds", "mistral_actions_slots_used",
                     "mistral_actions_publish_confirm_seconds", "mistral_actions_heartbeats_sent_total",
                     "mistral_actions_openstack_requests_total", "mistral_actions_build_info"] {
            #expect(metrics.text.contains("# HELP \(name) "), "\(name) has no HELP line")
        }
        // No id became a label.
        #expect(!metrics.text.contains(id) && !metrics.text.contains("no-such-server"))

        // SIGTERM while an action runs: /readyz says draining (or the port is already closed).
        let drainWorkflow = "e2e_metrics_drain_\(suffix)"
        try await mistral.putWorkflow("""
            version: '2.0'
            \(drainWorkflow):
              tasks:
                sleeper:
                  action: int32bit.debug.sleep seconds=600
            """)
        _ = try await mistral.startExecution(drainWorkflow)
        try await eventually("the long sleeper holds a slot", limit: .seconds(90), every: .milliseconds(100)) {
            (Exposition(try await endpoint.get("/metrics").body).value("mistral_actions_slots_used") ?? 0) >= 1
        }
        kill(worker.process.processIdentifier, SIGTERM)
        var answer: String?
        try await eventually("/readyz stops saying ready", limit: .seconds(60), every: .milliseconds(50)) {
            do {
                let readyz = try await endpoint.get("/readyz")
                guard readyz.status != 200 else { return false }
                answer = "\(readyz.status) \(readyz.body)"
            } catch {
                answer = "closed"
            }
            return true
        }
        // An action still runs (for the grace period): the port stays open
        // meanwhile and /readyz says why the worker is not ready.
        let said = try #require(answer)
        #expect(said.hasPrefix("503") && said.contains("draining"), "\(said)")
        #expect(try await endpoint.get("/healthz").status == 200, "the process serves while it drains")
        #expect(try await worker.terminate(timeout: 60) == 0, "\(worker.log)")
        // Once it exited, the port is closed.
        await #expect(throws: (any Error).self) { _ = try await endpoint.get("/healthz") }
    }

    @Test("a port in use is a clear startup error")
    func portInUse() async throws {
        let holder = try StatusEndpoint.listeningSocket()
        defer { close(holder.fd) }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ma-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("worker.conf")
        try """
            [DEFAULT]
            transport_url = \(TestEnvironment.amqpURL)

            [mistral_actions]
            http_listen = 127.0.0.1:\(holder.port)
            """.write(to: config, atomically: true, encoding: .utf8)
        let logURL = directory.appendingPathComponent("worker.log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        defer { try? log.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestEnvironment.binary)
        process.arguments = ["worker", "--config-file", config.path]
        process.standardOutput = log
        process.standardError = log
        let exit = ProcessExit(of: process)
        try process.run()
        let status: Int32
        do {
            status = try await exit.wait(limit: .seconds(120), "the worker to give up")
        } catch {
            process.terminate()
            throw error
        }
        let output = (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
        #expect(status != 0, "\(output)")
        #expect(output.contains("http_listen = 127.0.0.1:\(holder.port): cannot listen"), "\(output)")
        #expect(output.lowercased().contains("address already in use"), "\(output)")
    }
}

/// The worker's HTTP endpoint on loopback.
struct StatusEndpoint {
    let port: Int

    struct Answer {
        var status: Int
        var body: String
        var contentType: String?
    }

    func get(_ path: String) async throws -> Answer {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.timeoutInterval = 30
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as? HTTPURLResponse
        return Answer(
            status: http?.statusCode ?? 0, body: String(decoding: data, as: UTF8.self),
            contentType: http?.value(forHTTPHeaderField: "Content-Type"))
    }

    /// A listening TCP socket on a port the system chose.
    static func listeningSocket() throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 4) == 0 else {
            close(fd)
            throw TestFailure("bind/listen: errno \(errno)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    /// A port free now (another process may take it before it is used: unlikely on loopback).
    static func freePort() throws -> Int {
        let (fd, port) = try listeningSocket()
        close(fd)
        return port
    }
}

/// Samples of Prometheus' text format.
struct Exposition {
    struct Sample {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    let text: String
    let all: [Sample]

    init(_ text: String) {
        self.text = text
        var samples: [Sample] = []
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            let series = line[..<space]
            var labels: [String: String] = [:]
            var name = Substring(series)
            if let brace = series.firstIndex(of: "{") {
                name = series[..<brace]
                let inner = series[series.index(after: brace)..<(series.lastIndex(of: "}") ?? series.endIndex)]
                for pair in inner.split(separator: ",") {
                    let parts = pair.split(separator: "=", maxSplits: 1)
                    guard parts.count == 2 else { continue }
                    labels[String(parts[0])] = String(parts[1].dropFirst().dropLast())
                }
            }
            samples.append(Sample(name: String(name), labels: labels, value: value))
        }
        all = samples
    }

    func samples(_ name: String) -> [Sample] { all.filter { $0.name == name } }

    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        all.first { $0.name == name && $0.labels == labels }?.value
    }
}
