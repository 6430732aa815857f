import ActionCatalog
import ActionKit
import ActionSync
import Logging
import MistralProtocol
import OrderedJSON
import OsloMessaging
import Testing
@testable import Worker

/// Numbers in a run_action request that once stopped a worker.
@Suite("Absurd numbers in a request never trap the worker")
struct HostileRequestTests {
    let registry = try! ActionCatalog.registry()

    func context() -> ActionContext {
        ActionContext(actionName: "int32bit.test", security: RequestContext(), execution: ExecutionContext(), logger: Logger(label: "test"))
    }

    @Test("a task timeout of 1e300 seconds runs the action as if it had none")
    func hugeTimeout() async throws {
        let echo = try #require(registry.descriptor(named: "debug.echo"))
        let outcome = await ActionRunner.run(echo, input: ["output": "still here"], context: context(), timeout: 1e300)
        guard case .completed(let result) = outcome else {
            Issue.record("expected completion, got \(outcome)")
            return
        }
        #expect(result == .success("still here"))
    }

    @Test("the request's timeout keeps only positive finite numbers", arguments: [
        (JSON.double(1e300), Optional(1e300)), (.double(.nan), nil), (.double(.infinity), nil), (.double(-.infinity), nil),
        (.integer(-5), nil), (.double(-0.0), nil), (.integer(Int64.max), Double(Int64.max)), (.null, nil),
    ])
    func requestTimeout(timeout: JSON, expected: Double?) throws {
        let request = try RunActionRequest(arguments: [
            // As in the captures: the serialized action is a JSON string.
            "action": .string(#"{"__serial_key": "mistral.actions.dynamic_action.DynamicAction", "__serial_data": "{\"cls_name\": \"X\", \"cls_attrs\": {}, \"data\": {}, \"code_source_id\": \"c\", \"namespace\": \"\"}"}"#),
            "action_ex_id": .null, "safe_rerun": false, "exec_ctx": [:], "timeout": timeout,
        ])
        #expect(request.timeout == expected)
    }

    @Test("timeout messages print absurd numbers as Python would, without trapping", arguments: [
        (1e300, "Timeout after 1e+300 seconds"), (5, "Timeout after 5 seconds"), (0.25, "Timeout after 0.25 seconds"),
        (Double(Int64.max) * 4, "Timeout after 3.6893488147419103e+19 seconds"),
    ])
    func timeoutMessages(seconds: Double, text: String) {
        #expect(FailureMessages.timedOut(action: "a", seconds: seconds).contains(text))
    }

    @Test("a double action input of NaN or infinity is a clear input error", arguments: [Double.nan, .infinity, -.infinity])
    func nonFiniteInput(value: Double) async throws {
        let sleep = try #require(registry.descriptor(named: "debug.sleep"))
        let outcome = await ActionRunner.run(sleep, input: ["seconds": .double(value)], context: context(), timeout: nil)
        guard case .completed(let result) = outcome else {
            Issue.record("expected completion, got \(outcome)")
            return
        }
        #expect(result.error.stringValue?.contains("parameter 'seconds' must be a finite number") == true, "\(result)")
    }

    @Test("debug.echo of infinity succeeds, and its result is written as Python writes it")
    func echoInfinity() async throws {
        let echo = try #require(registry.descriptor(named: "debug.echo"))
        let outcome = await ActionRunner.run(echo, input: ["output": [.double(.infinity), .double(.nan)]], context: context(), timeout: nil)
        guard case .completed(let result) = outcome else {
            Issue.record("expected completion, got \(outcome)")
            return
        }
        let serialized = try result.serialized()
        #expect(try serialized.encodedString(style: .python).contains("[Infinity, NaN]"))
    }
}

@Suite("A database row's numbers never trap the sync")
struct HostileRowTests {
    @Test("a code source at the largest version starts again at 1 instead of overflowing")
    func versionOverflow() {
        let state = SyncState(codeSource: CodeSourceRow(id: "ours", name: "mistral_actions", content: "old", version: .max), definitions: [])
        let plan = SyncPlanner.plan(
            state: state, desired: [DesiredAction(name: "p.a", className: "AAction")], content: "new",
            codeSourceName: "mistral_actions", selection: .all, override: false)
        #expect(plan.codeSource == .update(fromVersion: .max, toVersion: 1))
    }
}
