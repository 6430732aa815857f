import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import OrderedJSON
import Testing

// Nested in the serialized Mistral suite: its workers compete with the
// other suites' workers on Mistral's one executor topic.
extension ExecutorEndToEndTests {
    /// Inputs that once stopped a worker, sent to a real worker process over
    /// RabbitMQ (by real Mistral 23, or published raw as a misbehaving client
    /// would). After each, the same worker process must still serve.
    @Suite("Hostile input end to end")
    struct HostileInputEndToEndTests {
        let mistral = MistralAPI()

        /// The worker is alive and answers a synchronous run-action.
        func expectServing(_ worker: WorkerProcess, _ note: String) async throws {
            let (state, output, _) = try await mistral.runAction("int32bit.debug.echo", input: ["output": .string(note)], params: ["run_sync": true])
            #expect(state == "SUCCESS", "after \(note)")
            #expect(output == ["result": .string(note)])
            #expect(worker.isRunning, "worker stopped after \(note):\n\(worker.log)")
        }

        @Test("absurd numbers in Swift actions' input are clear errors and the worker keeps serving")
        func absurdNumbers() async throws {
            let worker = try await WorkerProcess.start()
            defer { worker.kill() }
            let cases: [(String, JSON, String)] = [
                ("int32bit.debug.sleep", ["seconds": .double(1e300)], "seconds must be a number of seconds between 0 and 31622400, got 1e+300"),
                ("int32bit.debug.sleep", ["seconds": .integer(Int64.max)], "got 9.223372036854776e+18"),
                ("int32bit.cinder.volumes.assert_status", ["volume_id": "v", "status": "available", "wait_timeout": .double(1e300)],
                 "wait_timeout must be a number of seconds between 0 and 86400"),
                ("int32bit.glance.images.filter_by", ["size_min": .double(1e19)], "Invalid value for size_min"),
            ]
            for (name, input, message) in cases {
                let (state, output, info) = try await mistral.runAction(name, input: input, params: ["run_sync": true])
                #expect(state == "ERROR", "\(name) \(input)")
                let text = "\(output) \(info ?? "")"
                #expect(text.contains(message), "\(name) \(input): \(text)")
                try await expectServing(worker, "\(name) \(input)")
            }
        }

        @Test("NaN and Infinity from a workflow: Python's std.echo is relayed and succeeds, ours give a clear error or echo them")
        func nonFiniteNumbersFromAWorkflow() async throws {
            let worker = try await WorkerProcess.start()
            defer { worker.kill() }
            try await mistral.putWorkflow("""
                version: '2.0'
                e2e_non_finite:
                  tasks:
                    python_echo:
                      action: std.echo output=<% float("inf") %>
                      publish:
                        python: <% str(task().result) %>
                      on-complete: [swift_echo]
                    swift_echo:
                      action: int32bit.debug.echo output=<% [float("-inf"), 1] %>
                      publish:
                        swift: <% str(task().result) %>
                      on-complete: [swift_sleep]
                    swift_sleep:
                      action: int32bit.debug.sleep seconds=<% float("nan") %>
                      on-error: [after]
                    after:
                      action: int32bit.debug.echo output="after"
                      publish:
                        after: <% task().result %>
                """)
            let id = try await mistral.startExecution("e2e_non_finite")
            _ = try await mistral.waitForExecution(id)
            let tasks = try await mistral.tasks(of: id)
            let states = Dictionary(uniqueKeysWithValues: tasks.map { ($0.name, $0) })
            #expect(states["python_echo"]?.state == "SUCCESS", "\(tasks)")
            #expect(states["swift_echo"]?.state == "SUCCESS", "\(tasks)")
            #expect(states["swift_sleep"]?.state == "ERROR", "\(tasks)")
            #expect(states["swift_sleep"]?.stateInfo?.contains("must be a finite number") == true, "\(tasks)")
            #expect(states["after"]?.state == "SUCCESS", "\(tasks)")
            try await expectServing(worker, "non-finite numbers")
        }

        @Test("raw messages no parser of ours reads are relayed in router mode; odd timeouts and bodies never stop the worker")
        func rawMessages() async throws {
            let worker = try await WorkerProcess.start(extraConfiguration: "log_level = debug")
            defer { worker.kill() }
            let publisher = try Publisher()
            // Deeper than our parser's limit, but Python's json reads it.
            let deep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
            func request(_ args: String, id: String) -> String {
                let inner = #"{"method": "run_action", "args": \#(args), "_unique_id": "\#(id)", "version": "2.0"}"#
                let escaped = inner.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                return #"{"oslo.version": "2.0", "oslo.message": "\#(escaped)"}"#
            }
            let echo = #""{\"mistral.actions.std_actions.EchoAction\": {\"output\": 1}}""#
            try await publisher.publish(request(#"{"action": \#(echo), "action_ex_id": null, "safe_rerun": false, "exec_ctx": {}, "timeout": null, "deep": \#(deep)}"#, id: "deep1"))
            try await worker.waitForLog("relaying a message this worker cannot read", timeout: 30)
            // A request for one of our actions with absurd timeouts: the action
            // runs (its result goes to an engine that does not know the id).
            let noop = try await registeredNoop()
            // Mistral sends each argument as a JSON string ("1e+300"); the raw
            // forms too, as another client might.
            // Fresh action execution ids: a start claim from an earlier run
            // would (rightly) keep an id from running again.
            let run = UUID().uuidString.prefix(8).lowercased()
            let timeouts = [#""1e+300""#, "1e300", "-1e300", "NaN", #""Infinity""#, "-0.0", "1e400", "18446744073709551616"]
            for (index, timeout) in timeouts.enumerated() {
                try await publisher.publish(request(
                    #"{"action": \#(noop), "action_ex_id": "\"hostile-\#(run)-\#(index)\"", "safe_rerun": "false", "exec_ctx": "{}", "timeout": \#(timeout)}"#,
                    id: "timeout\(index)"))
            }
            try? await eventually("\(timeouts.count) actions succeed", limit: .seconds(60), every: .milliseconds(200)) {
                #expect(worker.isRunning)
                return worker.count("action succeeded") >= timeouts.count
            }
            #expect(worker.count("action succeeded") >= timeouts.count, "\(worker.log)")
            // A lone surrogate and a repeated key in our action's input, as
            // Python's json.dumps can send them: read as Python reads them.
            let echoAction = try await registeredAction("int32bit.debug.echo", data: #"{"output": "\ud800", "output": "last"}"#)
            try await publisher.publish(request(
                #"{"action": \#(echoAction), "action_ex_id": "\"hostile-echo-\#(run)\"", "safe_rerun": "false", "exec_ctx": "{}", "timeout": null}"#,
                id: "surrogate"))
            try? await eventually("the echo succeeds", limit: .seconds(60), every: .milliseconds(200)) {
                worker.count("action succeeded") >= timeouts.count + 1
            }
            #expect(worker.count("action succeeded") >= timeouts.count + 1, "\(worker.log)")
            // Control characters and a huge string in the body.
            try await publisher.publish("{\"oslo.version\": \"2.0\", \"oslo.message\": \"\\u0000\\n\(String(repeating: "x", count: 2_000_000))\"}")
            try await worker.waitForLog("relaying a message this worker cannot read", timeout: 30)
            try await expectServing(worker, "raw messages")
        }

        @Test("a Cinder answer with Retry-After: 1e300 makes the action wait the client's maximum (30 s) and retry, not stop the worker")
        func hugeRetryAfter() async throws {
            let worker = try await WorkerProcess.start()
            defer { worker.kill() }
            let volume = "11111111-2222-3333-4444-555555555555"  // the simulator's demo volume
            try await simulatorFaults([[
                "method": "GET", "path": .string("/volumes/\(volume)"), "service": "block-storage", "times": 1,
                "status": 429, "retry_after": "1e300",
            ]])
            defer { Task { try? await simulatorFaults([]) } }
            let (state, output, info) = try await mistral.runAction(
                "int32bit.cinder.volumes.assert_status", input: ["volume_id": .string(volume), "status": "available"], params: ["run_sync": true])
            #expect(state == "SUCCESS", "\(output) \(info ?? "")")
            #expect(output == ["result": true])
            try await expectServing(worker, "Retry-After 1e300")
        }

        func simulatorFaults(_ rules: [JSON]) async throws {
            var request = URLRequest(url: try #require(URL(string: TestEnvironment.simulatorURL + "/_simulator/faults")))
            request.httpMethod = "PUT"
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(try JSON.array(rules).encodedString().utf8)
            let (_, response) = try await URLSession.shared.data(for: request)
            #expect((response as? HTTPURLResponse)?.statusCode == 200)
        }

        /// The serialized action Mistral sends for our `debug.noop`, read from
        /// Mistral's tables (class name and code source id).
        func registeredNoop() async throws -> String {
            try await registeredAction("int32bit.debug.noop", data: "{}")
        }

        /// The serialized action Mistral sends for our action `name` with the
        /// input `data` (raw JSON text, so that it can hold what Python writes
        /// and our writer would not: lone surrogates, repeated keys).
        func registeredAction(_ name: String, data: String) async throws -> String {
            let (_, json) = try await mistral.request("GET", "/dynamic_actions?limit=1000")
            let row = try #require(json["dynamic_actions"]?.arrayValue?.first { $0["name"]?.stringValue == name }, "\(json)")
            let className = try #require(row["class_name"]?.stringValue)
            let codeSourceID = try #require(row["code_source_id"]?.stringValue)
            // As Mistral serializes it: the object's fields as a JSON string
            // under __serial_data.
            let serialData = #"{"cls_name": \#(try JSON.string(className).encodedString(style: .python)), "cls_attrs": {}, "data": \#(data), "#
                + #""code_source_id": \#(try JSON.string(codeSourceID).encodedString(style: .python)), "namespace": ""}"#
            let inner: JSON = [
                "__serial_key": "mistral.actions.dynamic_action.DynamicAction",
                "__serial_data": .string(serialData),
            ]
            return try JSON.string(inner.encodedString(style: .python)).encodedString(style: .python)
        }
    }
}
