import Foundation
import OrderedJSON
import Testing

/// SIGTERM on a real worker process over the real RabbitMQ: nothing starts
/// after the signal, waiting requests go back to the queue, running ones are
/// cancelled at the end of the grace period and reported, and the process
/// exits. The worker has topics of its own (no Mistral involved), so it
/// shares no request with other tests.
@Suite("SIGTERM starts nothing and returns waiting requests, end to end", .serialized)
struct ShutdownEndToEndTests {
    @Test("concurrency 2, six queued 600-second actions: two start, SIGTERM, four go back, two get a shutdown error")
    func sigtermWithQueuedRequests() async throws {
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let executorTopic = "e2e_shutdown_\(suffix)"
        let engineTopic = "e2e_shutdown_engine_\(suffix)"
        let worker = try await WorkerProcess.start(extraConfiguration: """
            log_level = debug
            concurrency = 2
            shutdown_grace_period = 2s
            fallback_topic = e2e_shutdown_python_\(suffix)

            [executor]
            topic = \(executorTopic)

            [engine]
            topic = \(engineTopic)
            """)
        defer { worker.kill() }
        let codeSourceID = try #require(LogSecretsEndToEndTests.codeSourceID(in: worker.log), "no code_source.id in:\n\(worker.log)")
        let engine = EngineQueue(executorTopic: executorTopic, engineTopic: engineTopic)
        _ = try await engine.run(["publish", codeSourceID, "6", suffix])
        // Two run; the other four wait (the topic consumer's prefetch is the concurrency).
        try await worker.waitForLog("running action action.", timeout: 120)
        let deadline = Date().addingTimeInterval(120)
        while worker.count("running action action.") < 2 {
            guard worker.isRunning, Date() < deadline else { throw TestFailure("two actions did not start:\n\(worker.log)") }
            try await Task.sleep(for: .milliseconds(100))
        }
        let signalled = Date()
        let status = try await worker.terminate(timeout: 120)
        let shutdownSeconds = Date().timeIntervalSince(signalled)
        #expect(status == 0, "\(worker.log)")
        // The actions sleep 600 s: an exit long before that shows the worker did not wait for them.
        #expect(shutdownSeconds < 60, "shutdown took \(shutdownSeconds) s")
        #expect(worker.count("running action action.") == 2, "an action started after SIGTERM:\n\(worker.log)")

        let state = try await engine.run(["collect"])
        let results = try #require(state["results"]?.objectValue, "\(state)")
        #expect(results.count == 2, "\(state)")
        for (_, error) in results {
            #expect(error.stringValue?.contains("shut down") == true, "\(error)")
        }
        #expect(state["ready"] == 4, "the four waiting requests are back in the queue: \(state)")
        _ = try await engine.run(["delete"])
    }
}

/// Plays Mistral's engine with kombu: publishes `run_action` casts of
/// `debug.sleep` as Mistral 23 does, collects the completions.
struct EngineQueue {
    let executorTopic: String
    let engineTopic: String

    static let script = #"""
        import json, sys, uuid, kombu
        url, executor_topic, engine_topic, command = sys.argv[1:5]
        arguments = sys.argv[5:]
        exchange = kombu.Exchange("openstack", type="topic", durable=False)
        with kombu.Connection(url.replace("rabbit://", "amqp://")) as connection:
            channel = connection.channel()
            engine = kombu.Queue(engine_topic, exchange=exchange, routing_key=engine_topic, durable=False)(channel)
            engine.declare()
            if command == "publish":
                code_source, count, run = arguments[0], int(arguments[1]), arguments[2]
                producer = kombu.Producer(channel)
                for index in range(count):
                    data = {"cls_name": "DebugSleepAction", "cls_attrs": {}, "data": {"seconds": 600},
                            "code_source_id": code_source, "namespace": ""}
                    action = {"__serial_key": "mistral.actions.dynamic_action.DynamicAction",
                              "__serial_data": json.dumps(data)}
                    message = {"method": "run_action",
                               "args": {"action": json.dumps(action), "action_ex_id": json.dumps("sigterm-%s-%d" % (run, index)),
                                        "safe_rerun": json.dumps(False), "exec_ctx": json.dumps({}), "timeout": None},
                               "_unique_id": uuid.uuid4().hex, "_context_request_id": "req-" + str(uuid.uuid4()),
                               "_context_redelivered": False}
                    body = json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(message)})
                    producer.publish(body.encode(), exchange=exchange, routing_key=executor_topic,
                                     content_type="application/json", content_encoding="utf-8")
                print(json.dumps({"published": count}))
            elif command == "collect":
                results = {}
                while True:
                    message = engine.get(no_ack=True)
                    if message is None:
                        break
                    inner = json.loads(json.loads(message.body)["oslo.message"])
                    if inner["method"] == "on_action_complete":
                        result = json.loads(inner["args"]["result"])
                        if isinstance(result.get("__serial_data"), str):
                            result = json.loads(result["__serial_data"])
                        results[json.loads(inner["args"]["action_ex_id"])] = result.get("error")
                executor = kombu.Queue(executor_topic, exchange=exchange, routing_key=executor_topic, durable=False)(channel)
                _, ready, _ = executor.queue_declare(passive=True)
                print(json.dumps({"results": results, "ready": ready}))
            elif command == "delete":
                engine.delete()
                kombu.Queue(executor_topic, exchange=exchange, routing_key=executor_topic)(channel).delete()
                print("{}")
        """#

    func run(_ arguments: [String]) async throws -> JSON {
        let python = try Publisher().python
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", Self.script, TestEnvironment.amqpURL, executorTopic, engineTopic] + arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = try output.fileHandleForReading.readToEnd() ?? Data()
        while process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        guard process.terminationStatus == 0 else { throw TestFailure("the engine stand-in failed (\(arguments.first ?? ""))") }
        return try JSON(parsing: String(decoding: data, as: UTF8.self))
    }
}
