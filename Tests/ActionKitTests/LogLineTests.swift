import Foundation
import Logging
@testable import MistralActionsCLI
import OrderedJSON
import OsloConfig
import Testing

/// Logged values come from tenants (action inputs, OpenStack error bodies):
/// whatever they hold, an event stays one line that says what it is.
@Suite("Log lines cannot be forged")
struct LogLineTests {
    static let forgery = "oops\n2026-12-06T01:02:03.456Z error   worker stopped action.name=forged"

    func line(
        _ format: Configuration.LogFormat, message: String = "action failed", metadata: [String: String] = [:],
        level: Logger.Level = .info
    ) -> String {
        LogLine.render(
            format: format, time: "2026-11-25T02:10:00.123Z", level: level, label: "mistral-actions",
            message: message, metadata: metadata)
    }

    /// What must never reach a terminal unescaped (checked independently of the code under test).
    static func isRawControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || [0x2028, 0x202E].contains(scalar.value)
    }

    /// The JSON line parsed with the project's strict parser: it is one valid object.
    func parsedJSON(_ line: String) throws -> JSON {
        try JSON(parsing: Data(line.utf8))
    }

    @Test("a value with a newline stays on one line in the human format, escaped as \\n")
    func newlineInHumanValue() {
        let text = line(.human, metadata: ["action.error": Self.forgery])
        #expect(!text.contains("\n"))
        #expect(text.contains(#"action.error="oops\n2026-12-06T01:02:03.456Z error   worker stopped action.name=forged""#), "\(text)")
    }

    @Test("a value with a newline stays on one line in JSON and reads back unchanged")
    func newlineInJSONValue() throws {
        let text = line(.json, metadata: ["action.error": Self.forgery])
        #expect(!text.contains("\n"))
        #expect(try parsedJSON(text)["action.error"] == .string(Self.forgery))
    }

    @Test("a message with a carriage return or newline stays on one line in both formats")
    func newlineInMessage() throws {
        let message = "first\r\nsecond"
        let human = line(.human, message: message)
        #expect(!human.contains("\n") && !human.contains("\r"))
        #expect(human.hasSuffix(#"first\r\nsecond"#), "\(human)")
        let json = line(.json, message: message)
        #expect(!json.contains("\n") && !json.contains("\r"))
        #expect(try parsedJSON(json)["message"] == .string(message))
    }

    @Test("an ESC sequence and other controls are escaped, so none reaches a terminal raw")
    func controlCharactersEscaped() throws {
        let hostile = "\u{1B}[2J\u{1B}]0;pwned\u{07}tab\there\u{00}nul\u{7F}del\u{9B}csi\u{85}nel\u{2028}ls\u{202E}rtl"
        let human = line(.human, message: hostile, metadata: ["input": hostile])
        let controls = human.unicodeScalars.filter(Self.isRawControl)
        #expect(controls.isEmpty, "\(controls.map(\.value))")
        #expect(human.contains(#"\x1b[2J\x1b]0;pwned\x07tab\there\x00nul\x7fdel\x9bcsi\x85nel\u2028ls\u202ertl"#), "\(human)")

        let json = line(.json, message: hostile, metadata: ["input": hostile])
        #expect(!json.unicodeScalars.contains(where: Self.isRawControl))
        #expect(json.contains(#"\u001b[2J"#))
        let parsed = try parsedJSON(json)
        #expect(parsed["message"] == .string(hostile))
        #expect(parsed["input"] == .string(hostile))
    }

    @Test("bytes that are not UTF-8 (a server's body) become U+FFFD and the JSON line stays valid UTF-8 JSON")
    func invalidUTF8() throws {
        let body = String(decoding: [0x66, 0xFF, 0xC3, 0x0A, 0xED, 0xA0, 0x80, 0x67] as [UInt8], as: UTF8.self)
        let json = line(.json, metadata: ["http.body": body])
        #expect(!json.contains("\n"))
        #expect(String(validating: Array(json.utf8), as: UTF8.self) != nil)
        let value = try #require(try parsedJSON(json)["http.body"]?.stringValue)
        #expect(value.hasPrefix("f\u{FFFD}") && value.hasSuffix("g"))
        #expect(value.contains("\n"))
        #expect(!line(.human, metadata: ["http.body": body]).contains("\n"))
    }

    @Test("a key with a newline, a space or '=' cannot start a forged line or pair")
    func hostileKeys() throws {
        let key = "x\nfake=1 level"
        let human = line(.human, metadata: [key: "v"])
        #expect(!human.contains("\n"))
        #expect(human.hasSuffix(#" x\nfake\x3d1\x20level=v"#), "\(human)")
        let json = line(.json, metadata: [key: "v"])
        #expect(!json.contains("\n"))
        #expect(try parsedJSON(json)[key] == "v")
    }

    @Test("a quoted value cannot close its quotes and add a pair of its own")
    func quotesInValue() {
        let text = line(.human, metadata: ["a": #"x" action.name="forged"#])
        #expect(text.hasSuffix(#" a="x\" action.name=\"forged""#), "\(text)")
    }

    @Test("a backslash is doubled, so a literal \\n in a value is told apart from a newline")
    func backslashDoubled() {
        let text = line(.human, metadata: ["a": #"C:\new"#, "b": "C:\new"])
        #expect(text.hasSuffix(#" a=C:\\new b=C:\new"#), "\(text)")
    }

    @Test("metadata named like a fixed JSON field does not replace it")
    func reservedJSONFields() throws {
        let json = line(.json, metadata: ["level": "critical", "message": "forged", "@timestamp": "never", "logger": "root"], level: .info)
        let parsed = try parsedJSON(json)
        #expect(parsed["level"] == "info")
        #expect(parsed["message"] == "action failed")
        #expect(parsed["@timestamp"] == "2026-11-25T02:10:00.123Z")
        #expect(parsed["metadata.@timestamp"] == "never")
        #expect(parsed["logger"] == "mistral-actions")
        #expect(parsed["metadata.level"] == "critical")
        #expect(parsed["metadata.message"] == "forged")
    }

    @Test("a huge value is cut to a bounded single line in both formats, on a character boundary")
    func hugeValue() throws {
        // Multi-byte characters and newlines all the way, so the cut and the escapes meet.
        let huge = String(repeating: "é\n", count: 600_000)
        let human = line(.human, metadata: ["output": huge])
        #expect(!human.contains("\n"))
        #expect(human.utf8.count < 3 * LogLine.maximumValueBytes)
        #expect(human.contains("more bytes]"))
        let json = line(.json, message: huge, metadata: ["output": huge])
        #expect(!json.contains("\n"))
        #expect(json.utf8.count < 6 * LogLine.maximumValueBytes)
        let parsed = try parsedJSON(json)
        let output = try #require(parsed["output"]?.stringValue)
        // What is kept and what is said to be cut add up to the whole value.
        let parts = output.components(separatedBy: "… [")
        #expect(parts.count == 2)
        #expect(parts[0].hasPrefix("é\né\n"))
        #expect(parts[0].utf8.count <= LogLine.maximumValueBytes)
        #expect(parts.last == "\(huge.utf8.count - parts[0].utf8.count) more bytes]")
    }

    @Test("the human format keeps its columns; critical still has a space before the message")
    func humanLayout() {
        #expect(line(.human, message: "started", metadata: ["k": "v w", "e": ""], level: .info)
            == #"2026-11-25T02:10:00.123Z info    started e="" k="v w""#)
        #expect(line(.human, message: "down", level: .critical) == "2026-11-25T02:10:00.123Z critical down")
    }

    @Test("the JSON format has sorted keys and Python's separators")
    func jsonLayout() {
        #expect(line(.json, message: "ü", metadata: ["a.b": "1"])
            == #"{"@timestamp": "2026-11-25T02:10:00.123Z", "a.b": "1", "level": "info", "logger": "mistral-actions", "message": "ü"}"#)
    }
}

/// What log pipelines and journald read from a line.
@Suite("Log lines for log pipelines and journald")
struct LogLineShippingTests {
    func line(
        _ format: Configuration.LogFormat, message: String = "running action", metadata: [String: String] = [:],
        level: Logger.Level = .info, journal: Bool = false
    ) -> String {
        LogLine.render(
            format: format, time: "2026-11-25T02:10:00.123Z", level: level, label: "mistral-actions",
            message: message, metadata: metadata, journal: journal)
    }

    static let workerMetadata = [
        "action.execution_id": "ae-1", "workflow.execution_id": "we-2", "task.execution_id": "te-3",
        "mistral.root_execution_id": "re-4", "oslo.request_id": "req-5", "action.name": "int32bit.debug.echo",
        "action.class": "DebugEcho",
    ]

    @Test("JSON: the worker's correlation ids become top-level fields with the names pipelines index")
    func correlationFields() throws {
        let parsed = try JSON(parsing: Data(line(.json, metadata: Self.workerMetadata).utf8))
        #expect(parsed["action_execution_id"] == "ae-1")
        #expect(parsed["workflow_execution_id"] == "we-2")
        #expect(parsed["task_execution_id"] == "te-3")
        #expect(parsed["root_execution_id"] == "re-4")
        #expect(parsed["request_id"] == "req-5")
        #expect(parsed["action"] == "int32bit.debug.echo")
        // Renamed, not repeated; other metadata stays as it was logged.
        #expect(parsed["action.execution_id"] == nil && parsed["oslo.request_id"] == nil && parsed["action.name"] == nil)
        #expect(parsed["action.class"] == "DebugEcho")
        #expect(parsed["@timestamp"] == "2026-11-25T02:10:00.123Z")
        #expect(parsed["time"] == nil)
        #expect(parsed["level"] == "info" && parsed["message"] == "running action")
    }

    @Test("JSON: metadata already named like a correlation field cannot replace the worker's id")
    func correlationFieldCollision() throws {
        let parsed = try JSON(parsing: Data(line(.json, metadata: ["action.execution_id": "real", "action_execution_id": "forged"]).utf8))
        #expect(parsed["action_execution_id"] == "real")
        #expect(parsed["metadata.action_execution_id"] == "forged")
    }

    @Test("the human format keeps the dotted keys and the time when not under journald")
    func humanUnchangedOutsideJournal() {
        let text = line(.human, metadata: ["action.execution_id": "ae-1"])
        #expect(text == "2026-11-25T02:10:00.123Z info    running action action.execution_id=ae-1")
    }

    @Test(
        "under journald each line starts with the level's syslog priority, and human lines have no time",
        arguments: [
            (Logger.Level.trace, 7), (.debug, 7), (.info, 6), (.notice, 5), (.warning, 4), (.error, 3), (.critical, 2),
        ])
    func journalPriority(level: Logger.Level, priority: Int) throws {
        let human = line(.human, metadata: ["action.execution_id": "ae-1"], level: level, journal: true)
        let name = level.rawValue
        #expect(human == "<\(priority)>" + name + String(repeating: " ", count: max(1, 8 - name.count)) + "running action action.execution_id=ae-1")
        #expect(!human.contains("2026-11-25"))
        let json = line(.json, level: level, journal: true)
        #expect(json.hasPrefix("<\(priority)>{"))
        // What journald keeps once it has taken the prefix off is the JSON object, time included.
        let object = try JSON(parsing: Data(json.dropFirst("<\(priority)>".count).utf8))
        #expect(object["level"] == .string(name))
        #expect(object["@timestamp"] == "2026-11-25T02:10:00.123Z")
    }

    @Test("a forged priority in a message stays inside the line, after the real one")
    func forgedPriority() {
        let text = line(.human, message: "<0>emergency\n<0>again", level: .info, journal: true)
        #expect(text.hasPrefix("<6>info    <0>emergency\\n<0>again"))
        #expect(!text.contains("\n"))
    }

    @Test("JOURNAL_STREAM counts only when it names standard error's device and inode")
    func journalStreamDetection() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("journal-stream-\(UUID().uuidString)").path
        let descriptor = open(path, O_CREAT | O_RDWR, 0o600)
        try #require(descriptor >= 0)
        defer { close(descriptor); unlink(path) }
        var status = stat()
        try #require(fstat(descriptor, &status) == 0)
        let matching = "\(status.st_dev):\(status.st_ino)"
        #expect(JournalStream.matches(variable: matching, fileDescriptor: descriptor))
        #expect(!JournalStream.matches(variable: "\(status.st_dev):\(status.st_ino + 1)", fileDescriptor: descriptor))
        #expect(!JournalStream.matches(variable: "\(status.st_dev &+ 1):\(status.st_ino)", fileDescriptor: descriptor))
        // Inherited by a child whose standard error is elsewhere: not the journal.
        var devNull = stat()
        try #require(stat("/dev/null", &devNull) == 0)
        let other = open("/dev/null", O_WRONLY)
        try #require(other >= 0)
        defer { close(other) }
        #expect(!JournalStream.matches(variable: matching, fileDescriptor: other))
        #expect(JournalStream.matches(variable: "\(devNull.st_dev):\(devNull.st_ino)", fileDescriptor: other))
        for absurd in [nil, "", ":", "1:", ":2", "1:2:3", "-1:2", "+1:2", " 1:2", "1e300:2", "99999999999999999999999:1", "a:b", "１:２"] {
            #expect(!JournalStream.matches(variable: absurd, fileDescriptor: descriptor), "\(absurd ?? "nil")")
        }
        #expect(!JournalStream.matches(variable: matching, fileDescriptor: -1))
    }
}

/// The pieces of a line built for every action: the time stamp written digit
/// by digit, and the handler's metadata in order of precedence.
@Suite("Log line building blocks")
struct LogLineBuildingBlockTests {
    @Test("time stamps have a fixed shape, zero-padded, whatever the fields hold")
    func timestampShape() {
        #expect(Timestamp.format(year: 2026, month: 1, day: 2, hour: 3, minute: 4, second: 5, millisecond: 6)
            == "2026-01-02T03:04:05.006Z")
        #expect(Timestamp.format(year: 1999, month: 12, day: 31, hour: 23, minute: 59, second: 60, millisecond: 999)
            == "1999-12-31T23:59:60.999Z")
        // Out-of-range fields keep their width instead of growing the stamp.
        let odd = Timestamp.format(year: 123_456, month: -7, day: 100, hour: 0, minute: 0, second: 0, millisecond: 1000)
        #expect(odd.utf8.count == 24, "\(odd)")
        let now = Timestamp.now()
        #expect(now.utf8.count == 24 && now.hasSuffix("Z") && now.utf8.allSatisfy { $0 < 0x80 }, "\(now)")
    }

    @Test("metadata: sorted by key, a later value for a key replaces an earlier one")
    func lastWins() {
        let sorted = LogLine.sortedLastWins([
            ("b", "handler"), ("a", "provider"), ("b", "event"), ("c", "1"), ("a", "handler"), ("error", "boom"),
        ])
        #expect(sorted.map(\.key) == ["a", "b", "c", "error"])
        #expect(sorted.map(\.value) == ["handler", "event", "1", "boom"])
    }

    @Test("the handler writes the event's own metadata over the logger's")
    func handlerPrecedence() {
        let human = LogLine.render(
            format: .human, time: "T", level: .info, label: "l", message: "m",
            sortedMetadata: LogLine.sortedLastWins([("k", "logger"), ("k", "event")]))
        #expect(human == "T info    m k=event")
    }
}
