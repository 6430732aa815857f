import OrderedJSON
import OsloMessaging
import Testing

@Suite struct RemoteFailureTests {
    @Test func decodesCapturedFailures() throws {
        let events = try Fixtures.events(in: "09-rpc-failures.jsonl").filter { $0.kind == "publish" }
        let failures = try events.compactMap { try RPCReply(decodingBody: $0.bodyBytes).failure }
        #expect(failures.count == 2)
        let invalidAction = failures[0]
        #expect(invalidAction.className == "InvalidActionException")
        #expect(invalidAction.module == "mistral.exceptions")
        #expect(invalidAction.message == "Failed to find action [action_name=no.such.action]")
        #expect(invalidAction.arguments == ["400: Failed to find action [action_name=no.such.action]"])
        #expect(invalidAction.keywordArguments.isEmpty)
        #expect(invalidAction.traceback.first == "Traceback (most recent call last):\n")
        #expect(invalidAction.description == "mistral.exceptions.InvalidActionException: Failed to find action [action_name=no.such.action]")
        #expect(failures[1].className == "NoSuchMethod")
        #expect(failures[1].module == "oslo_messaging.rpc.dispatcher")
    }

    @Test func encodesOsloLayout() throws {
        let failure = RemoteFailure(className: "ValueError", module: "builtins", message: "bad \"value\" é")
        #expect(try failure.encodedString() == #"{"class": "ValueError", "module": "builtins", "message": "bad \"value\" \u00e9", "tb": [], "args": ["bad \"value\" \u00e9"], "kwargs": {}}"#)
        #expect(try RemoteFailure(decoding: failure.encodedString()) == failure)
    }

    @Test func mistralFailure() throws {
        let failure = RemoteFailure.mistral("action x is not known")
        #expect(failure.className == "MistralException")
        #expect(failure.module == "mistral.exceptions")
        #expect(failure.arguments == ["action x is not known"])
        #expect(failure.traceback.count == 1)
        #expect(RemoteFailure.mistral("m", className: "ActionException").description == "mistral.exceptions.ActionException: m")
    }

    @Test func tolerantDecoding() throws {
        let minimal = try RemoteFailure(decoding: #"{"class": "X", "extra": [1]}"#)
        #expect(minimal.className == "X")
        #expect(minimal.module == "")
        #expect(minimal.message == "")
        #expect(minimal.traceback == [])
        #expect(minimal.arguments == [])
        #expect(minimal.additionalFields == ["extra": [1]])
        #expect(try minimal.encodedString() == #"{"class": "X", "module": "", "message": "", "tb": [], "args": [], "kwargs": {}, "extra": [1]}"#)
        #expect(try RemoteFailure(decoding: #"{"class": null, "module": null, "tb": null, "args": null, "kwargs": null}"#).className == "")
    }

    @Test func decodingErrors() {
        for (text, field) in [
            ("nope", "failure"), ("[]", "failure"), (#"{"class": 1}"#, "failure.class"), (#"{"message": []}"#, "failure.message"),
            (#"{"tb": "x"}"#, "failure.tb"), (#"{"args": {}}"#, "failure.args"), (#"{"kwargs": []}"#, "failure.kwargs"),
        ] {
            let error = codecError { _ = try RemoteFailure(decoding: text) }
            #expect(error?.code == .invalidFailure, "\(text)")
            #expect(error?.field == field, "\(text)")
        }
    }
}
