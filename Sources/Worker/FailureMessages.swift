import CheckedNumbers
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The texts of the errors the worker reports to Mistral. Each names the
/// action and says what happened and, where it helps, what to do.
package enum FailureMessages {
    package static func timedOut(action: String, seconds: Double) -> String {
        "The action raised an exception [action=\(action), msg='Timeout after \(format(seconds)) seconds']: "
            + "the task's timeout expired and the mistral-actions worker cancelled the action"
    }

    package static func raised(action: String, error: any Error) -> String {
        "action \(action) failed: \(describe(error))"
    }

    package static func invalidInput(action: String, detail: String) -> String {
        "action \(action) was not run: \(detail)"
    }

    package static func swiftOnly(action: String) -> String {
        "action \(action) is not implemented by this mistral-actions worker, which runs in swift-only mode "
            + "(no fallback topic for other actions); run it on a Python executor, or set [mistral_actions] mode = router"
    }

    package static func unroutable(action: String, fallbackTopic: String) -> String {
        "action \(action) is not implemented in Swift and could not be relayed: no queue is bound to the fallback topic "
            + "'\(fallbackTopic)'. Start a Python mistral-executor with [executor] topic = \(fallbackTopic)"
    }

    package static func relayFailed(action: String, fallbackTopic: String, error: any Error) -> String {
        "action \(action) could not be relayed to the fallback topic '\(fallbackTopic)': \(describe(error))"
    }

    package static func notRerunnable(action: String) -> String {
        "Request to run the action \(action) was redelivered, but it cannot be re-run safely (safe-rerun is false). "
            + "The previous attempt may or may not have run"
    }

    package static func shutdown(action: String) -> String {
        "action \(action) was cancelled because the mistral-actions worker shut down before it finished"
    }

    package static func malformedRequest(detail: String) -> String {
        "the mistral-actions worker could not read this run_action request: \(detail)"
    }

    package static func describe(_ error: any Error) -> String {
        String(describing: error)
    }

    package static func format(_ seconds: Double) -> String {
        NumberOutOfRange.format(seconds)
    }
}

extension FailureMessages {
    package static func resultTooLarge(action: String, bytes: Int, broker: String) -> String {
        "action \(action) finished, but its result (\(bytes) bytes as JSON) is larger than RabbitMQ accepts "
            + "(\(broker)); return less data from the action, or raise the broker's max_message_size"
    }
}
