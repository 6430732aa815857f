// The workload of bench/instructions.sh: the worker's per-action work on
// the hot path without the broker and the action itself: decode a
// run_action request (oslo envelope, context, Mistral's argument encoding,
// the serialized DynamicAction), route it to a Swift action, decode its input
// into a new instance of the action, and encode the
// on_action_complete cast of its echo result. Callgrind counts the
// instructions of N iterations; bench/instructions.sh compares the count
// per action with bench/baseline.json.
//
//   mistral-actions-instructions [ITERATIONS]   (default 1000)
import ActionCatalog
import ActionKit
import MistralProtocol
import OrderedJSON
import OsloMessaging
import Worker

#if canImport(Glibc)
import Glibc
#endif

/// A workflow task's run_action cast of debug.echo, as Mistral 23 sends it
/// (bench/templates.py with fixed ids).
let request: [UInt8] = Array(#"""
{"oslo.version": "2.0", "oslo.message": "{\"method\": \"run_action\", \"args\": {\"action\": \"{\\\"__serial_key\\\": \\\"mistral.actions.dynamic_action.DynamicAction\\\", \\\"__serial_data\\\": \\\"{\\\\\\\"cls_name\\\\\\\": \\\\\\\"DebugEchoAction\\\\\\\", \\\\\\\"cls_attrs\\\\\\\": {}, \\\\\\\"data\\\\\\\": {\\\\\\\"output\\\\\\\": \\\\\\\"echo-bench\\\\\\\"}, \\\\\\\"code_source_id\\\\\\\": \\\\\\\"0b5e11c4-c0de-4000-8000-000000000002\\\\\\\", \\\\\\\"namespace\\\\\\\": \\\\\\\"\\\\\\\"}\\\"}\", \"action_ex_id\": \"\\\"0b5e11c4-0000-4000-8000-000000000001\\\"\", \"safe_rerun\": \"false\", \"exec_ctx\": \"{\\\"workflow_execution_id\\\": \\\"0b5e11c4-0000-4000-8000-000000000001\\\", \\\"task_execution_id\\\": \\\"0b5e11c4-0000-4000-8000-000000000001\\\", \\\"workflow_name\\\": \\\"bench_echo\\\", \\\"action_execution_id\\\": \\\"0b5e11c4-0000-4000-8000-000000000001\\\", \\\"callback_url\\\": \\\"/v2/action_executions/0b5e11c4-0000-4000-8000-000000000001\\\"}\", \"timeout\": null}, \"_unique_id\": \"0b5e11c400000000000000000000000a\", \"_context_user\": null, \"_context_project_id\": null, \"_context_system_scope\": null, \"_context_project\": null, \"_context_domain\": null, \"_context_user_domain\": null, \"_context_project_domain\": null, \"_context_is_admin\": false, \"_context_read_only\": false, \"_context_show_deleted\": false, \"_context_auth_token\": null, \"_context_request_id\": \"req-0b5e11c400000000000000000000000b\", \"_context_global_request_id\": null, \"_context_resource_uuid\": null, \"_context_roles\": [], \"_context_user_identity\": \"- - - - -\", \"_context_is_admin_project\": true, \"_context_user_name\": null, \"_context_project_name\": null, \"_context_domain_name\": null, \"_context_user_domain_name\": null, \"_context_project_domain_name\": null, \"_context_auth_uri\": \"\", \"_context_auth_cacert\": null, \"_context_insecure\": false, \"_context_service_catalog\": {}, \"_context_region_name\": null, \"_context_is_trust_scoped\": false, \"_context_redelivered\": false, \"_context_expires_at\": null, \"_context_trust_id\": null, \"_context_is_target\": false, \"_context_root_execution_id\": \"0b5e11c4-0000-4000-8000-000000000001\"}"}
"""#.utf8)
let codeSourceID = "0b5e11c4-c0de-4000-8000-000000000002"

func fail(_ message: String) -> Never {
    print("mistral-actions-instructions: \(message)")
    exit(1)
}

let iterations = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? -1 : 1000
guard iterations >= 0 else { fail("ITERATIONS must be a whole number >= 0") }
let registry: ActionRegistry
do { registry = try ActionCatalog.registry() } catch { fail("catalog: \(error)") }
let router = ActionRouter(registry: registry, codeSourceIDs: [codeSourceID])

/// One action's worth of work; returns the size of the completion body.
func handle(_ body: [UInt8]) throws -> Int {
    let rpc = try RPCRequest(decodingBody: body)
    guard rpc.method == RunActionRequest.method else { fail("not a run_action: \(rpc.method)") }
    let run = try RunActionRequest(arguments: rpc.arguments)
    guard case .swift(let descriptor, let input) = router.route(run.action), let executionID = run.actionExecutionID else {
        fail("the request did not route to a Swift action")
    }
    // The action's input decoded into a new instance, as the worker does
    // before running it (the echo itself is not counted: it returns its input).
    _ = try descriptor.instantiate(input: input)
    let result = ActionResult.success(input["output"] ?? .null)
    let completion = try RPCRequest(
        method: EngineMethods.onActionComplete,
        mistralArguments: try EngineMethods.onActionCompleteArguments(actionExecutionID: executionID, result: result),
        context: rpc.context
    )
    return try completion.encodedBody().count
}

var total = 0
for _ in 0..<iterations {
    do { total &+= try handle(request) } catch { fail("\(error)") }
}
print("iterations \(iterations) bytes \(total)")
