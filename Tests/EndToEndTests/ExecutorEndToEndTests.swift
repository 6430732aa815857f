import Foundation
import OrderedJSON
import Testing

/// A real Mistral 23 (API + engine, and a Python executor on the fallback
/// topic) drives real `mistral-actions worker` processes through RabbitMQ
/// and PostgreSQL. The workers compete on Mistral's one executor topic, so
/// these tests run one at a time, each with its own workers.
///
/// Mistral runs with a short heartbeat window (scripts/test.sh starts it with
/// check_interval 2 s, max_missed_heartbeats 2, first_heartbeat_timeout 3 s).
@Suite("Mistral 23 end to end", .serialized)
struct ExecutorEndToEndTests {
    let mistral = MistralAPI()

    @Test("a workflow mixing Swift tasks (echo, noop, with-items over 50) and a Python std.echo succeeds")
    func mixedWorkflow() async throws {
        let worker = try await WorkerProcess.start()
        defer { worker.kill() }
        try await mistral.putWorkflow("""
            version: '2.0'
            e2e_mixed:
              tasks:
                swift_echo:
                  action: int32bit.debug.echo output="hello from swift ✓"
                  publish:
                    swift: <% task().result %>
                  on-success: [swift_noop]
                swift_noop:
                  action: int32bit.debug.noop
                  publish:
                    noop: <% task().result %>
                  on-success: [python_echo]
                python_echo:
                  action: std.echo output="hello from python"
                  publish:
                    python: <% task().result %>
                  on-success: [many]
                many:
                  with-items: i in <% range(0, 50) %>
                  action: int32bit.debug.echo output=<% {index => $.i} %>
                  publish:
                    many: <% task().result %>
            """)
        let id = try await mistral.startExecution("e2e_mixed")
        let execution = try await mistral.waitForExecution(id)
        #expect(execution.state == "SUCCESS", "\(execution.stateInfo ?? "")")
        #expect(execution.output["swift"] == "hello from swift ✓")
        #expect(execution.output["noop"] == .null)
        #expect(execution.output["python"] == "hello from python")
        let many = try #require(execution.output["many"]?.arrayValue)
        #expect(many == (0..<50).map { ["index": .integer(Int64($0))] })
        #expect(worker.count("action succeeded") >= 52)
        #expect(try await worker.terminate() == 0)
    }

    @Test("a synchronous run-action of a Swift action returns its result; a Python one is relayed")
    func synchronousRunAction() async throws {
        let worker = try await WorkerProcess.start()
        defer { worker.kill() }
        let (state, output, _) = try await mistral.runAction("int32bit.debug.echo", input: ["output": ["a": [1, 2.5, "ü"]]], params: ["run_sync": true])
        #expect(state == "SUCCESS")
        #expect(output == ["result": ["a": [1, 2.5, "ü"]]])
        let (pythonState, pythonOutput, _) = try await mistral.runAction("std.echo", input: ["output": "relayed"])
        #expect(pythonState == "SUCCESS")
        #expect(pythonOutput == ["result": "relayed"])
    }

    @Test("a failing Swift action puts its task in ERROR with our message")
    func failingAction() async throws {
        let worker = try await WorkerProcess.start()
        defer { worker.kill() }
        try await mistral.putWorkflow("""
            version: '2.0'
            e2e_failing:
              tasks:
                fails:
                  action: int32bit.debug.fail message="the e2e failure text"
            """)
        let id = try await mistral.startExecution("e2e_failing")
        let execution = try await mistral.waitForExecution(id)
        #expect(execution.state == "ERROR")
        let task = try #require(try await mistral.tasks(of: id).first)
        #expect(task.state == "ERROR")
        #expect(task.stateInfo?.contains("action int32bit.debug.fail failed: the e2e failure text") == true, "\(task.stateInfo ?? "")")

        // Bad input reaches the worker only through a hand-made request, since
        // Mistral validates input against the stub; an ill-typed value does:
        let (state, output, _) = try await mistral.runAction("int32bit.debug.sleep", input: ["seconds": "soon"], params: ["run_sync": true])
        #expect(state == "ERROR")
        #expect(output["result"]?.stringValue?.contains("parameter 'seconds' must be a number") == true, "\(output)")
    }

    @Test("a task timeout shorter than a Swift sleep fails the task, and the worker really stops the action")
    func timeout() async throws {
        // A long grace period: a worker still running the action would wait
        // it out, far beyond terminate's limit below.
        let worker = try await WorkerProcess.start(overrides: ["mistral_actions.shutdown_grace_period=600s"])
        defer { worker.kill() }
        try await mistral.putWorkflow("""
            version: '2.0'
            e2e_timeout:
              tasks:
                slow:
                  action: int32bit.debug.sleep seconds=900
                  timeout: 2
            """)
        let id = try await mistral.startExecution("e2e_timeout")
        // Only the task timeout can end the 900 s sleep within this wait.
        let execution = try await mistral.waitForExecution(id, timeout: 120)
        #expect(execution.state == "ERROR")
        let task = try #require(try await mistral.tasks(of: id).first)
        #expect(task.stateInfo?.lowercased().contains("timeout") == true || task.stateInfo?.lowercased().contains("timed out") == true, "\(task.stateInfo ?? "")")
        try await worker.waitForLog("action timed out and was cancelled", timeout: 60)
        // Nothing of the action remains: the worker is idle and stops without
        // waiting for the grace period (terminate fails after 60 s).
        #expect(try await worker.terminate(timeout: 60) == 0)
        #expect(worker.count("action succeeded") == 0)
    }

    @Test("heartbeats keep an action alive far longer than the engine's heartbeat window")
    func longActionWithHeartbeats() async throws {
        // The engine fails a running action after 2 × 2 s without a heartbeat
        // (and after 3 s if none ever came); the worker reports every second.
        let worker = try await WorkerProcess.start()
        defer { worker.kill() }
        try await mistral.putWorkflow("""
            version: '2.0'
            e2e_long:
              tasks:
                long:
                  action: int32bit.debug.sleep seconds=14
            """)
        let id = try await mistral.startExecution("e2e_long")
        let execution = try await mistral.waitForExecution(id, timeout: 40)
        #expect(execution.state == "SUCCESS", "\(execution.stateInfo ?? "")")
    }

    @Test("without heartbeats the same action is failed by the engine (control for the test above)")
    func longActionWithoutHeartbeats() async throws {
        let worker = try await WorkerProcess.start(overrides: ["action_heartbeat.check_interval=0"])
        defer { worker.kill() }
        try await mistral.putWorkflow("""
            version: '2.0'
            e2e_long_silent:
              tasks:
                long:
                  action: int32bit.debug.sleep seconds=120
            """)
        let id = try await mistral.startExecution("e2e_long_silent")
        // The action outlasts any engine delay: only the missing heartbeats end it early.
        let execution = try await mistral.waitForExecution(id, timeout: 100)
        #expect(execution.state == "ERROR")
        let task = try #require(try await mistral.tasks(of: id).first)
        #expect(task.stateInfo?.contains("Heartbeat wasn't received") == true, "\(task.stateInfo ?? "")")
    }

    @Test("swift-only mode fails a Python action at once with a clear error")
    func swiftOnly() async throws {
        let worker = try await WorkerProcess.start(overrides: ["mistral_actions.mode=swift-only"])
        defer { worker.kill() }
        try await mistral.putWorkflow("""
            version: '2.0'
            e2e_swift_only:
              tasks:
                python:
                  action: std.echo output="never"
            """)
        let id = try await mistral.startExecution("e2e_swift_only")
        let execution = try await mistral.waitForExecution(id, timeout: 60)
        #expect(execution.state == "ERROR")
        // The worker's own message, not the engine's heartbeat timeout, failed it.
        let task = try #require(try await mistral.tasks(of: id).first)
        #expect(task.stateInfo?.contains("swift-only mode") == true, "\(task.stateInfo ?? "")")
        #expect(task.stateInfo?.contains("EchoAction") == true, "\(task.stateInfo ?? "")")
    }

    @Test("router mode fails at once an action it cannot relay (no queue on the fallback topic)")
    func unroutableRelay() async throws {
        let worker = try await WorkerProcess.start(overrides: ["mistral_actions.fallback_topic=e2e_nobody_listens_here"])
        defer { worker.kill() }
        let body: JSON = ["name": "std.echo", "input": "{\"output\": \"lost?\"}", "params": "{\"save_result\": true}"]
        let (status, created) = try await mistral.request("POST", "/action_executions", body: Data(body.description.utf8))
        #expect(status == 201)
        let id = try #require(created["id"]?.stringValue)
        var finalState = created["state"]?.stringValue ?? ""
        var finalOutput = try created["output"]?.stringValue.map { try JSON(parsing: $0) } ?? .null
        try? await eventually("action execution \(id) ends", limit: .seconds(60), every: .milliseconds(200)) {
            guard finalState == "RUNNING" else { return true }
            let (_, current) = try await mistral.request("GET", "/action_executions/\(id)")
            finalState = current["state"]?.stringValue ?? ""
            finalOutput = try current["output"]?.stringValue.map { try JSON(parsing: $0) } ?? .null
            return finalState != "RUNNING"
        }
        #expect(finalState == "ERROR")
        #expect(finalOutput["result"]?.stringValue?.contains("no queue is bound to the fallback topic 'e2e_nobody_listens_here'") == true, "\(finalOutput)")
    }

    @Test("two workers share the load, and SIGTERM during a with-items run loses nothing")
    func twoWorkersAndGracefulShutdown() async throws {
        let first = try await WorkerProcess.start(overrides: ["mistral_actions.concurrency=4"])
        let second = try await WorkerProcess.start(overrides: ["mistral_actions.concurrency=4"])
        defer {
            first.kill()
            second.kill()
        }
        try await mistral.putWorkflow("""
            version: '2.0'
            e2e_shared:
              tasks:
                items:
                  with-items: i in <% range(0, 40) %>
                  action: int32bit.debug.sleep seconds=0.5
                  publish:
                    count: <% len(task().result) %>
            """)
        let id = try await mistral.startExecution("e2e_shared")
        try await first.waitForLog("action succeeded", timeout: 60)
        #expect(try await first.terminate() == 0)
        let execution = try await mistral.waitForExecution(id, timeout: 120)
        #expect(execution.state == "SUCCESS", "\(execution.stateInfo ?? "")")
        #expect(execution.output["count"] == 40)
        let (byFirst, bySecond) = (first.count("action succeeded"), second.count("action succeeded"))
        #expect(byFirst > 0 && bySecond > 0, "first \(byFirst), second \(bySecond)")
        #expect(byFirst + bySecond == 40)
        #expect(first.count("action cancelled") == 0)
        #expect(first.log.contains("worker stopped"))
    }

    @Test("a worker killed during a safe-rerun action lets another worker run it")
    func safeRerunSurvivesAKilledWorker() async throws {
        let first = try await WorkerProcess.start(overrides: ["mistral_actions.log_level=debug"])
        defer { first.kill() }
        try await mistral.putWorkflow("""
            version: '2.0'
            e2e_safe_rerun:
              tasks:
                rerunnable:
                  action: int32bit.debug.sleep seconds=3
                  safe-rerun: true
            """)
        let id = try await mistral.startExecution("e2e_safe_rerun")
        try await first.waitForLog("running action", timeout: 60)
        // Killed without a chance to answer: its unacknowledged delivery goes back to the queue.
        first.kill()
        try await first.waitForExit()
        let second = try await WorkerProcess.start()
        defer { second.kill() }
        let execution = try await mistral.waitForExecution(id, timeout: 90)
        #expect(execution.state == "SUCCESS", "\(execution.stateInfo ?? "")")
        #expect(second.count("action succeeded") == 1)
    }

    @Test("in swift-only mode malformed requests are logged and dropped; the worker keeps serving")
    func malformedRequests() async throws {
        let worker = try await WorkerProcess.start(overrides: ["mistral_actions.mode=swift-only"])
        defer { worker.kill() }
        let publisher = try Publisher()
        try await publisher.publish(#"this is not JSON"#)
        try await publisher.publish(#"{"oslo.version": "2.0", "oslo.message": "{\"method\": \"run_action\", \"args\": {\"action\": \"{}\"}, \"_unique_id\": \"x1\"}"}"#)
        try await publisher.publish(#"{"oslo.version": "2.0", "oslo.message": "{\"method\": \"no_such_method\", \"args\": {}, \"_unique_id\": \"x2\"}"}"#)
        try await worker.waitForLog("dropped an unreadable message", timeout: 60)
        try await worker.waitForLog("malformed run_action", timeout: 60)
        try await worker.waitForLog("unsupported RPC method", timeout: 60)
        let (state, output, _) = try await mistral.runAction("int32bit.debug.echo", input: ["output": "still here"], params: ["run_sync": true])
        #expect(state == "SUCCESS")
        #expect(output == ["result": "still here"])
    }
}

