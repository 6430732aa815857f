import AMQPClient
import Logging
import MistralProtocol
import OrderedJSON
import OsloMessaging

/// Sends results to the engine: `on_action_complete` casts, mandatory and
/// confirmed, retried until the engine's queue takes them.
///
/// - returned (no queue bound: the engine is down, or its queue was not
///   re-declared yet after a broker restart) or not confirmed (nack, lost
///   connection): retried with ``Backoff/publishing``, across reconnects;
/// - too large for the broker (406 "message size ... larger than configured
///   max size"): replaced at once by an error result saying so;
/// - once the worker is cancelled (shutdown past its grace period), one
///   more attempt, then it gives up with an error log.
struct ResultPublisher: Sendable {
    let transport: any WorkerTransport
    let engineTopic: String
    let metrics: WorkerMetrics
    let logger: Logger
    var backoff = Backoff.publishing

    enum Delivery: Equatable, Sendable {
        case sent
        /// The result was replaced by an error (too large for the broker).
        case sentAsError
        case abandoned
    }

    @discardableResult
    func sendCompletion(_ result: ActionResult, action: String, actionExecutionID: String, context: RequestContext) async -> Delivery {
        var result = result
        var replaced = false
        var backoff = self.backoff
        var attempt = 1
        while true {
            let completion: RPCRequest
            do {
                completion = try RPCRequest(
                    method: EngineMethods.onActionComplete,
                    mistralArguments: try EngineMethods.onActionCompleteArguments(actionExecutionID: actionExecutionID, result: result),
                    context: context
                )
            } catch {
                logger.error("could not encode a result; sending an error instead", metadata: ["error": "\(error)", "action.execution_id": "\(actionExecutionID)"])
                result = .failure("the action's result could not be encoded as JSON: \(error)")
                continue
            }
            let problem: String
            do {
                let clock = ContinuousClock()
                let started = clock.now
                let outcome = try await transport.cast(completion, topic: engineTopic)
                metrics.publishConfirmed(after: clock.now - started)
                switch outcome {
                case .acknowledged:
                    if attempt > 1 {
                        logger.info("result sent after retrying", metadata: ["action.execution_id": "\(actionExecutionID)", "attempt": "\(attempt)"])
                    }
                    return replaced ? .sentAsError : .sent
                case .returned(let code, let text):
                    problem = "no queue is bound to the engine topic '\(engineTopic)' (\(code) \(text)): the engine is down or has not declared its queue again yet"
                }
            } catch let error as AMQPError where Self.isTooLarge(error) {
                let size = (try? completion.encodedBody().count) ?? 0
                logger.error("the result is too large for the broker; sending an error result instead", metadata: [
                    "action.execution_id": "\(actionExecutionID)", "result.bytes": "\(size)", "error": "\(error)",
                ])
                result = .failure(FailureMessages.resultTooLarge(action: action, bytes: size, broker: error.replyText ?? "\(error)"))
                replaced = true
                continue
            } catch {
                problem = "\(error)"
            }
            if Task.isCancelled {
                logger.error("result not sent: the worker stopped before the broker took it; the engine fails the action when its heartbeats stop", metadata: [
                    "action.execution_id": "\(actionExecutionID)", "error": "\(problem)",
                ])
                return .abandoned
            }
            let delay = backoff.next()
            logger.warning("sending a result failed; retrying", metadata: [
                "action.execution_id": "\(actionExecutionID)", "error": "\(problem)", "attempt": "\(attempt)",
                "retry_in": "\(delay)",
            ])
            try? await Task.sleep(for: delay)
            attempt += 1
        }
    }

    /// RabbitMQ refuses a message over `max_message_size` by closing the
    /// channel: 406 PRECONDITION_FAILED "message size N is larger than configured max size M".
    static func isTooLarge(_ error: AMQPError) -> Bool {
        guard error.replyCode == 406, let text = error.replyText else { return false }
        return text.contains("message size") && text.contains("max size")
    }
}
