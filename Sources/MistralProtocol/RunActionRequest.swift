import OrderedJSON
import OsloMessaging

/// The arguments of the engine's `run_action(action, action_ex_id,
/// safe_rerun, exec_ctx, timeout)`.
public struct RunActionRequest: Sendable, Equatable {
    public var action: SerializedAction
    /// The action execution id; `nil` for a synchronous run-action (an RPC
    /// call answered on the reply queue).
    public var actionExecutionID: String?
    public var safeRerun: Bool
    /// `exec_ctx` as sent (workflow/task/action execution ids, callback URL).
    public var executionContext: JSONObject
    /// The task's `timeout:` in seconds, when set.
    public var timeout: Double?

    public static let method = "run_action"
    public static let argumentNames: Set<String> = ["action", "action_ex_id", "safe_rerun", "exec_ctx", "timeout"]

    /// Decodes the RPC `args` object.
    public init(arguments: JSONObject) throws(MistralProtocolError) {
        func decode(_ name: String) throws(MistralProtocolError) -> JSON {
            guard let value = arguments[name] else { return .null }
            do { return try MistralSerialization.decode(value, field: "args." + name) } catch {
                throw .malformedArgument(detail: error.description)
            }
        }
        guard arguments["action"] != nil else { throw .missingArgument("action") }
        action = try SerializedAction(serialized: try decode("action"))

        switch try decode("action_ex_id") {
        case .null: actionExecutionID = nil
        case .string(let id): actionExecutionID = id
        case let other: throw .wrongArgumentType("action_ex_id", expected: "a string or null", got: other.typeName)
        }
        switch try decode("safe_rerun") {
        case .null: safeRerun = false
        case .bool(let value): safeRerun = value
        case let other: throw .wrongArgumentType("safe_rerun", expected: "a boolean", got: other.typeName)
        }
        switch try decode("exec_ctx") {
        case .null: executionContext = JSONObject()
        case .object(let object): executionContext = object
        case let other: throw .wrongArgumentType("exec_ctx", expected: "an object", got: other.typeName)
        }
        switch try decode("timeout") {
        case .null: timeout = nil
        case .integer(let value): timeout = value > 0 ? Double(value) : nil
        case .double(let value): timeout = value > 0 && value.isFinite ? value : nil
        case let other: throw .wrongArgumentType("timeout", expected: "a number or null", got: other.typeName)
        }
    }

    public init(
        action: SerializedAction,
        actionExecutionID: String?,
        safeRerun: Bool = false,
        executionContext: JSONObject = JSONObject(),
        timeout: Double? = nil
    ) {
        self.action = action
        self.actionExecutionID = actionExecutionID
        self.safeRerun = safeRerun
        self.executionContext = executionContext
        self.timeout = timeout
    }
}
