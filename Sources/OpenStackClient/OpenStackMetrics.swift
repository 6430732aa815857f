import CoreMetrics
import Synchronization

/// Metrics of the HTTP requests to OpenStack (every attempt, retries
/// included): `mistral_actions_openstack_requests_total{service,status}`
/// and `mistral_actions_openstack_request_duration_seconds{service}`.
/// `service` is one of ``OpenStackService``; `status` is the HTTP status
/// code, or `error` / `timeout` when no answer came. The label sets are
/// few, and each metric object is made once.
public final class OpenStackMetrics: Sendable {
    /// Names, help texts and histogram buckets (seconds), for the exposition.
    public static let descriptions: [(name: String, help: String, buckets: [Double]?)] = [
        ("mistral_actions_openstack_requests_total", "HTTP requests to OpenStack APIs (every attempt), by service and status code (error/timeout: no answer).", nil),
        ("mistral_actions_openstack_request_duration_seconds", "Latency of HTTP requests to OpenStack APIs, by service.", [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]),
    ]

    private struct Key: Hashable {
        var service: OpenStackService
        var status: String
    }

    private let factory: any MetricsFactory
    private let requests = Mutex<[Key: Counter]>([:])
    private let latencies: [OpenStackService: Timer]

    /// Metrics created by `factory` (the global one by default).
    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
        var latencies: [OpenStackService: Timer] = [:]
        for service in OpenStackService.allCases {
            latencies[service] = Timer(
                label: "mistral_actions_openstack_request_duration_seconds", dimensions: [("service", service.rawValue)],
                factory: factory)
        }
        self.latencies = latencies
    }

    /// Counts one attempt: `status` is an HTTP status, or nil with `timedOut`.
    func record(service: OpenStackService, status: Int?, timedOut: Bool, duration: Duration) {
        let label: String
        if let status {
            // A status outside HTTP's range is one label value, not many.
            label = (100...599).contains(status) ? String(status) : "invalid"
        } else {
            label = timedOut ? "timeout" : "error"
        }
        let key = Key(service: service, status: label)
        let counter = requests.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(
                label: "mistral_actions_openstack_requests_total",
                dimensions: [("service", service.rawValue), ("status", label)], factory: factory)
            counters[key] = counter
            return counter
        }
        counter.increment()
        let (seconds, attoseconds) = duration.components
        let nanoseconds = seconds > 9_000_000_000 ? Int64.max : max(0, seconds) * 1_000_000_000 + attoseconds / 1_000_000_000
        latencies[service]?.recordNanoseconds(nanoseconds)
    }
}
