import CoreMetrics
import Foundation
import Logging
import MistralActionsTestSupport
import OrderedJSON
import Prometheus
import ServiceLifecycle
import StatusServer
import Synchronization
import Testing
@testable import Worker

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Reads values out of Prometheus' text format.
struct Exposition {
    let text: String

    init(_ bytes: [UInt8]) { text = String(decoding: bytes, as: UTF8.self) }
    init(_ text: String) { self.text = text }

    /// The value of the sample `name{labels}` (labels in any order), nil if absent.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " ") else { continue }
            let series = line[..<space]
            let sampleName: Substring
            var sampleLabels: [String: String] = [:]
            if let brace = series.firstIndex(of: "{") {
                sampleName = series[..<brace]
                let inner = series[series.index(after: brace)..<(series.lastIndex(of: "}") ?? series.endIndex)]
                for pair in inner.split(separator: ",") {
                    let parts = pair.split(separator: "=", maxSplits: 1)
                    guard parts.count == 2 else { continue }
                    sampleLabels[String(parts[0])] = String(parts[1].dropFirst().dropLast())
                }
            } else {
                sampleName = series
            }
            if sampleName == name && sampleLabels == labels { return Double(line[line.index(after: space)...]) }
        }
        return nil
    }

    /// Whether the family has a HELP and a TYPE line.
    func isDescribed(_ name: String) -> Bool {
        text.contains("# HELP \(name) ") && text.contains("# TYPE \(name) ")
    }
}

/// An exposition described as the worker command describes it.
func workerExposition() -> PrometheusExposition {
    var descriptions: [String: PrometheusExposition.MetricDescription] = [:]
    for (name, help, buckets) in WorkerMetrics.descriptions {
        descriptions[name] = PrometheusExposition.MetricDescription(help: help, buckets: buckets)
    }
    return PrometheusExposition(descriptions: descriptions)
}

@Suite("Worker metrics: each settled request counts once, by action and outcome", .timeLimit(.minutes(2)))
struct WorkerMetricsTests {
    static let echo = "int32bit.debug.echo"

    @Test("succeeded, failed, timed out and their durations; slots; confirmed publishes")
    func ownActions() async throws {
        let exposition = workerExposition()
        let harness = WorkerHarness(concurrency: 3, metrics: WorkerMetrics(factory: exposition.factory))
        async let running: Void = harness.worker.run()
        await harness.transport.waitUntilConsuming()
        for index in 0..<3 {
            try harness.transport.deliver(WorkerHarness.runAction("debug.echo", input: ["output": .integer(Int64(index))], executionID: "S\(index)"))
        }
        try harness.transport.deliver(WorkerHarness.runAction("debug.fail", executionID: "F"))
        try harness.transport.deliver(WorkerHarness.runAction("debug.sleep", input: ["seconds": 1000], executionID: "T", timeout: 0.2))
        for id in ["S0", "S1", "S2", "F", "T"] { await harness.waitForResult(id) }
        harness.transport.endConsuming()
        try await running

        let metrics = Exposition(exposition.render())
        #expect(metrics.value("mistral_actions_requests_total", ["action": Self.echo, "outcome": "succeeded"]) == 3, "\(metrics.text)")
        #expect(metrics.value("mistral_actions_requests_total", ["action": "int32bit.debug.fail", "outcome": "failed"]) == 1)
        #expect(metrics.value("mistral_actions_requests_total", ["action": "int32bit.debug.sleep", "outcome": "timed_out"]) == 1)
        #expect(metrics.value("mistral_actions_requests_total", ["action": Self.echo, "outcome": "failed"]) == nil)
        #expect(metrics.value("mistral_actions_action_duration_seconds_count", ["action": Self.echo]) == 3)
        let sleptSeconds = try #require(metrics.value("mistral_actions_action_duration_seconds_sum", ["action": "int32bit.debug.sleep"]))
        #expect(sleptSeconds >= 0.2, "the timed-out action ran at least its timeout")
        // Five results confirmed by the broker.
        #expect(metrics.value("mistral_actions_publish_confirm_seconds_count") == 5)
        // All slots free again at the end.
        #expect(metrics.value("mistral_actions_slots_used") == 0)
        #expect(metrics.value("mistral_actions_slots_available") == 3)
        for (name, _, _) in WorkerMetrics.descriptions where metrics.text.contains("\n\(name)") || metrics.text.hasPrefix(name) {
            #expect(metrics.isDescribed(name), "\(name) has no HELP/TYPE")
        }
    }

    @Test("a running action holds a slot: slots_used rises while it runs")
    func slotsWhileRunning() async throws {
        let exposition = workerExposition()
        let harness = WorkerHarness(concurrency: 2, grace: .milliseconds(100), metrics: WorkerMetrics(factory: exposition.factory))
        let group = ServiceGroup(services: [harness.worker], logger: Logger(label: "group"))
        async let running: Void = group.run()
        await harness.transport.waitUntilConsuming()
        let tag = try harness.transport.deliver(WorkerHarness.runAction("debug.sleep", input: ["seconds": 1000], executionID: "L"))
        // Not safe to rerun, no claims: acknowledged when it starts.
        await harness.transport.waitUntil { $0.contains(.acknowledged(deliveryTag: tag)) }
        // The gauge is set by the loop after the start; wait for it on the registry.
        try await eventually("slots_used is 1", limit: .seconds(30), every: .milliseconds(20)) {
            Exposition(exposition.render()).value("mistral_actions_slots_used") == 1
        }
        #expect(Exposition(exposition.render()).value("mistral_actions_slots_available") == 1)
        await group.triggerGracefulShutdown()
        try await running
        let metrics = Exposition(exposition.render())
        #expect(metrics.value("mistral_actions_requests_total", ["action": "int32bit.debug.sleep", "outcome": "cancelled"]) == 1, "\(metrics.text)")
    }

    @Test("router mode: relayed and unroutable requests count under action=\"other\"; unreadable ones under \"unknown\"")
    func relayed() async throws {
        let exposition = workerExposition()
        let harness = WorkerHarness(mode: .router(fallbackTopic: "python_executor"), metrics: WorkerMetrics(factory: exposition.factory))
        async let running: Void = harness.worker.run()
        await harness.transport.waitUntilConsuming()
        let first = try harness.transport.deliver(WorkerHarness.runAction("python.std.http", executionID: "P1"))
        let second = try harness.transport.deliver(WorkerHarness.runAction("python.std.echo", executionID: "P2"))
        await harness.transport.waitUntil { $0.contains(.acknowledged(deliveryTag: first)) && $0.contains(.acknowledged(deliveryTag: second)) }
        harness.transport.scriptForwards([.returned])
        try harness.transport.deliver(WorkerHarness.runAction("python.std.http", executionID: "U"))
        await harness.waitForResult("U")
        let garbage = harness.transport.deliver(Array("not json".utf8))
        await harness.transport.waitUntil { $0.contains(.acknowledged(deliveryTag: garbage)) }
        harness.transport.endConsuming()
        try await running

        let metrics = Exposition(exposition.render())
        #expect(metrics.value("mistral_actions_requests_total", ["action": "other", "outcome": "relayed"]) == 2, "\(metrics.text)")
        #expect(metrics.value("mistral_actions_requests_total", ["action": "other", "outcome": "rejected"]) == 1)
        #expect(metrics.value("mistral_actions_relay_unroutable_total") == 1)
        // The unreadable message is relayed as it is (Python may read it).
        #expect(metrics.value("mistral_actions_requests_total", ["action": "unknown", "outcome": "relayed"]) == 1)
        // No class name of a relayed action becomes a label.
        #expect(!metrics.text.contains("std.http") && !metrics.text.contains("P1"))
    }

    @Test("swift-only mode: refused and unreadable requests, a redelivery not rerun, a duplicate")
    func swiftOnly() async throws {
        let exposition = workerExposition()
        let harness = WorkerHarness(mode: .swiftOnly, metrics: WorkerMetrics(factory: exposition.factory))
        async let running: Void = harness.worker.run()
        await harness.transport.waitUntilConsuming()
        try harness.transport.deliver(WorkerHarness.runAction("python.std.http", executionID: "X"))
        await harness.waitForResult("X")
        let garbage = harness.transport.deliver(Array("{\"oslo.version\": 7".utf8))
        await harness.transport.waitUntil { $0.contains(.acknowledged(deliveryTag: garbage)) }
        try harness.transport.deliver(WorkerHarness.runAction("debug.echo", input: ["output": "x"], executionID: "R"), redelivered: true)
        await harness.waitForResult("R")
        let once = WorkerHarness.runAction("debug.echo", input: ["output": "d"], executionID: "D", uniqueID: "dup")
        try harness.transport.deliver(once)
        await harness.waitForResult("D")
        let again = try harness.transport.deliver(once)
        await harness.transport.waitUntil { $0.contains(.acknowledged(deliveryTag: again)) }
        harness.transport.endConsuming()
        try await running

        let metrics = Exposition(exposition.render())
        #expect(metrics.value("mistral_actions_requests_total", ["action": "other", "outcome": "rejected"]) == 1, "\(metrics.text)")
        #expect(metrics.value("mistral_actions_requests_total", ["action": "unknown", "outcome": "unreadable"]) == 1)
        #expect(metrics.value("mistral_actions_requests_total", [  "action": Self.echo, "outcome": "rejected"]) == 1)
        #expect(metrics.value("mistral_actions_requests_total", ["action": "unknown", "outcome": "skipped"]) == 1)
        #expect(metrics.value("mistral_actions_requests_total", ["action": Self.echo, "outcome": "succeeded"]) == 1)
    }

    @Test("heartbeats the broker took are counted")
    func heartbeats() async throws {
        let exposition = workerExposition()
        let harness = WorkerHarness(heartbeats: .seconds(3600), metrics: WorkerMetrics(factory: exposition.factory))
        async let running: Void = harness.worker.run()
        await harness.transport.waitUntilConsuming()
        // Reported when it starts (it runs until its 1-second timeout).
        try harness.transport.deliver(WorkerHarness.runAction("debug.sleep", input: ["seconds": 1000], executionID: "H", timeout: 1))
        await harness.transport.waitUntil { $0.contains { if case .cast("report_running_actions", _, _) = $0 { true } else { false } } }
        await harness.waitForResult("H")
        harness.transport.endConsuming()
        try await running
        let sent = harness.transport.casts(method: "report_running_actions").count
        #expect(sent >= 1)
        #expect(Exposition(exposition.render()).value("mistral_actions_heartbeats_sent_total") == Double(sent))
    }
}

@Suite("The HTTP endpoint: /healthz, /readyz, /metrics", .timeLimit(.minutes(2)))
struct StatusServerTests {
    static func get(_ port: Int, _ path: String, method: String = "GET") async throws -> (Int, String, String?) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        request.timeoutInterval = 30
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as? HTTPURLResponse
        return (http?.statusCode ?? 0, String(decoding: data, as: UTF8.self), http?.value(forHTTPHeaderField: "Content-Type"))
    }

    @Test("answers each path; /readyz follows the readiness; a second bind on the port fails")
    func endpoints() async throws {
        let readiness = Mutex(StatusServer.Readiness.notReady(reason: "waiting for RabbitMQ: connection refused"))
        let exposition = workerExposition()
        let counter = CoreMetrics.Counter(label: "mistral_actions_heartbeats_sent_total", factory: exposition.factory)
        counter.increment(by: 7)
        let server = try await StatusServer.bind(
            host: "127.0.0.1", port: 0, readiness: { readiness.withLock { $0 } }, metrics: { exposition.render() },
            logger: Logger(label: "status"))
        let group = ServiceGroup(services: [server], logger: Logger(label: "group"))
        async let running: Void = group.run()

        #expect(try await Self.get(server.port, "/healthz").0 == 200)
        let notReady = try await Self.get(server.port, "/readyz")
        #expect(notReady.0 == 503)
        #expect(notReady.1.contains("waiting for RabbitMQ: connection refused"), "\(notReady.1)")
        readiness.withLock { $0 = .ready }
        #expect(try await Self.get(server.port, "/readyz?verbose").0 == 200)
        let metrics = try await Self.get(server.port, "/metrics")
        #expect(metrics.0 == 200)
        #expect(metrics.2?.hasPrefix("text/plain; version=0.0.4") == true, "\(metrics.2 ?? "-")")
        #expect(Exposition(metrics.1).value("mistral_actions_heartbeats_sent_total") == 7, "\(metrics.1)")
        #expect(Exposition(metrics.1).isDescribed("mistral_actions_heartbeats_sent_total"))
        #expect(try await Self.get(server.port, "/nothing").0 == 404)
        #expect(try await Self.get(server.port, "/metrics", method: "POST").0 == 405)

        await #expect(throws: (any Error).self) {
            _ = try await StatusServer.bind(
                host: "127.0.0.1", port: server.port, readiness: { .ready }, metrics: { [] }, logger: Logger(label: "second"))
        }

        await group.triggerGracefulShutdown()
        try await running
        // The port is closed once the service stopped.
        await #expect(throws: (any Error).self) { _ = try await Self.get(server.port, "/healthz") }
    }
}
