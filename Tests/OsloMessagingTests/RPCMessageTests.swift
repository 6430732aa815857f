import OrderedJSON
import OsloMessaging
import Testing

@Suite struct RPCMessageTests {
    private func requestError(_ inner: String) throws -> OsloCodecError? {
        let body = envelope(inner)
        return codecError { _ = try RPCRequest(decodingBody: body) }
    }

    private func replyError(_ inner: String) throws -> OsloCodecError? {
        let body = envelope(inner)
        return codecError { _ = try RPCReply(decodingBody: body) }
    }

    @Test func requestFieldErrors() throws {
        #expect(try requestError(#"{"args": {}}"#)?.code == .missingField)
        #expect(try requestError(#"{"args": {}}"#)?.field == "method")
        #expect(try requestError(#"{"method": null}"#)?.code == .invalidFieldType)
        #expect(try requestError(#"{"method": 7}"#)?.field == "method")
        #expect(try requestError(#"{"method": "m", "args": []}"#)?.field == "args")
        #expect(try requestError(#"{"method": "m", "args": "{}"}"#)?.code == .invalidFieldType)
        #expect(try requestError(#"{"method": "m", "args": null}"#)?.code == .invalidFieldType)
        #expect(try requestError(#"{"method": "m", "_msg_id": 5}"#)?.field == "_msg_id")
        #expect(try requestError(#"{"method": "m", "_reply_q": ["q"]}"#)?.field == "_reply_q")
        #expect(try requestError(#"{"method": "m", "_timeout": "30"}"#)?.field == "_timeout")
        #expect(try requestError(#"{"method": "m", "_timeout": true}"#)?.code == .invalidFieldType)
        #expect(try requestError(#"{"method": "m", "_unique_id": {}}"#)?.field == "_unique_id")
        #expect(try requestError(#"{"method": "m", "namespace": 1}"#)?.field == "namespace")
        #expect(try requestError(#"{"method": "m", "version": 1.0}"#)?.field == "version")
    }

    @Test func requestDefaultsAndTolerance() throws {
        let request = try RPCRequest(decodingBody: envelope(#"{"method": "m", "_msg_id": null, "x-extra": [1], "_timeout": 30, "namespace": null}"#))
        #expect(request.arguments.isEmpty)
        #expect(!request.isCall)
        #expect(request.callMonitorTimeout == 30)
        #expect(request.additionalFields == ["x-extra": [1]])
        #expect(request.namespace == nil)
        #expect(request.context.count == 0)
        // Unknown keys are kept; `_timeout` keeps its integer form.
        #expect(String(decoding: try request.encodedMessageText(), as: UTF8.self) == #"{"method": "m", "args": {}, "_timeout": 30, "x-extra": [1]}"#)
    }

    @Test func encodesInOsloOrder() throws {
        var context = RequestContext(fields: ["user": nil, "request_id": "req-1"])
        context["trace_info"] = ["hmac_key": "secret"]
        let request = RPCRequest(
            method: "echo",
            arguments: ["value": "\"x\""],
            context: context,
            namespace: "ns",
            version: "1.1",
            messageID: "m1",
            replyQueue: "reply_q1",
            uniqueID: "u1",
            additionalFields: ["extra": true, "method": "ignored", "_context_x": "ignored"]
        )
        let text = String(decoding: try request.encodedMessageText(), as: UTF8.self)
        #expect(text == #"{"method": "echo", "args": {"value": "\"x\""}, "namespace": "ns", "version": "1.1", "_msg_id": "m1", "_reply_q": "reply_q1", "_timeout": null, "_unique_id": "u1", "_context_user": null, "_context_request_id": "req-1", "_context_trace_info": {"hmac_key": "secret"}, "extra": true}"#)
        let decoded = try RPCRequest(decodingBody: try request.encodedBody())
        #expect(decoded.isCall)
        #expect(decoded.context == context)
        #expect(decoded.namespace == "ns")

        var withTimeout = request
        withTimeout.callMonitorTimeout = 2.5
        #expect(String(decoding: try withTimeout.encodedMessageText(), as: UTF8.self).contains(#""_timeout": 2.5"#))
    }

    @Test func newRequestsGetFreshUniqueIDs() {
        let first = RPCRequest(method: "m", arguments: [:], context: RequestContext())
        let second = RPCRequest(method: "m", arguments: [:], context: RequestContext())
        #expect(first.uniqueID != second.uniqueID)
        #expect(MessageID.isHexIdentifier(first.uniqueID ?? ""))
    }

    @Test func unencodableValuesAreErrors() {
        var deep: JSON = 1
        for _ in 0...JSONParsingOptions.defaultMaximumDepth { deep = [deep] }
        let request = RPCRequest(method: "m", arguments: ["x": deep], context: RequestContext())
        #expect(codecError { _ = try request.encodedBody() }?.code == .unencodable)
        let reply = RPCReply(result: deep, messageID: "m")
        #expect(codecError { _ = try reply.encodedBody() }?.code == .unencodable)
    }

    @Test func replyFieldErrors() throws {
        #expect(try replyError(#"{"result": null}"#)?.code == .missingField)
        #expect(try replyError(#"{"result": null}"#)?.field == "_msg_id")
        #expect(try replyError(#"{"_msg_id": 1}"#)?.code == .invalidFieldType)
        #expect(try replyError(#"{"_msg_id": "m", "ending": "yes"}"#)?.field == "ending")
        #expect(try replyError(#"{"_msg_id": "m", "failure": {"class": "X"}}"#)?.field == "failure")
        #expect(try replyError(#"{"_msg_id": "m", "failure": "not json"}"#)?.code == .invalidFailure)
        #expect(try replyError(#"{"_msg_id": "m", "failure": "[1]"}"#)?.code == .invalidFailure)
        #expect(try replyError(#"{"_msg_id": "m", "failure": "{\"tb\": 5}"}"#)?.field == "failure.tb")
        #expect(try replyError(#"{"_msg_id": "m", "_unique_id": 3}"#)?.field == "_unique_id")
    }

    @Test func replyDefaults() throws {
        let reply = try RPCReply(decodingBody: envelope(#"{"_msg_id": "m", "extra": 1}"#))
        #expect(reply.result == .null)
        #expect(reply.failure == nil)
        #expect(reply.ending == false)
        #expect(reply.additionalFields == ["extra": 1])
        #expect(String(decoding: try reply.encodedMessageText(), as: UTF8.self) == #"{"result": null, "failure": null, "ending": false, "_msg_id": "m", "extra": 1}"#)
    }

    @Test func failureReplyRoundTrip() throws {
        let reply = RPCReply(failure: .mistral("cannot run action x"), messageID: "abc", uniqueID: "u")
        let text = String(decoding: try reply.encodedMessageText(), as: UTF8.self)
        #expect(text == #"{"result": null, "failure": "{\"class\": \"MistralException\", \"module\": \"mistral.exceptions\", \"message\": \"cannot run action x\", \"tb\": [\"mistral.exceptions.MistralException: cannot run action x (raised by the Swift executor)\\n\"], \"args\": [\"cannot run action x\"], \"kwargs\": {}}", "ending": true, "_msg_id": "abc", "_unique_id": "u"}"#)
        let decoded = try RPCReply(decodingBody: try reply.encodedBody())
        #expect(decoded == reply)
    }

    @Test func messageKindDetection() throws {
        #expect(try { if case .request = try RPCMessage(decodingBody: envelope(#"{"method": "m"}"#)) { return true }; return false }())
        #expect(try { if case .reply = try RPCMessage(decodingBody: envelope(#"{"ending": true, "_msg_id": "m"}"#)) { return true }; return false }())
        let body = envelope(#"{"_unique_id": "u"}"#)
        #expect(codecError { _ = try RPCMessage(decodingBody: body) }?.code == .missingField)
    }
}
