import MistralProtocol
import Foundation
import OrderedJSON
import OsloMessaging
import Testing

/// Every published and delivered body of every capture decodes, matches the
/// capture's `decoded` section, and re-encodes byte for byte.
@Suite struct CaptureTests {
    @Test func fixturesArePresent() throws {
        #expect(Fixtures.captureFiles.count == 10)
        #expect(try Fixtures.allEvents().count == 208)
    }

    @Test func everyBodyDecodesMatchesAndReencodesIdentically() throws {
        var methods: [String: Int] = [:]
        var replies = (results: 0, failures: 0)
        var calls = 0
        for event in try Fixtures.allEvents() {
            let decoded = event.decoded
            let expectedMessage = try #require(decoded["msg"]?.objectValue, "\(event.location)")
            #expect(decoded["oslo_version"] == "2.0")

            let message = try RPCMessage(decodingBody: event.bodyBytes)
            #expect(try message.encodedBody() == event.bodyBytes, "\(event.location): re-encoding differs")

            switch message {
            case .request(let request):
                methods[request.method, default: 0] += 1
                if request.isCall { calls += 1 }
                try checkRequest(request, expected: expectedMessage, argumentsDecoded: decoded["args_decoded"], event: event)
            case .reply(let reply):
                try checkReply(reply, expected: expectedMessage, event: event)
                if reply.failure != nil { replies.failures += 1 } else { replies.results += 1 }
            }
        }
        // What the scenarios cover (publish + deliver of each message).
        #expect(methods["run_action"] == 38)
        #expect(methods["report_running_actions"] == 36)
        #expect(methods["on_action_complete"] == 28)
        #expect(methods["start_task"] == 28)
        #expect(methods["start_action"] == 12)
        #expect(methods["start_workflow"] == 18)
        #expect(methods["no_such_method"] == 2)
        #expect(replies.results == 42)
        #expect(replies.failures == 4)
        #expect(calls == 46)
    }

    private func checkRequest(_ request: RPCRequest, expected: JSONObject, argumentsDecoded: JSON?, event: CaptureEvent) throws {
        let location = event.location
        #expect(.string(request.method) == expected["method"], "\(location)")
        #expect(request.arguments.isIdentical(to: try #require(expected["args"]?.objectValue)), "\(location)")
        #expect(request.messageID.map(JSON.string) == expected["_msg_id"], "\(location)")
        #expect(request.replyQueue.map(JSON.string) == expected["_reply_q"], "\(location)")
        #expect(request.uniqueID.map(JSON.string) == expected["_unique_id"], "\(location)")
        #expect(request.isCall == (expected["_msg_id"] != nil), "\(location)")
        if request.isCall {
            #expect(expected["_timeout"] == .null)
            #expect(request.callMonitorTimeout == nil)
            #expect(event.event["properties"]?["expiration"] != nil, "\(location): calls carry an expiration")
        }
        let expectedContext = expected.filter { $0.key.hasPrefix("_context_") }
        #expect(request.context.wireFields.isIdentical(to: expectedContext), "\(location)")
        #expect(request.additionalFields.isEmpty, "\(location)")
        #expect(request.namespace == nil && request.version == nil)

        // Mistral arguments, every nesting level.
        let expectedArguments = try #require(argumentsDecoded?.objectValue, "\(location)")
        let arguments = try request.mistralArguments()
        #expect(arguments.keys == expectedArguments.keys, "\(location)")
        for (name, expectedValue) in expectedArguments {
            let value = try #require(arguments[name])
            #expect(matchesAnnotated(value, expectedValue), "\(location) args.\(name): \(value) vs \(expectedValue)")
            #expect(try request.mistralArgument(name) == value)
            // Our encoder writes each argument exactly as Mistral did.
            #expect(try MistralSerialization.encode(value) == request.arguments[name], "\(location) args.\(name)")
        }
    }

    private func checkReply(_ reply: RPCReply, expected: JSONObject, event: CaptureEvent) throws {
        let location = event.location
        #expect(reply.result == expected["result"], "\(location)")
        #expect(.string(reply.messageID) == expected["_msg_id"], "\(location)")
        #expect(reply.uniqueID.map(JSON.string) == expected["_unique_id"], "\(location)")
        #expect(.bool(reply.ending) == expected["ending"], "\(location)")
        #expect(reply.ending)
        #expect(reply.additionalFields.isEmpty)
        #expect(event.event["properties"]?["expiration"] == nil, "\(location): replies have no expiration")
        if let failure = reply.failure {
            let expectedFailure = try #require(event.decoded["failure_decoded"], "\(location)")
            #expect(.string(failure.className) == expectedFailure["class"])
            #expect(.string(failure.module) == expectedFailure["module"])
            #expect(.string(failure.message) == expectedFailure["message"])
            #expect(.array(failure.traceback.map(JSON.string)) == expectedFailure["tb"])
            #expect(.array(failure.arguments) == expectedFailure["args"])
            #expect(try failure.encodedString() == expected["failure"]?.stringValue)
            #expect(reply.result == .null)
        } else {
            #expect(expected["failure"] == .null)
        }
        if let expectedResult = event.decoded["result_decoded"] {
            #expect(matchesAnnotated(try reply.mistralResult(), expectedResult), "\(location)")
        }
    }

    @Test func runActionCastFields() throws {
        let event = try Fixtures.runActionCast()
        let request = try RPCRequest(decodingBody: event.bodyBytes)
        #expect(request.method == "run_action")
        #expect(!request.isCall)
        #expect(request.uniqueID == "1bdde40d41bd48e7ab54bf64e4b2b688")
        #expect(request.arguments.keys == ["action", "action_ex_id", "safe_rerun", "exec_ctx", "timeout"])
        #expect(try request.mistralArgument("action_ex_id") == "fe126647-8db3-40a0-8b41-7a4b6247c00e")
        #expect(try request.mistralArgument("safe_rerun") == true)
        #expect(try request.mistralArgument("timeout") == 30)
        #expect(try request.mistralArgument("exec_ctx")?["workflow_name"] == "harness_echo_noop")
        #expect(try request.mistralArgument("nope") == nil)

        let actionArgument = try #require(try request.mistralArgument("action"))
        let action = try #require(try MistralSerializedObject(decoding: actionArgument))
        #expect(action.key == "mistral_lib.actions.base.Action")
        #expect(action.data["cls"] == "mistral.actions.std_actions.EchoAction")
        #expect(action.data["data"] == ["output": "hello from the harness", "_delay": 0.0])
        #expect(try action.encoded() == request.mistralArgument("action"))

        let context = request.context
        #expect(context.count == 33)
        #expect(context.requestID == "req-1b71c0e5-5b8d-4a17-b451-7fab0e85e6a3")
        #expect(context.rootExecutionID == "6ef74495-d592-4af4-85da-cdf92256481e")
        #expect(context.userIdentity == "- - - - -")
        #expect(context.isAdmin == false)
        #expect(context.isAdminProject == true)
        #expect(context.redelivered == false)
        #expect(context.roles == [])
        #expect(context.authURI == "")
        #expect(context.authToken == nil)
        #expect(context.serviceCatalog == [:])
        #expect(context.user == nil)
        #expect(context.fields.keys.first == "user")
        #expect(context.fields.keys.last == "root_execution_id")
    }

    @Test func adHocActionNestsFourLevels() throws {
        let event = try #require(try Fixtures.events(in: "03-adhoc-action.jsonl").first {
            $0.kind == "publish" && $0.decoded["msg"]?["method"] == "run_action"
        })
        let request = try RPCRequest(decodingBody: event.bodyBytes)
        let actionArgument = try #require(try request.mistralArgument("action"))
        let adHoc = try #require(try MistralSerializedObject(decoding: actionArgument))
        #expect(adHoc.key == "mistral.actions.adhoc.AdHocAction")
        let baseText = try #require(adHoc.data["base_action"])
        let base = try #require(try MistralSerializedObject(decoding: try MistralSerialization.decode(baseText)))
        #expect(base.key == "mistral_lib.actions.base.Action")
        #expect(base.data["data"]?["output"] == "Hello, run-action!")
    }

    @Test func contextCopiedOntoAnOutgoingMessageMatchesPython() throws {
        // The Python executor's on_action_complete for scenario 01 carries the
        // run_action's context unchanged; rebuild it from our side.
        let events = try Fixtures.events(in: "01-workflow-echo-noop.jsonl")
        let runAction = try RPCRequest(decodingBody: try Fixtures.runActionCast().bodyBytes)
        let completion = try #require(events.first { $0.kind == "publish" && $0.decoded["msg"]?["method"] == "on_action_complete" })
        let expected = try RPCRequest(decodingBody: completion.bodyBytes)

        let result = MistralSerializedObject(
            key: "mistral_lib.actions.types.Result",
            data: ["data": "hello from the harness", "error": nil, "cancel": false]
        )
        let ours = try RPCRequest(
            method: "on_action_complete",
            mistralArguments: [
                "action_ex_id": try #require(try runAction.mistralArgument("action_ex_id")),
                "result": try result.encoded(),
                "wf_action": false,
            ],
            context: runAction.context,
            uniqueID: expected.uniqueID
        )
        #expect(try ours.encodedBody() == completion.bodyBytes)
    }

    @Test func callReplyMatchesPython() throws {
        // Scenario 02: the executor's reply to a run_action call.
        let events = try Fixtures.events(in: "02-run-action.jsonl")
        let call = try RPCRequest(decodingBody: try #require(events.first { $0.kind == "publish" && $0.decoded["msg"]?["method"] == "run_action" }).bodyBytes)
        #expect(call.isCall)
        let replyEvent = try #require(events.first { $0.kind == "publish" && $0.event["routing_keys"]?[0] == .string(call.replyQueue ?? "") })
        let expected = try RPCReply(decodingBody: replyEvent.bodyBytes)
        let result = MistralSerializedObject(key: "mistral_lib.actions.types.Result", data: ["data": "run-action run_sync", "error": nil, "cancel": false])
        let ours = try RPCReply(mistralResult: try result.encoded(), messageID: try #require(call.messageID), uniqueID: expected.uniqueID)
        #expect(try ours.encodedBody() == replyEvent.bodyBytes)
    }
}
