import CoreMetrics
import Prometheus

/// Metrics in Prometheus' text format: a swift-metrics factory over a
/// ``PrometheusCollectorRegistry`` that gives each metric its `# HELP` text
/// and, for histograms, its buckets (from ``MetricDescription``s; a metric
/// not described gets no HELP line and default buckets).
///
/// Bootstrap the process's MetricsSystem with ``factory`` once; serve
/// ``render()``.
public struct PrometheusExposition: Sendable {
    /// What a metric is, for its HELP line, and its histogram buckets in seconds.
    public struct MetricDescription: Sendable {
        public var help: String
        public var buckets: [Double]?

        public init(help: String, buckets: [Double]? = nil) {
            self.help = help
            self.buckets = buckets
        }
    }

    public let registry: PrometheusCollectorRegistry
    public let factory: any MetricsFactory

    public init(descriptions: [String: MetricDescription]) {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        self.factory = DescribedFactory(registry: registry, descriptions: descriptions)
    }

    /// The text exposition (format 0.0.4).
    public func render() -> [UInt8] {
        registry.emitToBuffer()
    }

    /// The content type of ``render()``.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"
}

/// Makes Prometheus collectors with the help text and buckets of their name.
struct DescribedFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry
    let descriptions: [String: PrometheusExposition.MetricDescription]

    static let defaultSecondBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    private func help(_ label: String) -> String { descriptions[label]?.help ?? "" }

    private func buckets(_ label: String) -> [Double] {
        let buckets = descriptions[label]?.buckets ?? Self.defaultSecondBuckets
        // Prometheus needs them increasing; a bound that is not a number of
        // seconds a Duration histogram can hold is dropped.
        return Array(Set(buckets.filter { $0.isFinite && $0 >= 0 && $0 < 9e9 })).sorted()
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(name: label, labels: dimensions, help: help(label))
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(name: label, labels: dimensions, help: help(label))
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return registry.makeGauge(name: label, labels: dimensions, help: help(label)) }
        return registry.makeValueHistogram(name: label, labels: dimensions, buckets: buckets(label), help: help(label))
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(name: label, labels: dimensions, help: help(label))
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        let buckets = buckets(label).map { Duration.nanoseconds(Int64(($0 * 1e9).rounded())) }
        return registry.makeDurationHistogram(name: label, labels: dimensions, buckets: buckets, help: help(label))
    }

    func destroyCounter(_ handler: any CounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyRecorder(_ handler: any RecorderHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
        if let histogram = handler as? ValueHistogram { registry.unregisterValueHistogram(histogram) }
    }

    func destroyMeter(_ handler: any MeterHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
    }

    func destroyTimer(_ handler: any TimerHandler) {
        if let histogram = handler as? DurationHistogram { registry.unregisterDurationHistogram(histogram) }
    }
}
