import Foundation
import MistralProtocol
import OrderedJSON
import OsloMessaging
import Testing

/// One published message of a capture file.
struct CapturedMessage {
    let file: String
    let body: [UInt8]
    let decoded: JSON

    /// The message as a request; `nil` for replies.
    func request() throws -> RPCRequest? {
        if case .request(let request) = try RPCMessage(decodingBody: body) { return request }
        return nil
    }

    static func load(_ file: String) throws -> [CapturedMessage] {
        let url = try #require(Bundle.module.url(forResource: file, withExtension: "jsonl", subdirectory: "Fixtures"))
        let text = try String(contentsOf: url, encoding: .utf8)
        return try text.split(separator: "\n").compactMap { line in
            let event = try JSON(parsing: String(line))
            guard event["event"]?.stringValue == "publish", let body = event["body"]?.stringValue else { return nil }
            return CapturedMessage(file: file, body: Array(body.utf8), decoded: event["decoded"] ?? .null)
        }
    }
}

@Suite("run_action decoding against real Mistral 23 captures")
struct RunActionDecodingTests {
    static let files = ["01-workflow-echo-noop", "02-run-action", "03-adhoc-action", "04-dynamic-action", "06-failing-actions"]

    @Test("every captured run_action decodes, matching the capture's own decoding", arguments: files)
    func decodesCapturedRunAction(file: String) throws {
        var seen = 0
        for message in try CapturedMessage.load(file) {
            guard let request = try message.request(), request.method == RunActionRequest.method else { continue }
            seen += 1
            let decoded = try RunActionRequest(arguments: request.arguments)
            let expected = try #require(message.decoded["args_decoded"])
            #expect(decoded.actionExecutionID == expected["action_ex_id"]?.stringValue)
            #expect(decoded.safeRerun == (expected["safe_rerun"]?.boolValue ?? false))
            #expect(decoded.timeout == expected["timeout"]?.doubleValue)
            #expect(JSON.object(decoded.executionContext) == (expected["exec_ctx"] ?? [:]))
            #expect(Set(request.arguments.keys) == RunActionRequest.argumentNames)

            let serialKey = try #require(expected["action"]?["__serial_key"]?.stringValue)
            switch decoded.action {
            case .dynamic(let action):
                #expect(serialKey == SerializedAction.dynamicKey)
                let data = try #require(expected["action"]?["__serial_data_decoded"])
                #expect(action.className == data["cls_name"]?.stringValue)
                #expect(action.codeSourceID == data["code_source_id"]?.stringValue)
                #expect(JSON.object(action.data) == data["data"])
            case .adHoc(let base):
                #expect(serialKey == SerializedAction.adHocKey)
                if case .adHoc = base { Issue.record("ad-hoc base should be unwrapped to a concrete action") }
            case .python(let key, let className):
                #expect(key == serialKey)
                #expect(className == expected["action"]?["__serial_data_decoded"]?["cls"]?.stringValue)
            }
        }
        #expect(seen > 0, "no run_action in \(file)")
    }

    @Test("an ad-hoc action's innermost base action is found")
    func adHocInnermost() throws {
        let messages = try CapturedMessage.load("03-adhoc-action")
        let requests = try messages.compactMap { try $0.request() }.filter { $0.method == "run_action" }
        let first = try #require(requests.first)
        let decoded = try RunActionRequest(arguments: first.arguments)
        guard case .adHoc = decoded.action else {
            Issue.record("expected an ad-hoc action, got \(decoded.action)")
            return
        }
        #expect(decoded.action.innermost == .python(serialKey: SerializedAction.baseKey, className: "mistral.actions.std_actions.EchoAction"))
    }

    @Test("an ad-hoc wrapper around a dynamic action resolves to the dynamic action")
    func adHocAroundDynamic() throws {
        let dynamic = try MistralSerializedObject(key: SerializedAction.dynamicKey, data: [
            "cls_name": "DebugEchoAction", "cls_attrs": [:], "data": ["output": "hi"],
            "code_source_id": "cs-1", "namespace": "",
        ]).encoded()
        let adHoc = try MistralSerializedObject(key: SerializedAction.adHocKey, data: [
            "base_action": .string(try dynamic.encodedString(style: .python)),
        ]).encoded()
        let action = try SerializedAction(serialized: adHoc)
        guard case .dynamic(let inner) = action.innermost else {
            Issue.record("expected a dynamic action, got \(action)")
            return
        }
        #expect(inner.className == "DebugEchoAction")
        #expect(inner.codeSourceID == "cs-1")
        #expect(inner.data["output"] == "hi")
    }

    @Test("malformed run_action arguments give typed errors", arguments: [
        (JSONObject(), "run_action without the 'action' argument"),
        (["action": "not json"] as JSONObject, "malformed argument"),
        (["action": "{\"__serial_data\": \"{}\"}"] as JSONObject, "__serial_key"),
        (["action": "{\"__serial_key\": \"mistral.actions.dynamic_action.DynamicAction\", \"__serial_data\": \"{}\"}"] as JSONObject, "cls_name"),
        (["action": "{\"__serial_key\": \"mistral.actions.adhoc.AdHocAction\", \"__serial_data\": \"{}\"}"] as JSONObject, "base_action"),
        (["action": "{\"__serial_key\": \"k\", \"__serial_data\": \"{}\"}", "safe_rerun": "\"yes\""] as JSONObject, "safe_rerun"),
        (["action": "{\"__serial_key\": \"k\", \"__serial_data\": \"{}\"}", "exec_ctx": "[]"] as JSONObject, "exec_ctx"),
        (["action": "{\"__serial_key\": \"k\", \"__serial_data\": \"{}\"}", "action_ex_id": "42"] as JSONObject, "action_ex_id"),
    ])
    func malformedArguments(arguments: JSONObject, expectedText: String) {
        #expect {
            _ = try RunActionRequest(arguments: arguments)
        } throws: { error in
            "\(error)".contains(expectedText)
        }
    }

    @Test("deeply nested ad-hoc actions are refused, not recursed forever")
    func nestingLimit() throws {
        var action = try MistralSerializedObject(key: "k", data: ["cls": "x"]).encoded()
        // Each level escapes the one inside it, doubling the backslashes:
        // 10 levels (limit 8) keep the text small.
        for _ in 0..<10 {
            action = try MistralSerializedObject(key: SerializedAction.adHocKey, data: [
                "base_action": .string(try action.encodedString(style: .python)),
            ]).encoded()
        }
        #expect(throws: MistralProtocolError.self) { try SerializedAction(serialized: action) }
    }
}

@Suite("Results and engine calls")
struct ResultEncodingTests {
    @Test("on_action_complete re-encodes byte for byte what Mistral's executor sent")
    func onActionCompleteMatchesCapture() throws {
        var checked = 0
        for message in try CapturedMessage.load("01-workflow-echo-noop") {
            guard let captured = try message.request(), captured.method == EngineMethods.onActionComplete else { continue }
            let result = try ActionResult(serialized: try #require(try captured.mistralArgument("result")))
            let actionExecutionID = try #require(try captured.mistralArgument("action_ex_id")?.stringValue)
            let ours = try RPCRequest(
                method: EngineMethods.onActionComplete,
                mistralArguments: try EngineMethods.onActionCompleteArguments(actionExecutionID: actionExecutionID, result: result),
                context: captured.context,
                uniqueID: captured.uniqueID
            )
            #expect(ours.arguments == captured.arguments)
            #expect(try ours.encodedBody() == message.body)
            checked += 1
        }
        #expect(checked == 2)
    }

    @Test("error and cancel results keep their values")
    func resultRoundTrip() throws {
        for result in [
            ActionResult.success(["a": [1, 2.5, "x"]]),
            ActionResult.failure("debug.fail: boom"),
            ActionResult.failure(["code": 7, "reason": "error result"] as JSON),
            ActionResult(cancel: true),
        ] {
            #expect(try ActionResult(serialized: try result.serialized()) == result)
        }
    }

    @Test("report_running_actions carries the ids as Mistral encodes a list")
    func heartbeatArguments() throws {
        let request = try RPCRequest(
            method: EngineMethods.reportRunningActions,
            mistralArguments: EngineMethods.reportRunningActionsArguments(actionExecutionIDs: ["a", "b"]),
            context: RequestContext()
        )
        #expect(request.arguments["action_ex_ids"] == "[\"a\", \"b\"]")
    }
}
