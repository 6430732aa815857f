import OrderedJSON
import OsloMessaging
import Testing

@Suite struct EnvelopeTests {
    @Test(arguments: [
        ("2.0", true), ("2.0.0", true), ("2.00", true), ("2.0.0.9", true), ("2.0.x", false),
        ("1.0", false), ("3.0", false), ("2.1", false), ("2.0.1", false), ("2", false), ("", false),
        ("x.y", false), ("2.", false), (".0", false), ("20", false), ("2.-1", true),
    ])
    func versionCompatibility(version: String, compatible: Bool) {
        #expect(OsloEnvelope.isCompatible(version: version) == compatible, "\(version)")
    }

    @Test func roundTrip() throws {
        let message: JSONObject = ["method": "echo", "args": ["value": "\"é\""]]
        let body = try OsloEnvelope.encode(message)
        #expect(String(decoding: body, as: UTF8.self) == #"{"oslo.version": "2.0", "oslo.message": "{\"method\": \"echo\", \"args\": {\"value\": \"\\\"\\u00e9\\\"\"}}"}"#)
        #expect(try OsloEnvelope.decode(body: body).isIdentical(to: message))
    }

    @Test func messageWithoutEnvelopeIsAccepted() throws {
        // oslo's deserialize_msg returns a dict without both envelope keys as is.
        let body = Array(#"{"method": "echo", "args": {}, "_unique_id": "x"}"#.utf8)
        let message = try OsloEnvelope.decode(body: body)
        #expect(message.keys == ["method", "args", "_unique_id"])
        #expect(try RPCRequest(decodingBody: body).method == "echo")
    }

    @Test(arguments: ["1.0", "3.0", "2.1", "1", "two"])
    func unsupportedVersions(version: String) throws {
        let body = envelope(#"{"method": "x"}"#, version: .string(version))
        let error = codecError { _ = try OsloEnvelope.decode(body: body) }
        #expect(error?.code == .unsupportedEnvelopeVersion)
        #expect(error?.field == "oslo.version")
    }

    @Test func envelopeErrors() throws {
        func error(_ text: String) -> OsloCodecError? {
            codecError { _ = try OsloEnvelope.decode(body: Array(text.utf8)) }
        }
        #expect(error(#"{"oslo.message": "{}"}"#)?.code == .unsupportedEnvelopeVersion)
        #expect(error(#"{"oslo.version": "2.0"}"#)?.code == .missingField)
        #expect(error(#"{"oslo.version": 2.0, "oslo.message": "{}"}"#)?.code == .invalidFieldType)
        #expect(error(#"{"oslo.version": null, "oslo.message": "{}"}"#)?.code == .invalidFieldType)
        let notAString = error(#"{"oslo.version": "2.0", "oslo.message": {"method": "x"}}"#)
        #expect(notAString?.code == .invalidFieldType)
        #expect(notAString?.field == "oslo.message")
        #expect(notAString?.description == "wrong field type (oslo.message): expected a string, found object")
        #expect(error(#"{"oslo.version": "2.0", "oslo.message": null}"#)?.code == .invalidFieldType)
        let badInner = error(#"{"oslo.version": "2.0", "oslo.message": "{\"method\": "}"#)
        #expect(badInner?.code == .invalidJSON)
        #expect(badInner?.field == "oslo.message")
        #expect(badInner?.jsonError?.code == .unexpectedEndOfInput)
        #expect(error(#"{"oslo.version": "2.0", "oslo.message": "[1]"}"#)?.code == .notAnObject)
        #expect(error(#"{"oslo.version": "2.0", "oslo.message": "\"text\""}"#)?.code == .notAnObject)
        #expect(error("[1, 2]")?.code == .notAnObject)
        #expect(error("\"body\"")?.code == .notAnObject)
        #expect(error("")?.code == .invalidJSON)
        #expect(error("{")?.field == "body")
    }
}
