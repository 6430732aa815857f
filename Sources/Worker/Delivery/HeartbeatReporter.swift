import AMQPClient
import Logging
import MistralProtocol
import OsloMessaging

/// Reports running actions to the engine (`report_running_actions`): each
/// action as it starts (starts that come together share one message) and
/// every running action every `check_interval`.
struct HeartbeatReporter: Sendable {
    let transport: any WorkerTransport
    let engineTopic: String
    let interval: Duration
    let running: RunningActions
    let startSignal: AsyncStream<Void>
    let metrics: WorkerMetrics
    let logger: Logger

    /// Runs both loops until cancelled.
    func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await reportStarts() }
            group.addTask { await reportPeriodically() }
        }
    }

    func reportStarts() async {
        for await _ in startSignal {
            // Let starts that arrive together share one message.
            try? await Task.sleep(for: .milliseconds(20))
            let ids = running.takeNewlyStarted()
            if !ids.isEmpty { await send(ids) }
            if Task.isCancelled { return }
        }
    }

    func reportPeriodically() async {
        while true {
            do { try await Task.sleep(for: interval) } catch { return }
            let ids = running.all
            if !ids.isEmpty { await send(ids) }
        }
    }

    /// True once the engine's queue took the report.
    @discardableResult
    func send(_ ids: [String]) async -> Bool {
        do {
            let request = try RPCRequest(
                method: EngineMethods.reportRunningActions,
                mistralArguments: EngineMethods.reportRunningActionsArguments(actionExecutionIDs: ids),
                context: RequestContext.mistralAdmin(requestID: MessageID.generateRequestID())
            )
            let outcome = try await transport.cast(request, topic: engineTopic)
            if case AMQPPublishOutcome.returned(let code, let text) = outcome {
                logger.warning("running actions not reported: no queue is bound to the engine topic", metadata: [
                    "heartbeat.count": "\(ids.count)", "amqp.reply": "\(code) \(text)",
                ])
                return false
            }
            metrics.heartbeatSent()
            logger.trace("reported running actions", metadata: ["heartbeat.count": "\(ids.count)"])
            return true
        } catch {
            logger.warning("could not report running actions", metadata: ["error": "\(error)", "heartbeat.count": "\(ids.count)"])
            return false
        }
    }
}
