import AMQPClient
import Foundation
import Logging
import MistralActionsTestSupport
import OrderedJSON
import OsloMessaging
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The broker and the Python peer as this target's tests use them; the
/// addresses come from the shared ``TestEnvironment`` (MistralActionsTestSupport).
extension TestEnvironment {
    static var peerScript: String { packageRoot.appendingPathComponent("python/oslo_peer.py").path }

    static func configuration(name: String) throws -> AMQPConfiguration {
        var configuration = try AMQPConfiguration(transportURL: amqpURL, connectionName: "OsloMessagingTests.\(name)")
        configuration.reconnectBackoff = .init(initial: .milliseconds(200), maximum: .seconds(2), multiplier: 2, jitter: 0.25)
        configuration.connectTimeout = .seconds(5)
        configuration.heartbeatSeconds = 10
        return configuration
    }
}

/// Waits until `queue` no longer exists on the broker (a passive declare
/// answers 404; the broker announces nothing, so this polls), at most
/// `limit` (a guard against a hang).
func waitUntilQueueIsGone(_ connection: AMQPConnection, _ queue: String, limit: Duration = .seconds(60)) async throws {
    try await eventually("queue \(queue) is gone", limit: limit, every: .milliseconds(50)) {
        do {
            try await connection.declareQueue(name: queue, passive: true)
            return false
        } catch let error as AMQPError where error.replyCode == 404 {
            return true
        }
    }
}

// MARK: Connections

/// Runs a connection while `body` runs (waiting first until it is
/// connected), then shuts it down. Everything is bounded by `limit`, a guard against a hang that
/// leaves room for a loaded machine running suites in parallel.
func withConnection<T: Sendable>(
    _ name: String,
    logger: Logger,
    limit: Duration = .seconds(300),
    _ body: @escaping @Sendable (AMQPConnection) async throws -> T
) async throws -> T {
    let connection = AMQPConnection(configuration: try TestEnvironment.configuration(name: name), logger: logger)
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            try await connection.run()
            return nil
        }
        group.addTask {
            try await withTimeout(limit, "test body (\(name))") {
                try await connection.waitUntilConnected(timeout: .seconds(30))
                return try await body(connection)
            }
        }
        defer { group.cancelAll() }
        while let result = try await group.next() {
            if let result {
                return result
            }
        }
        throw TestTimeout(what: "connection ended early")
    }
}

/// Runs a connection while `body` runs (waiting first until it is
/// connected), then shuts it down. For suite scopes, whose body cannot escape.
func withRunningConnection<T: Sendable>(
    _ name: String,
    logger: Logger,
    _ body: (AMQPConnection) async throws -> T
) async throws -> T {
    let connection = AMQPConnection(configuration: try TestEnvironment.configuration(name: name), logger: logger)
    return try await withThrowingTaskGroup(of: Void.self, returning: T.self) { group in
        group.addTask {
            try await connection.run()
        }
        defer { group.cancelAll() }
        try await connection.waitUntilConnected(timeout: .seconds(30))
        return try await body(connection)
    }
}

/// Deletes queues and exchanges a test made (ignoring ones already gone).
func cleanUp(_ connection: AMQPConnection, queues: [String], exchanges: [String] = []) async {
    for queue in queues {
        _ = try? await connection.deleteQueue(name: queue)
    }
    for exchange in exchanges {
        try? await connection.deleteExchange(name: exchange)
    }
}

/// A queue as `rabbitmqctl list_queues name durable auto_delete arguments` shows it.
struct BrokerQueue: Hashable, CustomStringConvertible {
    var name: String
    var durable: String
    var autoDelete: String
    var arguments: String

    /// Everything but the name, to compare queues declared by different peers.
    var properties: String { "durable=\(durable) auto_delete=\(autoDelete) arguments=\(arguments)" }
    var description: String { "\(name) \(properties)" }

    /// The queues whose names start with `prefix`.
    static func list(prefix: String) async throws -> [BrokerQueue] {
        try await rabbitmqctl(["list_queues", "-q", "--no-table-headers", "name", "durable", "auto_delete", "arguments"])
            .split(separator: "\n")
            .compactMap { line -> BrokerQueue? in
                let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
                guard fields.count >= 4, fields[0].hasPrefix(prefix) else {
                    return nil
                }
                return BrokerQueue(name: fields[0], durable: fields[1], autoDelete: fields[2], arguments: fields[3])
            }
    }
}

// MARK: Logs

/// Collects log records so that tests can wait for a log line.
final class LogCapture: Sendable {
    struct Record: Sendable, CustomStringConvertible {
        var label: String
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
        var error: String?

        var description: String { "\(label) [\(level)] \(message) \(metadata) \(error ?? "")" }
    }

    private let records = Mutex<[Record]>([])
    /// Moves with every record: waits for a log line wake on it.
    private let appended = AsyncCounter()

    func logger(_ label: String) -> Logger {
        var logger = Logger(label: label) { label in CapturingLogHandler(capture: self, label: label) }
        logger.logLevel = .debug
        return logger
    }

    func append(_ record: Record) {
        records.withLock { $0.append(record) }
        appended.increment()
        if let printed = TestEnvironment.logLevel, record.level >= printed {
            FileHandle.standardError.write(Data("\(Date()) \(record)\n".utf8))
        }
    }

    func all() -> [Record] {
        records.withLock { $0 }
    }

    /// The first record that matches, waiting up to `limit` (a guard against a hang).
    func waitFor(
        _ limit: Duration = .seconds(60), _ what: String, where predicate: @escaping @Sendable (Record) -> Bool
    ) async throws -> Record {
        try await appended.waitUntil("log record: \(what)", limit: limit) {
            self.records.withLock { $0.contains(where: predicate) }
        }
        return try records.withLock { records in
            guard let record = records.first(where: predicate) else {
                throw TestTimeout(what: "log record: \(what)")
            }
            return record
        }
    }
}

struct CapturingLogHandler: LogHandler {
    let capture: LogCapture
    let label: String
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    var logLevel: Logger.Level = .debug

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        for (key, value) in event.metadata ?? [:] {
            merged[key] = value
        }
        capture.append(LogCapture.Record(
            label: label,
            level: event.level,
            message: "\(event.message)",
            metadata: merged.mapValues { "\($0)" },
            error: event.error.map { "\($0)" }
        ))
    }
}

// MARK: Python peers

/// A running `python/oslo_peer.py` process whose stdout is read line by line.
final class PeerProcess: Sendable {
    let name: String
    private let process: Process
    private let exit: ProcessExit
    private let input: Pipe
    private let buffers = Buffers()
    private let writer = DispatchQueue(label: "oslo-peer-stdin")

    /// What the peer printed, filled by the pipes' readability handlers.
    private final class Buffers: Sendable {
        /// Each line with its JSON value (parsed once, when it is a JSON object).
        let lines = Mutex<[(text: String, json: JSON?)]>([])
        let partial = Mutex<[UInt8]>([])
        let errors = Mutex<[UInt8]>([])
        /// Whether stdout reached its end (the peer exited and every line was read).
        let outputEnded = Atomic(false)
        /// Moves with every line and at the end of stdout: waits wake on it.
        let changes = AsyncCounter()
    }

    /// A write to the stdin of a peer that died must fail, not kill the test runner.
    private static let ignoreBrokenPipes: Void = {
        signal(SIGPIPE, SIG_IGN)
    }()

    /// Starts `oslo_peer.py <arguments>`.
    init(_ name: String, _ arguments: [String]) throws {
        Self.ignoreBrokenPipes
        self.name = name
        process = Process()
        process.executableURL = URL(fileURLWithPath: TestEnvironment.python)
        process.arguments = ["-u", TestEnvironment.peerScript] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONUNBUFFERED"] = "1"
        process.environment = environment
        exit = ProcessExit(of: process)
        input = Pipe()
        let output = Pipe()
        let errorOutput = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errorOutput
        let buffers = self.buffers
        output.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            guard !data.isEmpty else {
                handle.readabilityHandler = nil
                buffers.outputEnded.store(true, ordering: .releasing)
                buffers.changes.increment()
                return
            }
            let complete = buffers.partial.withLock { buffer -> [String] in
                buffer.append(contentsOf: data)
                var found: [String] = []
                while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    found.append(String(decoding: buffer[..<newline], as: UTF8.self))
                    buffer.removeSubrange(...newline)
                }
                return found
            }
            if !complete.isEmpty {
                let parsed = complete.map { line in (text: line, json: line.hasPrefix("{") ? try? JSON(parsing: line) : nil) }
                buffers.lines.withLock { $0.append(contentsOf: parsed) }
                buffers.changes.increment()
            }
        }
        errorOutput.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            guard !data.isEmpty else {
                handle.readabilityHandler = nil
                return
            }
            buffers.errors.withLock { $0.append(contentsOf: data) }
        }
        try process.run()
    }

    /// Everything the peer printed on stdout so far.
    var output: [String] { buffers.lines.withLock { $0.map(\.text) } }

    /// What the peer printed on stderr so far.
    var errorOutput: String { buffers.errors.withLock { String(decoding: $0, as: UTF8.self) } }

    var isRunning: Bool { exit.status == nil }
    var exitStatus: Int32? { exit.status }

    /// The first stdout line that matches, waiting up to `limit`.
    func waitForLine(_ limit: Duration = .seconds(60), _ what: String, where predicate: @escaping @Sendable (String) -> Bool) async throws -> String {
        try await waitFor(limit, what) { predicate($0.text) }.text
    }

    /// The first stdout line that is a JSON object matching `predicate`.
    func waitForJSON(_ limit: Duration = .seconds(60), _ what: String, where predicate: @escaping @Sendable (JSON) -> Bool) async throws -> JSON {
        try await waitFor(limit, what) { line in line.json.map(predicate) ?? false }.json ?? nil
    }

    /// Waits (on the line reader, no polling) until a line matches or stdout
    /// ended, which happens once the peer exited and its last lines were read.
    private func waitFor(
        _ limit: Duration, _ what: String, where predicate: @escaping @Sendable ((text: String, json: JSON?)) -> Bool
    ) async throws -> (text: String, json: JSON?) {
        let buffers = self.buffers
        do {
            try await buffers.changes.waitUntil(what, limit: limit) {
                buffers.outputEnded.load(ordering: .acquiring) || buffers.lines.withLock { $0.contains(where: predicate) }
            }
        } catch is TestTimeout {
            throw TestTimeout(what: "\(name): \(what); stdout: \(output.suffix(5).map { $0.prefix(300) }); stderr: \(errorOutput.suffix(2000))")
        }
        if let line = buffers.lines.withLock({ $0.first(where: predicate) }) {
            return line
        }
        let status = try? await exit.wait(limit: .seconds(10))
        throw TestTimeout(what: "\(name) exited (\(status.map(String.init) ?? "?")) before \(what); stdout: \(output.suffix(5).map { $0.prefix(300) }); stderr: \(errorOutput.suffix(2000))")
    }

    func waitUntilReady(_ limit: Duration = .seconds(60)) async throws {
        _ = try await waitForLine(limit, "READY") { $0 == "READY" }
    }

    /// Writes one line on the peer's stdin. Lines are written one after the
    /// other on a serial queue: concurrent writes of more than PIPE_BUF
    /// bytes would interleave, and a blocking write must not hold a thread
    /// of the cooperative pool.
    func send(line: String) {
        let handle = input.fileHandleForWriting
        let data = Data((line + "\n").utf8)
        writer.async {
            try? handle.write(contentsOf: data)
        }
    }

    /// Closes stdin after the lines already sent (the `client` peer then finishes and exits).
    func closeInput() {
        let handle = input.fileHandleForWriting
        writer.sync {
            try? handle.close()
        }
    }

    /// Waits for the process to exit by itself, at most `limit`.
    func waitForExit(_ limit: Duration = .seconds(60)) async throws -> Int32 {
        try await exit.wait(limit: limit, "\(name) to exit")
    }

    /// Closes stdin and waits up to `grace` for the peer to exit by itself
    /// (the `client` peer then cleans up), then stops it.
    func finish(grace: Duration = .seconds(10)) async {
        closeInput()
        _ = try? await exit.wait(limit: grace)
        await stop()
    }

    /// SIGTERM, then SIGKILL if it has not exited after `grace`.
    func stop(grace: Duration = .seconds(10)) async {
        closeInput()
        guard isRunning else {
            return
        }
        process.terminate()
        if (try? await exit.wait(limit: grace)) == nil {
            kill(process.processIdentifier, SIGKILL)
            _ = try? await exit.wait(limit: .seconds(60), "\(name) to die of SIGKILL")
        }
    }

    deinit {
        if isRunning {
            kill(process.processIdentifier, SIGKILL)
        }
    }
}

/// Common arguments of the peer commands.
func peerArguments(exchange: String, topic: String, options: [String] = []) -> [String] {
    ["--url", TestEnvironment.amqpURL, "--exchange", exchange, "--topic", topic] + options.flatMap { ["--option", $0] }
}

/// The `--option` settings for the peer that match `options`.
func peerOptions(_ options: OsloTopologyOptions) -> [String] {
    var settings: [String] = []
    func set(_ key: String, _ value: String) {
        settings.append("oslo_messaging_rabbit.\(key)=\(value)")
    }
    if options.durableQueues { set("amqp_durable_queues", "true") }
    if options.autoDelete { set("amqp_auto_delete", "true") }
    if options.quorumQueues { set("rabbit_quorum_queue", "true") }
    if options.transientQuorumQueues { set("rabbit_transient_quorum_queue", "true") }
    if options.haQueues { set("rabbit_ha_queues", "true") }
    if options.cancelOnFailover { set("enable_cancel_on_failover", "true") }
    if options.quorumDeliveryLimit != 0 { set("rabbit_quorum_delivery_limit", "\(options.quorumDeliveryLimit)") }
    if options.quorumMaxMemoryLength != 0 { set("rabbit_quorum_max_memory_length", "\(options.quorumMaxMemoryLength)") }
    if options.quorumMaxMemoryBytes != 0 { set("rabbit_quorum_max_memory_bytes", "\(options.quorumMaxMemoryBytes)") }
    let ttl = options.transientQueuesTTL.map { $0.components.seconds } ?? 0
    if ttl != 1800 { set("rabbit_transient_queues_ttl", "\(ttl)") }
    return settings
}

/// A long-lived `oslo_peer.py client`: sends calls and casts from Python.
final class PythonClient: Sendable {
    let peer: PeerProcess
    private let counter = Atomic<Int>(0)

    init(exchange: String, topic: String, options: [String] = []) throws {
        peer = try PeerProcess("python client", ["client"] + peerArguments(exchange: exchange, topic: topic, options: options))
    }

    /// Sends one request and waits for its outcome line (`result`, `error`, `timeout` or `cast`).
    func send(
        _ op: String, method: String, args: JSONObject, context: JSONObject = [:], server: String? = nil,
        timeout: Double = 90, callMonitorTimeout: Int? = nil, limit: Duration = .seconds(150)
    ) async throws -> JSON {
        let id = counter.add(1, ordering: .relaxed).newValue
        var request: JSONObject = [
            "id": .integer(Int64(id)), "op": .string(op), "method": .string(method), "args": .object(args),
            "context": .object(context), "timeout": .double(timeout),
        ]
        if let server { request["server"] = .string(server) }
        if let callMonitorTimeout { request["call_monitor_timeout"] = .integer(Int64(callMonitorTimeout)) }
        peer.send(line: try JSON.object(request).encodedString())
        return try await peer.waitForJSON(limit, "reply to request \(id) (\(method))") { $0["id"] == .integer(Int64(id)) }
    }

    func call(_ method: String, _ args: JSONObject, timeout: Double = 90, callMonitorTimeout: Int? = nil, server: String? = nil) async throws -> JSON {
        try await send("call", method: method, args: args, server: server, timeout: timeout, callMonitorTimeout: callMonitorTimeout)
    }

    func cast(_ method: String, _ args: JSONObject, server: String? = nil) async throws -> JSON {
        try await send("cast", method: method, args: args, server: server)
    }
}

/// Runs `oslo_peer.py call|cast` once and returns its JSON output line.
func runPeerOnce(_ arguments: [String], limit: Duration = .seconds(60)) async throws -> JSON {
    let peer = try PeerProcess("python \(arguments.first ?? "")", arguments)
    do {
        let line = try await peer.waitForJSON(limit, "the peer's result") { _ in true }
        _ = try await peer.waitForExit(limit)
        return line
    } catch {
        await peer.stop()
        throw error
    }
}

// MARK: Values

/// A JSON value of every kind, for echo tests.
let everyJSONKind: JSON = [
    "null": nil,
    "true": true,
    "false": false,
    "zero": 0,
    "negative": -42,
    "int53": 9_007_199_254_740_993,
    "int64max": .integer(Int64.max),
    "int64min": .integer(Int64.min),
    "floats": [0.1, -2.5, 1e300, .double(.leastNonzeroMagnitude), 1.0, -0.0, 123456789.125],
    "empty string": "",
    "ascii": "plain text",
    "escapes": "quote \" backslash \\ newline \n tab \t control \u{01} del \u{7f}",
    "latin": "é à ü ß",
    "cjk": "日本語のテキスト",
    "emoji": "😀👍🏽 family 👨‍👩‍👧",
    "non-BMP": "𝄞 𐍈 🂡",
    "empty array": [],
    "empty object": [:],
    "nested": ["a": [1, [2, [3, ["deep": true]]]], "b": ["x": ["y": ["z": nil]]]],
    "mixed array": [nil, true, 1, 2.5, "s", [], [:]],
    "ordered keys": ["zeta": 1, "alpha": 2, "mid": 3],
]

/// A string of about `bytes` UTF-8 bytes, with some multi-byte characters.
func largeString(bytes: Int) -> String {
    let unit = "0123456789abcdefghijklmnopqrstuvwxyz é 😀 \"quoted\" \\ \n"
    let count = bytes / unit.utf8.count + 1
    return String(repeating: unit, count: count)
}
