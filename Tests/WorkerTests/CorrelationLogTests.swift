import ActionCatalog
import ActionKit
import Logging
import MistralProtocol
import OrderedJSON
import OsloConfig
import OsloMessaging
import MistralActionsTestSupport
import Synchronization
import Testing
@testable import Worker

/// The correlation ids a log pipeline joins an action's lines on: every line
/// the worker logs for an action carries the action, workflow, task and root
/// execution ids and the request id, taken from the request's `exec_ctx` and
/// security context as Mistral 23 sends them.
@Suite("The worker logs an action's correlation ids", .timeLimit(.minutes(2)))
struct CorrelationLogTests {
    @Test("running and finishing an action log action, workflow, task and root execution ids and the request id")
    func correlationIDsOnEveryActionLine() async throws {
        let records = RecordedLogs()
        var logger = Logger(label: "correlation-test") { _ in RecordingHandler(records: records) }
        logger.logLevel = .debug
        var settings = WorkerSettings(configuration: Configuration())
        settings.concurrency = 2
        let transport = InMemoryWorkerTransport()
        let worker = Worker(
            settings: settings, registry: WorkerHarness.registry, codeSourceIDs: [], transport: transport, logger: logger
        )
        async let running: Void = worker.run()
        await transport.waitUntilConsuming()

        // Ids as Mistral 23 sends them: exec_ctx in the arguments, the root
        // execution in the security context (its root_execution_id).
        let ids = (action: "a-\(MessageID.generate())", workflow: "w-\(MessageID.generate())",
                   task: "t-\(MessageID.generate())", root: "r-\(MessageID.generate())", request: "req-\(MessageID.generate())")
        try transport.deliver(Self.runAction("debug.echo", input: #"{"output": "hello"}"#, executionID: ids.action, execContext: [
            "workflow_execution_id": .string(ids.workflow), "task_execution_id": .string(ids.task),
            "workflow_name": "wf", "action_execution_id": .string(ids.action),
            "callback_url": .string("/v2/action_executions/\(ids.action)"),
        ], context: RequestContext(fields: [
            "user": nil, "project_id": nil, "request_id": .string(ids.request), "root_execution_id": .string(ids.root),
        ])))
        // A synchronous run-action: empty exec_ctx, null root execution.
        let lone = "lone-\(MessageID.generate())"
        try transport.deliver(Self.runAction("debug.fail", input: "{}", executionID: lone, execContext: [:], context: RequestContext(fields: [
            "request_id": "req-lone", "root_execution_id": nil,
        ])))

        try await eventually("both actions finished", limit: .seconds(60)) {
            records.all().filter { $0.message.hasPrefix("action succeeded") || $0.message.hasPrefix("action failed") }.count == 2
        }
        transport.endConsuming()
        try await running

        let lines = records.all().filter { $0.metadata["action.execution_id"] == ids.action }
        #expect(lines.map(\.message).contains("running action"), "\(records.all())")
        #expect(lines.map(\.message).contains("action succeeded"), "\(records.all())")
        for line in lines {
            #expect(line.metadata["action.name"] == "int32bit.debug.echo", "\(line)")
            #expect(line.metadata["workflow.execution_id"] == ids.workflow, "\(line)")
            #expect(line.metadata["task.execution_id"] == ids.task, "\(line)")
            #expect(line.metadata["mistral.root_execution_id"] == ids.root, "\(line)")
            #expect(line.metadata["oslo.request_id"] == ids.request, "\(line)")
        }

        // Absent ids are left out, not logged empty or as "null".
        let loneLines = records.all().filter { $0.metadata["action.execution_id"] == lone }
        #expect(loneLines.map(\.message).contains("action failed"), "\(records.all())")
        for line in loneLines {
            #expect(line.metadata["oslo.request_id"] == "req-lone", "\(line)")
            for key in ["workflow.execution_id", "task.execution_id", "mistral.root_execution_id"] {
                #expect(line.metadata[key] == nil, "\(key) in \(line)")
            }
        }
    }

    static func runAction(_ name: String, input: String, executionID: String, execContext: JSONObject, context: RequestContext) -> RPCRequest {
        let className = ActionRegistry.stubClassName(for: name)
        let serialData = #"{"cls_name": "\#(className)", "cls_attrs": {}, "data": \#(input), "code_source_id": "c", "namespace": ""}"#
        let action = JSON.object(["__serial_key": "mistral.actions.dynamic_action.DynamicAction", "__serial_data": .string(serialData)])
        return try! RPCRequest(
            method: "run_action",
            mistralArguments: [
                "action": action, "action_ex_id": .string(executionID), "safe_rerun": false,
                "exec_ctx": .object(execContext), "timeout": .null,
            ],
            context: context, uniqueID: MessageID.generate()
        )
    }
}

/// Log records of one test, with their metadata rendered as text.
final class RecordedLogs: Sendable {
    struct Record: Sendable, CustomStringConvertible {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
        var description: String { "\(level) \(message) \(metadata.sorted { $0.key < $1.key })" }
    }

    private let records = Mutex<[Record]>([])

    func append(_ record: Record) { records.withLock { $0.append(record) } }
    func all() -> [Record] { records.withLock { $0 } }
}

private struct RecordingHandler: LogHandler {
    let records: RecordedLogs
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        for (key, value) in event.metadata ?? [:] { merged[key] = value }
        records.append(RecordedLogs.Record(level: event.level, message: "\(event.message)", metadata: merged.mapValues { "\($0)" }))
    }
}
