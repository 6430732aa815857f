import Logging
import Synchronization

/// Sends calls with the session's limits and retries: at most
/// `maxConcurrentRequestsPerService` in flight per service endpoint, and
/// transient failures repeated as ``RetryPolicy`` allows.
final class RequestExecutor: Sendable {
    private let transport: HTTPTransport
    private let policy: RetryPolicy
    private let permitsPerService: Int
    private let limits = Mutex<[String: AsyncSemaphore]>([:])
    private let metrics: OpenStackMetrics

    init(transport: HTTPTransport, settings: OpenStackSettings, metrics: OpenStackMetrics = OpenStackMetrics()) {
        self.transport = transport
        self.metrics = metrics
        self.policy = RetryPolicy(settings: settings)
        self.permitsPerService = max(1, settings.maxConcurrentRequestsPerService)
    }

    /// The limit of one service at one `host:port`.
    private func limit(for call: HTTPCall) -> AsyncSemaphore {
        let key = "\(call.service.rawValue) \(RequestURL.hostAndPort(of: call.url))"
        return limits.withLock { limits in
            if let existing = limits[key] { return existing }
            let created = AsyncSemaphore(permits: permitsPerService)
            limits[key] = created
            return created
        }
    }

    /// Sends `call` until it gets a final answer (any status) or retries
    /// run out.
    ///
    /// - Throws: ``OpenStackError`` (`.transport`, `.timeout`) when no answer
    ///   came, or `CancellationError`.
    func execute(_ call: HTTPCall, logger: Logger) async throws -> HTTPResult {
        let limit = limit(for: call)
        var retriesDone = 0
        while true {
            let started = ContinuousClock.now
            let outcome: Result<HTTPResult, TransportFailure>
            do {
                outcome = .success(try await limit.withPermit { try await transport.perform(call) })
            } catch let failure as TransportFailure {
                outcome = .failure(failure)
            }
            let elapsed = ContinuousClock.now - started
            let milliseconds = elapsed.milliseconds

            let retryOutcome: RetryPolicy.Outcome
            switch outcome {
            case .success(let result):
                metrics.record(service: call.service, status: result.status, timedOut: false, duration: elapsed)
                logger.debug(
                    "OpenStack request",
                    metadata: Self.metadata(call, [
                        "http.status": "\(result.status)", "http.duration_ms": "\(milliseconds)",
                    ]))
                retryOutcome = .response(
                    status: result.status, retryAfterSeconds: RetryAfter.seconds(result.header("Retry-After")))
            case .failure(let failure):
                metrics.record(service: call.service, status: nil, timedOut: failure.kind == .timeout, duration: elapsed)
                logger.debug(
                    "OpenStack request failed",
                    metadata: Self.metadata(call, [
                        "http.error": "\(call.redaction.apply(failure.message))",
                        "http.duration_ms": "\(milliseconds)",
                    ]))
                switch failure.kind {
                case .connect: retryOutcome = .connectFailed
                case .connection, .timeout: retryOutcome = .failedAfterSending
                case .permanent: retryOutcome = .permanentFailure
                }
            }

            guard
                let delay = policy.delay(
                    after: retryOutcome, retriesDone: retriesDone, isIdempotent: call.isIdempotent)
            else {
                switch outcome {
                case .success(let result):
                    return result
                case .failure(let failure):
                    throw OpenStackError(
                        kind: failure.kind == .timeout ? .timeout : .transport(call.redaction.apply(failure.message)),
                        service: call.service, method: call.method, path: call.path)
                }
            }
            retriesDone += 1
            var metadata = Self.metadata(call, [
                "retry.delay_ms": "\(delay.milliseconds)", "retry.attempt": "\(retriesDone)",
            ])
            switch outcome {
            case .success(let result): metadata["http.status"] = "\(result.status)"
            case .failure(let failure): metadata["http.error"] = "\(call.redaction.apply(failure.message))"
            }
            logger.warning("OpenStack request failed, retrying", metadata: metadata)
            try await Task.sleep(for: delay)
        }
    }

    private static func metadata(_ call: HTTPCall, _ extra: Logger.Metadata) -> Logger.Metadata {
        var metadata: Logger.Metadata = [
            "openstack.service": "\(call.service.rawValue)",
            "http.method": "\(call.method)",
            "http.path": "\(call.path)",
        ]
        if let source = call.credentialSource {
            metadata["openstack.credential_source"] = "\(source.rawValue)"
        }
        if call.trustScoped { metadata["openstack.trust_scoped"] = "true" }
        metadata.merge(extra) { _, new in new }
        return metadata
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
