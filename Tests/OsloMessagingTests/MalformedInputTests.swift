import MistralProtocol
import OrderedJSON
import OsloMessaging
import Testing

/// Broken bodies produce typed errors, never crashes.
@Suite struct MalformedInputTests {
    @Test func everyTruncationOfARealBody() throws {
        let body = try Fixtures.runActionCast().bodyBytes
        #expect(codecError { _ = try RPCRequest(decodingBody: body) } == nil)
        for length in 0..<body.count {
            let error = codecError { _ = try RPCRequest(decodingBody: body[..<length]) }
            #expect(error?.code == .invalidJSON, "prefix \(length)")
            #expect(error?.field == "body", "prefix \(length)")
        }
    }

    @Test func everyTruncationOfTheInnerMessage() throws {
        let body = try Fixtures.runActionCast().bodyBytes
        let outer = try JSON(parsing: body)
        let inner = Array(try #require(outer["oslo.message"]?.stringValue).utf8)
        for length in stride(from: 0, to: inner.count, by: 1) {
            let truncated = envelope(String(decoding: inner[..<length], as: UTF8.self))
            let error = codecError { _ = try RPCRequest(decodingBody: truncated) }
            #expect(error?.code == .invalidJSON, "inner prefix \(length)")
            #expect(error?.field == "oslo.message", "inner prefix \(length)")
        }
    }

    @Test func invalidUTF8AnywhereInTheBody() throws {
        let body = try Fixtures.runActionCast().bodyBytes
        let sequences: [[UInt8]] = [[0xFF], [0xC3, 0x28], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0x80]]
        // Start, inside the "oslo.version" key, inside the version value,
        // inside the (escaped) inner message, just before the end.
        let positions = [0, 3, 19, 45, 300, 1000, body.count / 2, body.count - 3, body.count - 1]
        for position in positions {
            for sequence in sequences {
                var corrupted = body
                corrupted.insert(contentsOf: sequence, at: position)
                let error = codecError { _ = try RPCRequest(decodingBody: corrupted) }
                #expect(error?.code == .invalidJSON, "\(sequence) at \(position)")
                // Mostly invalidUTF8; right after a backslash it is an invalid escape, etc.
                #expect(error?.jsonError != nil, "\(sequence) at \(position): \(String(describing: error))")
            }
        }
    }

    @Test func loneSurrogateInsideAMistralArgumentBecomesAReplacementCharacter() throws {
        // JSON escapes cannot express invalid UTF-8, but lone surrogates can.
        // Python's json reads them, so we must not refuse the message: the
        // surrogate becomes U+FFFD (a Swift string cannot hold it).
        let request = RPCRequest(method: "run_action", arguments: ["action": #""\ud800x""#], context: RequestContext())
        let decoded = try RPCRequest(decodingBody: try request.encodedBody())
        #expect(try decoded.mistralArgument("action") == "\u{FFFD}x")
    }

    @Test func hugeStrings() throws {
        let payload = String(repeating: "0123456789", count: 1_000_000)  // 10 MB
        let request = try RPCRequest(
            method: "run_action",
            mistralArguments: ["action": ["data": ["output": .string(payload)]]],
            context: RequestContext.mistralAdmin()
        )
        let body = try request.encodedBody()
        #expect(body.count > 10_000_000)
        let decoded = try RPCRequest(decodingBody: body)
        #expect(try decoded.mistralArgument("action")?["data"]?["output"]?.stringValue?.utf8.count == 10_000_000)

        // A 10 MB garbage message and a 10 MB unterminated string.
        #expect(codecError { _ = try RPCRequest(decodingBody: envelope(payload)) }?.code == .invalidJSON)
        let unterminated = Array(#"{"oslo.version": "2.0", "oslo.message": ""#.utf8) + Array(payload.utf8)
        #expect(codecError { _ = try RPCRequest(decodingBody: unterminated) }?.jsonError?.code == .unexpectedEndOfInput)
    }

    @Test func deeplyNestedInput() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        // In the body itself.
        let outerError = codecError { _ = try RPCRequest(decodingBody: Array(deep.utf8)) }
        #expect(outerError?.jsonError?.code == .nestingTooDeep)
        // In the inner message's args.
        let innerError = codecError { _ = try RPCRequest(decodingBody: envelope(#"{"method": "m", "args": {"x": "# + deep + "}}")) }
        #expect(innerError?.field == "oslo.message")
        #expect(innerError?.jsonError?.code == .nestingTooDeep)
        // In a Mistral argument string.
        let request = RPCRequest(method: "m", arguments: ["x": .string(deep)], context: RequestContext())
        let decoded = try RPCRequest(decodingBody: try request.encodedBody())
        #expect(codecError { _ = try decoded.mistralArguments() }?.jsonError?.code == .nestingTooDeep)
    }

    @Test func wrongEnvelopeAndTypes() throws {
        let inner = #"{"method": "run_action", "args": {}}"#
        #expect(codecError { _ = try RPCRequest(decodingBody: envelope(inner, version: "1.0")) }?.code == .unsupportedEnvelopeVersion)
        #expect(codecError { _ = try RPCRequest(decodingBody: envelope(inner, version: "3.0")) }?.code == .unsupportedEnvelopeVersion)
        let missingVersion = try JSON.object(["oslo.message": .string(inner)]).encoded(style: .python)
        #expect(codecError { _ = try RPCRequest(decodingBody: missingVersion) }?.code == .unsupportedEnvelopeVersion)
        let nonObjectArgs = envelope(#"{"method": "run_action", "args": ["a"]}"#)
        #expect(codecError { _ = try RPCRequest(decodingBody: nonObjectArgs) }?.field == "args")
        let messageNotString = Array(#"{"oslo.version": "2.0", "oslo.message": 42}"#.utf8)
        #expect(codecError { _ = try RPCRequest(decodingBody: messageNotString) }?.field == "oslo.message")
    }

    @Test func randomCorruptionOfRealBodiesNeverCrashes() throws {
        var generator = SeededRandom(seed: 2026)
        let bodies = try Fixtures.allEvents().filter { $0.kind == "publish" }.map(\.bodyBytes)
        for round in 0..<3_000 {
            var body = bodies[round % bodies.count]
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                let position = Int.random(in: 0..<body.count, using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: body[position] = UInt8.random(in: 0...255, using: &generator)
                case 1: body.remove(at: position)
                default: body.insert(UInt8.random(in: 0...255, using: &generator), at: position)
                }
            }
            // Either decodes (then re-encodes) or throws a typed error.
            if let message = try? RPCMessage(decodingBody: body) {
                _ = try? message.encodedBody()
                if case .request(let request) = message {
                    _ = try? request.mistralArguments()
                }
            }
        }
    }
}

struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
