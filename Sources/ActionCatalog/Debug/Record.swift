import ActionKit
import CheckedNumbers
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import OrderedJSON

/// The file `debug.record` appends to (`[mistral_actions] debug_record_file`).
/// Without one, the action fails.
public enum DebugRecordFileKey: ActionServiceKey {
    /// The file's path.
    public typealias Value = String
}

/// Records each run in a file shared by every worker, so that a test can
/// count how often an action execution really ran, even when a worker dies
/// before it logs anything.
struct Record: MistralAction {
    static let name = "debug.record"
    static let description = """
        Appends `<action execution id> <tag> <pid> <unix time in ms> start` to the file \
        named by [mistral_actions] debug_record_file, sleeps `seconds` (cancellable, like \
        debug.sleep), appends the same line ending in `end`, and returns \
        {"pid": ..., "execution_id": ...}. Each line is one write to a file opened with \
        O_APPEND, so the lines of several workers sharing the file stay whole. Without \
        debug_record_file the action fails. For tests of delivery guarantees.
        """

    @Parameter(default: "", help: "A word copied into both lines (whitespace and control characters become _; at most 200 characters).")
    var tag: String
    @Parameter(default: 0, help: "How long to sleep between the two lines, in seconds.") var seconds: Double

    init() {}

    func run(context: ActionContext) async throws -> JSON {
        guard let path = context.services[DebugRecordFileKey.self] else {
            throw ActionFailure("debug.record needs [mistral_actions] debug_record_file in the worker's configuration")
        }
        let duration: Duration
        do { duration = try Seconds.duration(seconds, name: "seconds") } catch { throw ActionFailure(error.description) }
        let executionID = Self.word(context.execution.actionExecutionID ?? "-")
        let pid = getpid()
        let prefix = "\(executionID.isEmpty ? "-" : executionID) \(Self.word(tag).isEmpty ? "-" : Self.word(tag)) \(pid)"
        try Self.append("\(prefix) \(Self.milliseconds()) start\n", to: path)
        try await Task.sleep(for: duration)
        try Self.append("\(prefix) \(Self.milliseconds()) end\n", to: path)
        return .object([
            "pid": .integer(Int64(pid)),
            "execution_id": context.execution.actionExecutionID.map { .string($0) } ?? .null,
        ])
    }

    /// One field of a record line: no whitespace or control characters, at
    /// most 200 characters, so a line stays far below PIPE_BUF.
    static func word(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars.prefix(200) {
            let plain = scalar.value > 0x20 && scalar.value != 0x7F && !(0x80...0x9F).contains(scalar.value)
                && !scalar.properties.isWhitespace
            out.append(plain ? scalar : "_")
        }
        return String(out)
    }

    static func milliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) &* 1000 &+ Int64(now.tv_nsec / 1_000_000)
    }

    static func append(_ line: String, to path: String) throws {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw ActionFailure("debug.record cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        let bytes = Array(line.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            throw ActionFailure("debug.record could not write to \(path): \(written < 0 ? String(cString: strerror(errno)) : "short write")")
        }
    }
}
