import Foundation
import OrderedJSON
import OsloMessaging
import Testing

/// One event of a capture file (see shared/protocol/mistral-executor-wire.md §12).
struct CaptureEvent {
    var file: String
    var line: Int
    var event: JSON
    /// `event`: publish or deliver.
    var kind: String { event["event"]?.stringValue ?? "" }
    var body: String { event["body"]?.stringValue ?? "" }
    var bodyBytes: [UInt8] { Array(body.utf8) }
    var decoded: JSON { event["decoded"] ?? .null }
    var location: String { "\(file):\(line)" }
}

enum Fixtures {
    static var directory: URL {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
    }

    static var captureFiles: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasSuffix(".jsonl") }
            .sorted()
    }

    static func events(in file: String) throws -> [CaptureEvent] {
        let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
        return try text.split(separator: "\n").enumerated().map { index, line in
            CaptureEvent(file: file, line: index + 1, event: try JSON(parsing: String(line)))
        }
    }

    static func allEvents() throws -> [CaptureEvent] {
        try captureFiles.flatMap { try events(in: $0) }
    }

    /// The first published `run_action` cast of scenario 01 (std.echo in a workflow).
    static func runActionCast() throws -> CaptureEvent {
        try #require(try events(in: "01-workflow-echo-noop.jsonl").first {
            $0.kind == "publish" && $0.decoded["msg"]?["method"] == "run_action"
        })
    }
}

/// Compares a decoded value with the capture's `decoded` annotations:
/// `{"__raw": text, "__decoded": value}` stands for a string `text` whose JSON
/// is `value`, and `"__serial_data_decoded"` next to `"__serial_data"` is the
/// decoded form of that string.
func matchesAnnotated(_ actual: JSON, _ expected: JSON) -> Bool {
    switch expected {
    case .object(let expectedObject):
        if expectedObject.count == 2, let raw = expectedObject["__raw"], let decoded = expectedObject["__decoded"] {
            guard actual == raw, case .string(let text) = actual, let parsed = try? JSON(parsing: text) else { return false }
            return matchesAnnotated(parsed, decoded)
        }
        guard case .object(var actualObject) = actual else { return false }
        var expectedRest = expectedObject
        if let serialDecoded = expectedRest.removeValue(forKey: "__serial_data_decoded") {
            guard case .string(let text)? = actualObject["__serial_data"], let parsed = try? JSON(parsing: text),
                  matchesAnnotated(parsed, serialDecoded)
            else { return false }
        }
        guard actualObject.count == expectedRest.count else { return false }
        for (key, value) in expectedRest {
            guard let actualValue = actualObject.removeValue(forKey: key), matchesAnnotated(actualValue, value) else { return false }
        }
        return true
    case .array(let expectedElements):
        guard case .array(let actualElements) = actual, actualElements.count == expectedElements.count else { return false }
        return zip(actualElements, expectedElements).allSatisfy { matchesAnnotated($0, $1) }
    default:
        return actual == expected
    }
}

/// The ``OsloCodecError`` thrown by `body`, or nil if it did not throw
/// (another error type is recorded as a test issue).
func codecError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> OsloCodecError? {
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

/// An envelope around an inner message given as text.
func envelope(_ inner: String, version: JSON = "2.0") -> [UInt8] {
    var writer = JSONWriter(style: .python)
    writer.beginObject()
    writer.writeKey("oslo.version")
    try? writer.write(version)
    writer.writeKey("oslo.message")
    writer.writeString(inner)
    writer.endObject()
    return writer.bytes
}
