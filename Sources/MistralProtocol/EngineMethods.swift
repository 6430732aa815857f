import OrderedJSON
import OsloMessaging

/// The engine methods an executor calls, with their exact keyword arguments
/// (oslo dispatches `method(ctxt, **args)`: a missing or extra key is a
/// TypeError in the engine).
public enum EngineMethods {
    /// `on_action_complete(action_ex_id, result, wf_action)`.
    public static let onActionComplete = "on_action_complete"
    /// `report_running_actions(action_ex_ids)`.
    public static let reportRunningActions = "report_running_actions"

    /// The arguments before Mistral's per-argument encoding
    /// (``RPCRequest/init(method:mistralArguments:context:messageID:replyQueue:uniqueID:)`` applies it).
    public static func onActionCompleteArguments(actionExecutionID: String, result: ActionResult) throws(OsloCodecError) -> JSONObject {
        [
            "action_ex_id": .string(actionExecutionID),
            "result": try result.serialized(),
            "wf_action": .bool(false),
        ]
    }

    public static func reportRunningActionsArguments(actionExecutionIDs: [String]) -> JSONObject {
        ["action_ex_ids": .array(actionExecutionIDs.map { .string($0) })]
    }
}
