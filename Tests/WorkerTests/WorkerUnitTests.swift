import ActionCatalog
import ActionKit
import ActionSync
import Logging
import MistralActionsTestSupport
import MistralProtocol
import OrderedJSON
import OsloMessaging
import Testing
@testable import Worker

@Suite("Routing requests to Swift or Python")
struct ActionRouterTests {
    let registry = try! ActionCatalog.registry()

    func dynamic(_ className: String, codeSource: String = "ours", data: JSONObject = [:]) -> SerializedAction {
        .dynamic(.init(className: className, codeSourceID: codeSource, namespace: "", data: data, classAttributes: [:]))
    }

    @Test("our dynamic action runs here, with the engine's data as input")
    func ours() {
        let router = ActionRouter(registry: registry, codeSourceIDs: ["ours"])
        guard case .swift(let descriptor, let input) = router.route(dynamic("DebugEchoAction", data: ["output": 1])) else {
            Issue.record("expected a Swift route")
            return
        }
        #expect(descriptor.name == "debug.echo")
        #expect(input["output"] == 1)
    }

    @Test("an ad-hoc action on top of ours is ours")
    func adHoc() {
        let router = ActionRouter(registry: registry, codeSourceIDs: ["ours"])
        guard case .swift(let descriptor, _) = router.route(.adHoc(base: dynamic("DebugNoopAction"))) else {
            Issue.record("expected a Swift route")
            return
        }
        #expect(descriptor.name == "debug.noop")
    }

    @Test("another code source's class of the same name, std actions and unknown classes are Python's")
    func foreign() {
        let router = ActionRouter(registry: registry, codeSourceIDs: ["ours"])
        for action in [
            dynamic("DebugEchoAction", codeSource: "theirs"),
            dynamic("SomethingElseAction"),
            SerializedAction.python(serialKey: SerializedAction.baseKey, className: "mistral.actions.std_actions.EchoAction"),
        ] {
            guard case .foreign = router.route(action) else {
                Issue.record("expected \(action) to be foreign")
                continue
            }
        }
    }

    @Test("without a known code source, the class name decides")
    func unknownCodeSource() {
        let router = ActionRouter(registry: registry, codeSourceIDs: [])
        guard case .swift = router.route(dynamic("DebugEchoAction", codeSource: "anything")) else {
            Issue.record("expected a Swift route")
            return
        }
    }
}

@Suite("Heartbeat bookkeeping")
struct RunningActionsTests {
    @Test("starts are reported once, only while running; the periodic set is every running id")
    func starts() {
        let running = RunningActions()
        running.started("a")
        running.started("b")
        running.finished("b")
        #expect(running.takeNewlyStarted() == ["a"])
        #expect(running.takeNewlyStarted() == [])
        running.started("c")
        #expect(running.all == ["a", "c"])
        running.finished("a")
        running.finished("c")
        #expect(running.all == [])
        #expect(running.count == 0)
    }

    @Test("the same id started twice (a rerun) stays running until both finish")
    func duplicates() {
        let running = RunningActions()
        running.started("a")
        running.started("a")
        #expect(running.takeNewlyStarted() == ["a"])
        running.finished("a")
        #expect(running.all == ["a"])
        running.finished("a")
        #expect(running.all == [])
    }

    @Test("recent unique ids: a duplicate among the last 16 is refused, older ones are forgotten")
    func recentIDs() {
        let recent = RecentUniqueIDs(capacity: 16)
        #expect(recent.insert("x"))
        #expect(!recent.insert("x"))
        for index in 0..<16 { #expect(recent.insert("id\(index)")) }
        #expect(recent.insert("x"))
    }
}

/// Tells the test that it runs, then sleeps until it is cancelled.
struct StartThenSleepAction: MistralAction {
    static let name = "test.start_then_sleep"
    static let description = "Raises `started`, then sleeps until cancelled."
    /// Raised when the action runs (only the cancellation test runs it).
    static let started = Signal()

    init() {}

    func run(context: ActionContext) async throws -> JSON {
        Self.started.raise()
        try await Task.sleep(for: .seconds(600))
        return .null
    }
}

@Suite("Running one action")
struct ActionRunnerTests {
    let registry = try! ActionCatalog.registry()

    func context() -> ActionContext {
        ActionContext(actionName: "int32bit.test", security: RequestContext(), execution: ExecutionContext(), logger: Logger(label: "test"))
    }

    @Test("a result, an error message naming the action, and bad input")
    func outcomes() async throws {
        let echo = try #require(registry.descriptor(named: "debug.echo"))
        guard case .completed(let result) = await ActionRunner.run(echo, input: ["output": [1, "a"]], context: context(), timeout: nil) else {
            Issue.record("expected completion")
            return
        }
        #expect(result == .success([1, "a"]))

        let fail = try #require(registry.descriptor(named: "debug.fail"))
        guard case .completed(let failed) = await ActionRunner.run(fail, input: ["message": "boom"], context: context(), timeout: nil) else {
            Issue.record("expected completion")
            return
        }
        #expect(failed.error == "action int32bit.test failed: boom")

        guard case .completed(let invalid) = await ActionRunner.run(echo, input: [:], context: context(), timeout: nil) else {
            Issue.record("expected completion")
            return
        }
        #expect(invalid.error.stringValue?.contains("missing required parameter 'output'") == true)
    }

    @Test("a timeout cancels the action: a timeout result, not the sleep's end")
    func timeout() async throws {
        let sleep = try #require(registry.descriptor(named: "debug.sleep"))
        // Without the timeout the sleep would end in success after 600 s
        // (far past any wait of this suite); the outcome alone proves it.
        let outcome = await ActionRunner.run(sleep, input: ["seconds": 600], context: context(), timeout: 0.3)
        guard case .timedOut(let result) = outcome else {
            Issue.record("expected a timeout, got \(outcome)")
            return
        }
        #expect(result.error.stringValue?.contains("Timeout after 0.3 seconds") == true)
    }

    @Test("cancellation of the surrounding task (shutdown) is reported as such")
    func cancelled() async throws {
        let registry = try ActionRegistry([StartThenSleepAction.self])
        let sleep = try #require(registry.descriptor(named: StartThenSleepAction.name))
        let context = context()
        let task = Task { await ActionRunner.run(sleep, input: [:], context: context, timeout: nil) }
        // Cancel while the action runs, not before it starts.
        try await StartThenSleepAction.started.wait(limit: .seconds(60), "the action to start")
        task.cancel()
        guard case .cancelled = await task.value else {
            Issue.record("expected cancellation")
            return
        }
    }
}

@Suite("Planning the action-table sync")
struct SyncPlannerTests {
    let desired = [DesiredAction(name: "p.a", className: "AAction"), DesiredAction(name: "p.b", className: "BAction")]
    func row(_ name: String, className: String, codeSource: String, id: String = "r") -> DefinitionRow {
        DefinitionRow(id: id, name: name, className: className, codeSourceID: codeSource, codeSourceName: codeSource == "ours" ? "mistral_actions" : "other", projectID: "<default-project>", scope: "public")
    }

    @Test("first run creates everything")
    func firstRun() {
        let plan = SyncPlanner.plan(state: SyncState(codeSource: nil, definitions: []), desired: desired, content: "x", codeSourceName: "mistral_actions", selection: .all, override: false)
        #expect(plan.codeSource == .create)
        #expect(plan.actions == desired.map { .create($0) })
    }

    @Test("nothing changed: nothing to write")
    func unchanged() {
        let state = SyncState(
            codeSource: CodeSourceRow(id: "ours", name: "mistral_actions", content: "x", version: 3),
            definitions: [row("p.a", className: "AAction", codeSource: "ours"), row("p.b", className: "BAction", codeSource: "ours")]
        )
        let plan = SyncPlanner.plan(state: state, desired: desired, content: "x", codeSourceName: "mistral_actions", selection: .all, override: false)
        #expect(plan.isEmpty)
        #expect(plan.codeSource == .unchanged(version: 3))
    }

    @Test("changed content bumps the version; a removed action is deleted; a foreign row is skipped, or replaced with override")
    func changes() {
        let foreign = row("p.b", className: "Theirs", codeSource: "theirs", id: "f")
        let state = SyncState(
            codeSource: CodeSourceRow(id: "ours", name: "mistral_actions", content: "old", version: 3),
            definitions: [row("p.a", className: "AAction", codeSource: "ours", id: "1"), row("p.gone", className: "GoneAction", codeSource: "ours", id: "2"), foreign]
        )
        let plan = SyncPlanner.plan(state: state, desired: desired, content: "new", codeSourceName: "mistral_actions", selection: .all, override: false)
        #expect(plan.codeSource == .update(fromVersion: 3, toVersion: 4))
        #expect(plan.actions == [.unchanged(desired[0]), .skip(desired[1], foreign: foreign), .delete(name: "p.gone", rowID: "2")])
        #expect(plan.skipped == ["p.b"])

        let overriding = SyncPlanner.plan(state: state, desired: desired, content: "new", codeSourceName: "mistral_actions", selection: .all, override: true)
        #expect(overriding.actions.contains(.replace(desired[1], foreign: foreign)))
    }

    @Test("a selection touches only the named actions and deletes nothing")
    func selection() {
        let state = SyncState(
            codeSource: CodeSourceRow(id: "ours", name: "mistral_actions", content: "x", version: 1),
            definitions: [row("p.gone", className: "GoneAction", codeSource: "ours", id: "2")]
        )
        let plan = SyncPlanner.plan(state: state, desired: desired, content: "x", codeSourceName: "mistral_actions", selection: .only(["p.b"]), override: false)
        #expect(plan.actions == [.create(desired[1])])
    }
}
