import ActionCatalog
import ActionKit
import Foundation
import Logging
import OrderedJSON
import OsloMessaging
import Testing

/// `debug.record`: the test action the fault suite counts runs with.
@Suite("debug.record")
struct DebugRecordTests {
    static func run(_ input: JSONObject, file: String?, executionID: String? = "ae-1") async throws -> JSON {
        var services = ActionServices()
        services[DebugRecordFileKey.self] = file
        let context = ActionContext(
            actionName: "int32bit.debug.record",
            security: RequestContext(fields: [:]),
            execution: ExecutionContext(actionExecutionID: executionID),
            logger: Logger(label: "debug-record-tests"),
            services: services
        )
        let descriptor = try #require(try ActionCatalog.registry().descriptor(named: "debug.record"))
        return try await descriptor.instantiate(input: input).run(context: context)
    }

    static func temporaryFile() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("debug-record-\(UUID().uuidString)").path
    }

    @Test("appends a start and an end line per run, with the execution id, tag and pid, and returns them")
    func recordsStartAndEnd() async throws {
        let file = Self.temporaryFile()
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try await Self.run(["tag": "first", "seconds": 0.01], file: file)
        _ = try await Self.run(["tag": "second"], file: file, executionID: "ae-2")
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map { $0.split(separator: " ") }
        #expect(lines.count == 4)
        let pid = String(getpid())
        #expect(lines.map { "\($0[0]) \($0[1]) \($0[2]) \($0[4])" } == [
            "ae-1 first \(pid) start", "ae-1 first \(pid) end", "ae-2 second \(pid) start", "ae-2 second \(pid) end",
        ])
        let times = lines.compactMap { Int64($0[3]) }
        #expect(times.count == 4 && times == times.sorted() && times[0] > 1_700_000_000_000)
        #expect(result["pid"]?.intValue == Int(getpid()))
        #expect(result["execution_id"]?.stringValue == "ae-1")
    }

    @Test("a tag with spaces, newlines and control characters cannot break a line or add one")
    func hostileTag() async throws {
        let file = Self.temporaryFile()
        defer { try? FileManager.default.removeItem(atPath: file) }
        let tag = "a b\nfake 1 2 3 end\r\u{0}\u{85}" + String(repeating: "x", count: 10_000)
        _ = try await Self.run(["tag": .string(tag)], file: file, executionID: "id with\nnewline")
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 3 && lines[2].isEmpty)
        let fields = lines[0].split(separator: " ")
        #expect(fields.count == 5)
        #expect(fields[0] == "id_with_newline")
        #expect(fields[1].hasPrefix("a_b_fake_1_2_3_end___") && fields[1].count == 200)
    }

    @Test("fails with a message naming the option when no file is configured, and on a file it cannot open")
    func withoutFile() async throws {
        let missing = await #expect(throws: ActionFailure.self) { try await Self.run([:], file: nil) }
        #expect(missing?.description.contains("debug_record_file") == true)
        let unopenable = await #expect(throws: ActionFailure.self) {
            try await Self.run([:], file: "/nonexistent-dir-\(UUID().uuidString)/record")
        }
        #expect(unopenable?.description.contains("cannot open") == true)
    }

    @Test("refuses absurd seconds before writing anything", arguments: [Double.nan, .infinity, 1e300, -1])
    func absurdSeconds(seconds: Double) async throws {
        let file = Self.temporaryFile()
        defer { try? FileManager.default.removeItem(atPath: file) }
        // NaN and infinity are refused by the input check, the rest by the action.
        await #expect(throws: (any Error).self) { try await Self.run(["seconds": .double(seconds)], file: file) }
        #expect(!FileManager.default.fileExists(atPath: file))
    }
}
