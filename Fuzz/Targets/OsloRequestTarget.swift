import ActionCatalog
import ActionKit
import Logging
import MistralProtocol
import OrderedJSON
import OsloMessaging
import Worker

/// An AMQP message body taken the way `Worker.handle(_:)` takes it: the oslo
/// envelope and RPC fields, the `run_action` arguments, the route through
/// the catalog's registry, the action's input, a run with the request's
/// timeout, and the encoding of the result for the engine or the caller.
///
/// Actions run with no services, so OpenStack actions and `system.exec`
/// fail at once; `debug.sleep` has its input checked and a no-op runs in
/// its place (its sleep is the action-input target's business).
public enum OsloRequestTarget {
    public enum Outcome: Sendable, Equatable, CustomStringConvertible {
        /// The body is no oslo RPC request (the worker drops it).
        case unreadable(String)
        /// An RPC method other than `run_action`.
        case unsupportedMethod(String)
        /// `run_action` with arguments that do not decode (the worker reports it).
        case malformedRunAction(String)
        /// Not one of ours: relayed byte for byte in router mode.
        case relayed(action: String)
        /// Ours: run, with its result (and whether the result could be encoded).
        case ran(action: String, result: ActionResult, encoded: Bool)

        public var description: String {
            switch self {
            case .unreadable(let detail): return "unreadable: \(detail)"
            case .unsupportedMethod(let method): return "unsupported method \(method)"
            case .malformedRunAction(let detail): return "malformed run_action: \(detail)"
            case .relayed(let action): return "relayed \(action)"
            case .ran(let action, let result, let encoded):
                let shown = result.isError ? "error \(result.error.pythonText)" : "data \(result.data.pythonText)"
                return "ran \(action): \(shown)\(encoded ? "" : " (result not encodable)")"
            }
        }
    }

    static let registry: ActionRegistry = (try? ActionCatalog.registry()) ?? emptyRegistry()
    static let router = ActionRouter(registry: registry, codeSourceIDs: [])
    static let noop = registry.descriptor(named: "debug.noop")
    static let logger: Logger = {
        var logger = Logger(label: "fuzz.oslo-request")
        logger.logLevel = .critical
        return logger
    }()

    public static func run(_ data: [UInt8]) async -> Outcome {
        let request: RPCRequest
        do {
            request = try RPCRequest(decodingBody: data)
        } catch {
            return .unreadable(error.description)
        }
        // What the worker reads or logs of every request.
        _ = request.uniqueID
        _ = request.context.loggingMetadata
        _ = request.context.redactedFields
        _ = request.context.description
        _ = RPCServer.keepAliveInterval(request.callMonitorTimeout, logger: logger)
        guard request.method == RunActionRequest.method else {
            if request.isCall {
                _ = encode(reply: .failure("Endpoint does not support RPC method \(request.method)"), to: request)
            }
            return .unsupportedMethod(request.method)
        }
        let runRequest: RunActionRequest
        do {
            runRequest = try RunActionRequest(arguments: request.arguments)
        } catch {
            let text = FailureMessages.malformedRequest(detail: error.description)
            let executionID = (try? request.mistralArgument("action_ex_id"))??.stringValue
            _ = encode(.failure(text), actionExecutionID: executionID, request: request)
            return .malformedRunAction(error.description)
        }
        switch router.route(runRequest.action) {
        case .foreign(let name):
            return .relayed(action: name)
        case .swift(let descriptor, let input):
            let actionName = descriptor.qualifiedName(prefix: "int32bit")
            let execution = ExecutionContext(json: runRequest.executionContext)
            let context = ActionContext(
                actionName: actionName, security: request.context, execution: execution, logger: logger)
            let result: ActionResult
            if request.context.redelivered && !runRequest.safeRerun {
                result = .failure(FailureMessages.notRerunnable(action: actionName))
            } else {
                var runnable = descriptor
                if descriptor.name == "debug.sleep", let noop {
                    // Checked like the real one, then replaced by a no-op.
                    if case .failure(let error) = Result(catching: { () throws(ActionInputError) in
                        try descriptor.instantiate(input: input)
                    }) {
                        return .ran(action: actionName, result: .failure(error.description), encoded: true)
                    }
                    runnable = noop
                }
                let runInput = runnable.name == descriptor.name ? input : JSONObject()
                switch await ActionRunner.run(runnable, input: runInput, context: context, timeout: runRequest.timeout) {
                case .completed(let completed): result = completed
                case .timedOut(let timedOut): result = timedOut
                case .cancelled: result = .failure(FailureMessages.shutdown(action: actionName))
                }
            }
            let encoded = encode(result, actionExecutionID: runRequest.actionExecutionID, request: request)
            return .ran(action: actionName, result: result, encoded: encoded)
        }
    }

    /// The message the worker would send with `result`: `on_action_complete`
    /// to the engine, or the reply of a synchronous call. False when the
    /// result cannot be encoded (the worker then sends an error instead).
    static func encode(_ result: ActionResult, actionExecutionID: String?, request: RPCRequest) -> Bool {
        if let actionExecutionID {
            do {
                let completion = try RPCRequest(
                    method: EngineMethods.onActionComplete,
                    mistralArguments: try EngineMethods.onActionCompleteArguments(
                        actionExecutionID: actionExecutionID, result: result),
                    context: request.context)
                _ = try completion.encodedBody()
                return true
            } catch {
                return false
            }
        }
        return encode(reply: result, to: request)
    }

    static func encode(reply result: ActionResult, to request: RPCRequest) -> Bool {
        do {
            let reply = try RPCReply(mistralResult: try result.serialized(), messageID: request.messageID ?? "")
            _ = try reply.encodedBody()
            return true
        } catch {
            return false
        }
    }

    private static func emptyRegistry() -> ActionRegistry {
        // Only reached when the catalog holds duplicate names, which its own tests forbid.
        (try? ActionRegistry([])) ?? { preconditionFailure("an empty registry is valid") }()
    }
}
