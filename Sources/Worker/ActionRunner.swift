import ActionKit
import CheckedNumbers
import Logging
import MistralProtocol
import OrderedJSON

/// Runs one Swift action with its input, a deadline and cancellation.
///
/// The action runs in a child task; a timeout cancels it and waits for it to
/// stop (structured concurrency: nothing keeps running behind the result).
package enum ActionRunner {
    package enum Outcome: Sendable {
        /// The action finished (successfully or with an error result).
        case completed(ActionResult)
        /// The task's timeout expired; the action was cancelled and has stopped.
        case timedOut(ActionResult)
        /// The surrounding task was cancelled (shutdown) before the action finished.
        case cancelled
    }

    package static func run(
        _ descriptor: ActionDescriptor,
        input: JSONObject,
        context: ActionContext,
        timeout: Double?
    ) async -> Outcome {
        let action: any MistralAction
        do {
            action = try descriptor.instantiate(input: input)
        } catch {
            return .completed(.failure(FailureMessages.invalidInput(action: context.actionName, detail: error.description)))
        }
        // The request's timeout is positive and finite (RunActionRequest);
        // one past Seconds.maximum (366 days) can never fire first, so such
        // an action runs as if it had none.
        guard let timeout, let limit = try? Seconds.duration(timeout, name: "timeout") else {
            return await body(action, context: context)
        }
        return await withTaskGroup(of: Outcome?.self) { group in
            group.addTask { await body(action, context: context) }
            group.addTask {
                // nil = the deadline passed; a cancelled sleep means the action finished first.
                do { try await Task.sleep(for: limit) } catch { return .cancelled }
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            if let first {
                return first
            }
            // The deadline came first: wait for the cancelled action to stop,
            // so that nothing keeps running behind the timeout result.
            for await _ in group {}
            context.logger.warning("action timed out and was cancelled", metadata: ["action.timeout": "\(timeout)"])
            return .timedOut(.failure(FailureMessages.timedOut(action: context.actionName, seconds: timeout)))
        }
    }

    private static func body(_ action: any MistralAction, context: ActionContext) async -> Outcome {
        do {
            let data = try await action.run(context: context)
            if Task.isCancelled { return .cancelled }
            return .completed(.success(data))
        } catch let failure as ActionFailure {
            if Task.isCancelled { return .cancelled }
            switch failure.payload {
            case .message(let message):
                return .completed(.failure("action \(context.actionName) failed: \(message)"))
            case .value(let value):
                return .completed(.failure(value))
            }
        } catch is CancellationError {
            return .cancelled
        } catch {
            if Task.isCancelled { return .cancelled }
            return .completed(.failure(FailureMessages.raised(action: context.actionName, error: error)))
        }
    }
}
