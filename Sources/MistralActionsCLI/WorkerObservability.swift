import AMQPClient
import CoreMetrics
import Logging
import OpenStackClient
import OsloConfig
import StatusServer
import Synchronization
import Worker

/// The worker's metrics and HTTP endpoint (`[mistral_actions] http_listen`).
enum WorkerObservability {
    /// The process's one Prometheus registry; the MetricsSystem is
    /// bootstrapped with it the first time it is used (once per process).
    static let exposition: PrometheusExposition = {
        var descriptions: [String: PrometheusExposition.MetricDescription] = [:]
        for (name, help, buckets) in WorkerMetrics.descriptions + OpenStackMetrics.descriptions + ownDescriptions {
            descriptions[name] = PrometheusExposition.MetricDescription(help: help, buckets: buckets)
        }
        let exposition = PrometheusExposition(descriptions: descriptions)
        MetricsSystem.bootstrap(exposition.factory)
        Gauge(label: "mistral_actions_build_info", dimensions: [("version", MistralActionsVersion.current)], factory: exposition.factory)
            .record(1)
        return exposition
    }()

    static let ownDescriptions: [(name: String, help: String, buckets: [Double]?)] = [
        ("mistral_actions_build_info", "Always 1; the version label is the worker's version.", nil),
        ("mistral_actions_broker_reconnects_total", "Reconnections to RabbitMQ (both connections, the first connection not counted).", nil),
    ]

    /// Listens on `address` for /healthz, /readyz and /metrics. A port in
    /// use (or an address not on this host) is a startup error.
    static func listen(
        _ address: ListenAddress, exposition: PrometheusExposition, status: WorkerStatus,
        connections: [AMQPConnection], logger: Logger
    ) async throws -> StatusServer {
        let reconnects = ReconnectCounter(connections: connections, factory: exposition.factory)
        do {
            return try await StatusServer.bind(
                host: address.host, port: address.port,
                readiness: { readiness(status: status, connections: connections) },
                metrics: {
                    reconnects.update()
                    return exposition.render()
                },
                logger: logger
            )
        } catch {
            throw CLIError("[mistral_actions] http_listen = \(address): cannot listen: \(error)")
        }
    }

    /// Ready when consuming and both RabbitMQ connections are open.
    static func readiness(status: WorkerStatus, connections: [AMQPConnection]) -> StatusServer.Readiness {
        switch status.readiness {
        case .notReady(let reason):
            return .notReady(reason: reason)
        case .ready:
            for connection in connections where !connection.isConnected {
                let why = connection.lastConnectionError.map { ": \($0)" } ?? ""
                return .notReady(reason: "RabbitMQ connection \(connection.configuration.connectionName) is down\(why)")
            }
            return .ready
        }
    }
}

/// `mistral_actions_broker_reconnects_total`, brought up to date from the
/// connections' generation counts at each scrape.
final class ReconnectCounter: Sendable {
    private let connections: [AMQPConnection]
    private let counter: Counter
    private let reported = Mutex<UInt64>(0)

    init(connections: [AMQPConnection], factory: any MetricsFactory) {
        self.connections = connections
        counter = Counter(label: "mistral_actions_broker_reconnects_total", factory: factory)
    }

    func update() {
        let total = connections.reduce(UInt64(0)) { sum, connection in
            let generation = connection.connectionGeneration
            return sum &+ (generation > 0 ? generation - 1 : 0)
        }
        let delta = reported.withLock { reported -> UInt64 in
            guard total > reported else { return 0 }
            defer { reported = total }
            return total - reported
        }
        if delta > 0 { counter.increment(by: Int64(clamping: delta)) }
    }
}
