import MistralProtocol
import OrderedJSON
import OsloMessaging
import Testing

@Suite struct MistralSerializationTests {
    @Test func encodesLikeThePolymorphicSerializer() throws {
        #expect(try MistralSerialization.encode(true) == "true")
        #expect(try MistralSerialization.encode(30) == "30")
        #expect(try MistralSerialization.encode(0.0) == "0.0")
        #expect(try MistralSerialization.encode("fe12") == "\"fe12\"")
        #expect(try MistralSerialization.encode(["a", "é"]) == #"["a", "\u00e9"]"#)
        #expect(try MistralSerialization.encode(["k": ["x": 1]]) == #"{"k": {"x": 1}}"#)
        #expect(try MistralSerialization.encode(nil) == .null)
        #expect(try MistralSerialization.encode(.double(.infinity)) == "Infinity")
        var deep: JSON = 1
        for _ in 0...JSONParsingOptions.defaultMaximumDepth { deep = [deep] }
        #expect(codecError { _ = try MistralSerialization.encode(deep, field: "args.x") }?.field == "args.x")
    }

    @Test func decodesTolerantly() throws {
        #expect(try MistralSerialization.decode("true") == true)
        #expect(try MistralSerialization.decode("\"x\"") == "x")
        #expect(try MistralSerialization.decode(.null) == .null)
        #expect(try MistralSerialization.decode("null") == .null)
        // Values that were not pre-encoded are taken as they are.
        #expect(try MistralSerialization.decode(5) == 5)
        #expect(try MistralSerialization.decode(["a": 1]) == ["a": 1])
        let error = codecError { _ = try MistralSerialization.decode("not json", field: "args.action") }
        #expect(error?.code == .invalidArgument)
        #expect(error?.field == "args.action")
        #expect(error?.jsonError?.code == .unexpectedCharacter)
    }

    @Test func requestHelpers() throws {
        var request = try RPCRequest(
            method: "report_running_actions",
            mistralArguments: ["action_ex_ids": ["a", "b"], "none": nil],
            context: RequestContext(),
            uniqueID: "u"
        )
        #expect(request.arguments == ["action_ex_ids": #"["a", "b"]"#, "none": nil])
        #expect(try request.mistralArguments() == ["action_ex_ids": ["a", "b"], "none": nil])
        try request.setMistralArgument("extra", to: ["k": true])
        #expect(request.arguments["extra"] == #"{"k": true}"#)
        request.arguments["broken"] = "{"
        #expect(codecError { _ = try request.mistralArguments() }?.field == "args.broken")
        #expect(String(decoding: try request.encodedMessageText(), as: UTF8.self).hasPrefix(#"{"method": "report_running_actions", "args": {"action_ex_ids": "[\"a\", \"b\"]", "none": null"#))
    }

    @Test func serializedObjects() throws {
        let result = MistralSerializedObject(key: "mistral_lib.actions.types.Result", data: ["data": 1, "error": nil, "cancel": false])
        let encoded = try result.encoded()
        #expect(encoded == ["__serial_key": "mistral_lib.actions.types.Result", "__serial_data": #"{"data": 1, "error": null, "cancel": false}"#])
        #expect(try MistralSerializedObject(decoding: encoded) == result)
        #expect(try MistralSerializedObject(decoding: ["plain": 1]) == nil)
        #expect(try MistralSerializedObject(decoding: "text") == nil)
        #expect(codecError { _ = try MistralSerializedObject(decoding: ["__serial_key": "k", "__serial_data": 5]) }?.field == "__serial_data")
        #expect(codecError { _ = try MistralSerializedObject(decoding: ["__serial_key": "k", "__serial_data": "{"]) }?.code == .invalidArgument)

        let reply = try RPCReply(mistralResult: encoded, messageID: "m")
        #expect(try reply.mistralResult() == encoded)
    }
}

/// The codec error `body` throws, if any (another error type is an issue).
private func codecError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> OsloCodecError? {
    do {
        try body()
        return nil
    } catch let error as OsloCodecError {
        return error
    } catch {
        Issue.record("unexpected error type: \(error)", sourceLocation: sourceLocation)
        return nil
    }
}
