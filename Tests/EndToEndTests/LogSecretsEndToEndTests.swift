import Foundation
import OrderedJSON
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A real `mistral-actions worker` at debug level receives, over RabbitMQ,
/// run_action requests shaped as Mistral's engine sends them, whose security
/// context carries a real Keystone token, its service catalog and a trust
/// id; the OpenStack calls they make fail (404, 401, a token Keystone does
/// not know), and malformed messages arrive too. Nothing secret may reach
/// the worker's log: not the tokens, the catalog, the trust id, nor the
/// database and AMQP passwords of its configuration.
///
/// Needs RabbitMQ and PostgreSQL (scripts/local-services.sh) with Mistral's
/// schema in the database (scripts/mistral.sh start), and the simulator
/// (scripts/simulator.sh). The worker has topics of its own, so it shares
/// no request with other tests.
@Suite("Logs hold no secrets, end to end", .serialized)
struct LogSecretsEndToEndTests {
    @Test("at debug level, no log line holds a token, the catalog, the trust id or a password", arguments: ["human", "json"])
    func noSecretsInLogs(format: String) async throws {
        let secrets = try await Secrets.make()
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let executorTopic = "e2e_log_secrets_\(suffix)"
        let engineTopic = "e2e_log_secrets_engine_\(suffix)"
        let worker = try await WorkerProcess.start(extraConfiguration: """
            log_level = debug
            log_format = \(format)
            # Relays have nowhere to go: the relay failure is logged too.
            fallback_topic = e2e_log_secrets_python_\(suffix)

            [DEFAULT]
            # A user whose password is unmistakable in a log (its URL form too).
            transport_url = \(secrets.transportURL)

            [executor]
            topic = \(executorTopic)

            [engine]
            topic = \(engineTopic)
            """)
        defer { worker.kill() }
        let codeSourceID = try #require(Self.codeSourceID(in: worker.log), "no code_source.id in:\n\(worker.log)")

        let exchange = try await EngineStandIn().exchange(EngineStandIn.Spec(
            amqpURL: secrets.transportURL, executorTopic: executorTopic, engineTopic: engineTopic,
            codeSourceID: codeSourceID, requests: secrets.requests()))

        // Every call was answered and the cast's result reached the engine topic:
        // the failures really happened, so the log had its chance to leak.
        for label in ["volume_not_found", "unknown_token", "unknown_token_without_catalog", "malformed_action", "python_action"] {
            let reply = try #require(exchange["replies"]?[label], "no reply to \(label): \(exchange)")
            #expect(Self.isError(reply), "\(label) did not fail: \(reply)")
        }
        #expect(Self.resultError(exchange["replies"]?["volume_not_found"])?.contains("404") == true, "\(exchange)")
        let noSuchMethod = try #require(exchange["replies"]?["unknown_method"]?["failure"]?.stringValue)
        #expect(noSuchMethod.contains("NoSuchMethod"))
        let completion = try #require(exchange["completions"]?[secrets.actionExecutionID], "\(exchange)")
        #expect(completion["method"] == "on_action_complete")
        // The worker held the secrets: it passes the context on to the engine as it came.
        #expect(completion["_context_auth_token"] == .string(secrets.token))
        #expect(completion["_context_trust_id"] == .string(secrets.trustID))
        // The body cut short gets no answer; the worker says it could not read it
        // (and, in router mode, passes it on).
        try await Self.waitForLog(worker, anyOf: ["dropped an unreadable message", "message this worker cannot read"])
        #expect(try await worker.terminate() == 0)

        let log = worker.log
        let lines = log.split(separator: "\n")
        #expect(lines.count > 10)
        #expect(worker.count("running action") >= 4, "debug lines are missing:\n\(log)")
        #expect(worker.count("action failed") >= 4, "\(log)")
        #expect(worker.count("__serial_key") >= 1, "the malformed action was not logged:\n\(log)")
        // Keystone's 404 names the token it did not find: the worker logged that error, redacted.
        #expect(worker.count("Could not find token: ") >= 1, "\(log)")
        if format == "json" {
            let unreadable = lines.filter { (try? JSON(parsing: String($0)))?.objectValue == nil }
            #expect(unreadable.isEmpty, "lines that are no JSON object:\n\(unreadable.joined(separator: "\n"))")
        }
        for (name, secret) in secrets.forbidden {
            let leaking = lines.filter { $0.contains(secret) }
            #expect(leaking.isEmpty, "the \(name) is in the log:\n\(leaking.joined(separator: "\n"))")
        }
    }

    @Test("a worker refused by PostgreSQL or RabbitMQ does not log the password it tried")
    func refusedPasswords() async throws {
        let database = try #require(URLComponents(string: TestEnvironment.mistralDatabaseURL))
        let amqp = try #require(URLComponents(string: TestEnvironment.amqpURL))
        let marker = "Wr0ngPW-\(UUID().uuidString.prefix(8))"
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ma-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func write(_ name: String, databasePassword: String, amqpPassword: String) throws -> String {
            let path = directory.appendingPathComponent(name).path
            try """
                [DEFAULT]
                transport_url = rabbit://ma%20user:\(amqpPassword)@\(amqp.host ?? "127.0.0.1"):\(amqp.port ?? 5672)/
                [database]
                connection = postgresql+psycopg2://\(database.user ?? ""):\(databasePassword)@\(database.host ?? "127.0.0.1"):\(database.port ?? 5432)\(database.path)
                [mistral_actions]
                log_level = debug
                http_listen = off
                """.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }

        // PostgreSQL refuses the password: the worker says so and keeps
        // retrying the registration (the password may be set up later);
        // SIGTERM ends it.
        let badDatabase = try write("database.conf", databasePassword: marker + "%40db", amqpPassword: "p%40ss%3Aw%2Frd%25")
        let databaseLogURL = directory.appendingPathComponent("database.log")
        _ = FileManager.default.createFile(atPath: databaseLogURL.path, contents: nil)
        let refused = Process()
        refused.executableURL = URL(fileURLWithPath: TestEnvironment.binary)
        refused.arguments = ["worker", "--config-file", badDatabase]
        let databaseLog = try FileHandle(forWritingTo: databaseLogURL)
        refused.standardOutput = databaseLog
        refused.standardError = databaseLog
        let refusedExit = ProcessExit(of: refused)
        try refused.run()
        defer { if refused.isRunning { kill(refused.processIdentifier, SIGKILL) } }
        try? await eventually("the worker logs the refused password", limit: .seconds(60), every: .milliseconds(100)) {
            refusedExit.status != nil
                || ((try? String(contentsOf: databaseLogURL, encoding: .utf8)) ?? "").contains("authentication failed")
        }
        kill(refused.processIdentifier, SIGTERM)
        try? await eventually("the worker exits after SIGTERM", limit: .seconds(60), every: .milliseconds(100)) {
            refusedExit.status != nil
        }
        let databaseText = (try? String(contentsOf: databaseLogURL, encoding: .utf8)) ?? ""
        #expect(databaseText.contains("cannot register the actions yet; retrying"), "\(databaseText)")
        #expect(databaseText.contains("authentication failed"), "\(databaseText)")
        #expect(!databaseText.contains(marker), "\(databaseText)")
        #expect(refusedExit.status == 0, "\(databaseText)")

        // RabbitMQ refuses the password: the worker says so and keeps retrying.
        let badBroker = try write("broker.conf", databasePassword: database.password ?? "", amqpPassword: marker + "%3Aamqp")
        let logURL = directory.appendingPathComponent("broker.log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestEnvironment.binary)
        process.arguments = ["worker", "--config-file", badBroker]
        let log = try FileHandle(forWritingTo: logURL)
        process.standardOutput = log
        process.standardError = log
        let exit = ProcessExit(of: process)
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        try? await eventually("the worker logs ACCESS_REFUSED", limit: .seconds(30), every: .milliseconds(100)) {
            exit.status != nil || ((try? String(contentsOf: logURL, encoding: .utf8)) ?? "").contains("ACCESS_REFUSED")
        }
        let text = (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
        #expect(text.contains("ACCESS_REFUSED"), "\(text)")
        #expect(!text.contains(marker), "\(text)")
    }

    /// Polls the log (without blocking a thread) until a line holds one of `texts`.
    static func waitForLog(_ worker: WorkerProcess, anyOf texts: [String], timeout: TimeInterval = 20) async throws {
        do {
            try await eventually("the worker logs one of \(texts)", limit: .seconds(timeout), every: .milliseconds(100)) {
                let log = worker.log
                return texts.contains(where: { log.contains($0) })
            }
        } catch is TestTimeout {
            throw TestFailure("worker logged none of \(texts) within \(timeout) s:\n\(worker.log)")
        }
    }

    static func codeSourceID(in log: String) -> String? {
        for line in log.split(separator: "\n") where line.contains("actions registered in Mistral") {
            guard let range = line.range(of: #"code_source\.id"?(=|": ")"?[0-9a-f-]{36}"#, options: .regularExpression) else {
                continue
            }
            return String(line[range].suffix(36))
        }
        return nil
    }

    /// The error of a reply: an oslo failure, or a Result whose error is set.
    static func isError(_ reply: JSON) -> Bool {
        if let failure = reply["failure"], !failure.isNull { return true }
        return resultError(reply) != nil
    }

    static func resultError(_ reply: JSON?) -> String? {
        guard let text = reply?["result"]?.stringValue, let result = try? JSON(parsing: Data(text.utf8)),
            let data = result["__serial_data"]?.stringValue, let decoded = try? JSON(parsing: Data(data.utf8)),
            let error = decoded["error"], !error.isNull
        else { return nil }
        return error.stringValue ?? error.description
    }
}

/// The secrets of one run: a token the simulator's Keystone issued (with its
/// catalog, to which a service of our own adds an unmistakable name), one it
/// never issued, a trust id, and the passwords of the worker's configuration.
struct Secrets {
    var token: String
    var unknownToken: String
    var catalog: JSON
    var catalogMarker: String
    var projectID: String
    var trustID: String
    var transportURL: String
    var actionExecutionID = UUID().uuidString.lowercased()
    /// (what, text) pairs no log line may contain.
    var forbidden: [(String, String)]

    static func make() async throws -> Secrets {
        let issued = try await simulatorTokens()
        let token = try #require(issued["id"]?.stringValue)
        var tokenBody = try #require(issued["body"]?["token"]?.objectValue)
        let projectID = try #require(tokenBody["project"]?["id"]?.stringValue)
        let marker = "catalog-marker-\(UUID().uuidString.lowercased())"
        var services = try #require(tokenBody["catalog"]?.arrayValue)
        services.append([
            "id": .string(marker + "-service"), "type": "e2e-marker", "name": .string(marker),
            "endpoints": [[
                "id": .string(marker + "-endpoint"), "interface": "public", "region": "RegionOne",
                "region_id": "RegionOne", "url": .string("https://\(marker).example.invalid/v1"),
            ]],
        ])
        tokenBody["catalog"] = .array(services)
        let unknownToken = "gAAAAAB" + (0..<6).map { _ in UUID().uuidString.replacingOccurrences(of: "-", with: "") }.joined()
        let trustID = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()

        // The broker's second test user (scripts/local-services.sh): 'ma user' / 'p@ss:w/rd%'.
        let amqp = try #require(URLComponents(string: TestEnvironment.amqpURL))
        let amqpPassword = "p@ss:w/rd%"
        let transportURL = "rabbit://ma%20user:p%40ss%3Aw%2Frd%25@\(amqp.host ?? "127.0.0.1"):\(amqp.port ?? 5672)/"
        let database = try #require(URLComponents(string: TestEnvironment.mistralDatabaseURL))
        let databasePassword = try #require(database.password, "the database URL has no password")
        return Secrets(
            token: token, unknownToken: unknownToken, catalog: .object(tokenBody), catalogMarker: marker,
            projectID: projectID, trustID: trustID, transportURL: transportURL,
            forbidden: [
                ("Keystone token", token), ("unknown token", unknownToken), ("service catalog", marker),
                ("trust id", trustID), ("database password", databasePassword),
                ("AMQP password", amqpPassword), ("AMQP password (URL-encoded)", "p%40ss%3Aw%2Frd%25"),
            ])
    }

    /// A fresh token of the simulator's demo project, with its catalog.
    static func simulatorTokens() async throws -> JSON {
        var request = URLRequest(url: try #require(URL(string: TestEnvironment.simulatorURL + "/_simulator/tokens")))
        request.httpMethod = "POST"
        request.httpBody = Data("{}".utf8)
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        let (data, response) = try await URLSession.shared.data(for: request)
        guard (response as? HTTPURLResponse)?.statusCode == 201 else {
            throw TestFailure("POST /_simulator/tokens: \(String(decoding: data, as: UTF8.self))")
        }
        return try JSON(parsing: data)
    }

    /// Mistral's security context for a user of Keystone (`MistralContext.to_dict()`).
    func context(token: String?, catalog: JSON, trustScoped: Bool = false) -> JSON {
        [
            "user": "8b3e2f0c5a6d4e1f9a7b6c5d4e3f2a1b", "project_id": .string(projectID), "system_scope": .null,
            "project": .string(projectID), "domain": .null, "user_domain": "default", "project_domain": "default",
            "is_admin": false, "read_only": false, "show_deleted": false, "auth_token": token.map(JSON.string) ?? .null,
            "request_id": .string("req-\(UUID().uuidString.lowercased())"), "global_request_id": .null,
            "resource_uuid": .null, "roles": ["member", "reader"], "user_identity": "- - - - -",
            "is_admin_project": false, "user_name": "demo", "project_name": "demo", "domain_name": .null,
            "user_domain_name": "Default", "project_domain_name": "Default",
            "auth_uri": .string(TestEnvironment.simulatorURL + "/identity/v3"), "auth_cacert": .null,
            "insecure": false, "service_catalog": catalog, "region_name": "RegionOne",
            "is_trust_scoped": .bool(trustScoped), "redelivered": false, "expires_at": "2099-01-01T00:00:00.000000Z",
            "trust_id": .string(trustID), "is_target": false,
            "root_execution_id": .string(UUID().uuidString.lowercased()),
        ]
    }

    /// What the engine stand-in sends, each request with a secret-bearing context.
    func requests() -> [JSON] {
        let missingVolume: JSON = ["volume_id": "00000000-dead-beef-0000-000000000404", "action_region": .null]
        let listChains: JSON = ["cls_name": "CinderBackupsListChainsAction", "data": missingVolume]
        let full = context(token: token, catalog: catalog)
        return [
            // A call, as a synchronous run-action: the volume does not exist (404).
            ["label": "volume_not_found", "call": true, "method": "run_action", "action": listChains, "context": full],
            // A token Keystone never issued, with a catalog: Cinder answers 401.
            ["label": "unknown_token", "call": true, "method": "run_action", "action": listChains,
             "context": context(token: unknownToken, catalog: catalog)],
            // A trust-scoped token without a catalog: the worker asks Keystone, whose
            // 404 names the token ("Could not find token: gAAAA...").
            ["label": "unknown_token_without_catalog", "call": true, "method": "run_action", "action": listChains,
             "context": context(token: unknownToken, catalog: [:], trustScoped: true)],
            // A workflow task (a cast with an action execution id): its result goes to the engine topic.
            ["label": "task", "call": false, "method": "run_action", "action": listChains,
             "action_ex_id": .string(actionExecutionID), "context": full],
            // Malformed: an action that is no serialized action.
            ["label": "malformed_action", "call": true, "method": "run_action", "raw_action": "{\"__serial_key\": 7}",
             "context": full],
            ["label": "unknown_method", "call": true, "method": "no_such_method", "context": full],
            // Not ours, relayed to a fallback topic where nobody listens.
            ["label": "python_action", "call": true, "method": "run_action",
             "python_action": ["cls": "mistral.actions.std_actions.EchoAction", "data": ["output": "relayed?", "_delay": 0.0]],
             "context": full],
            // A body cut short after the token: no JSON at all.
            ["label": "truncated", "call": false, "method": "run_action", "action": listChains, "context": full,
             "truncate_after": .string(token)],
        ]
    }
}

/// Mistral's engine, as far as the worker can tell: publishes run_action
/// requests encoded as oslo.messaging and mistral_lib encode them (with the
/// Python peer's kombu), and collects the replies to its calls and what the
/// worker sends to the engine topic. Returns when every call was answered
/// and every action execution reported complete.
struct EngineStandIn {
    struct Spec {
        var amqpURL: String
        var executorTopic: String
        var engineTopic: String
        var codeSourceID: String
        var requests: [JSON]
    }

    static let script = #"""
        import json, sys, time, uuid, kombu

        spec = json.load(sys.stdin)
        exchange = kombu.Exchange("openstack", type="topic", durable=False)
        reply_queue = "reply_" + uuid.uuid4().hex
        replies, completions, pending_calls, pending_tasks = {}, {}, {}, set()

        def arg(value):
            return None if value is None else json.dumps(value)

        def serialized_action(request):
            if "raw_action" in request:
                return request["raw_action"]
            if "python_action" in request:
                data = dict(request["python_action"], cls_attrs={})
                return json.dumps({"__serial_key": "mistral_lib.actions.base.Action", "__serial_data": json.dumps(data)})
            data = dict(request["action"], cls_attrs={}, code_source_id=spec["code_source_id"], namespace="")
            return json.dumps({"__serial_key": "mistral.actions.dynamic_action.DynamicAction",
                               "__serial_data": json.dumps(data)})

        def body(request):
            message = {"method": request["method"]}
            if request["method"] == "run_action":
                message["args"] = {"action": serialized_action(request), "action_ex_id": arg(request.get("action_ex_id")),
                                   "safe_rerun": "false", "exec_ctx": "{}", "timeout": None}
            else:
                message["args"] = {}
            if request["call"]:
                msg_id = uuid.uuid4().hex
                pending_calls[msg_id] = request["label"]
                message.update({"_msg_id": msg_id, "_reply_q": reply_queue, "_timeout": None})
            message["_unique_id"] = uuid.uuid4().hex
            message.update({"_context_" + key: value for key, value in request["context"].items()})
            text = json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(message)})
            cut = request.get("truncate_after")
            if cut:
                text = text[: text.index(cut) + len(cut)]
            elif request.get("action_ex_id"):
                pending_tasks.add(request["action_ex_id"])
            return text

        def received(payload, message):
            message.ack()
            if isinstance(payload, (bytes, str)):
                payload = json.loads(payload)
            inner = json.loads(payload["oslo.message"])
            if inner.get("_msg_id") in pending_calls and inner.get("ending", True):
                replies[pending_calls.pop(inner["_msg_id"])] = inner
            elif inner.get("method") == "on_action_complete":
                ex_id = json.loads(inner["args"]["action_ex_id"])
                completions[ex_id] = inner
                pending_tasks.discard(ex_id)

        with kombu.Connection(spec["amqp_url"].replace("rabbit://", "amqp://")) as connection:
            channel = connection.channel()
            queues = [
                kombu.Queue(reply_queue, durable=False, auto_delete=True, channel=channel),
                kombu.Queue(spec["engine_topic"], exchange=exchange, routing_key=spec["engine_topic"],
                            durable=False, auto_delete=True, channel=channel),
            ]
            for queue in queues:
                queue.declare()
            with kombu.Consumer(channel, queues=queues, callbacks=[received], accept=["application/json"]):
                producer = kombu.Producer(channel, exchange=exchange)
                for request in spec["requests"]:
                    producer.publish(body(request).encode(), routing_key=spec["executor_topic"],
                                     content_type="application/json", content_encoding="utf-8", delivery_mode=2)
                deadline = time.monotonic() + 90
                while (pending_calls or pending_tasks) and time.monotonic() < deadline:
                    try:
                        connection.drain_events(timeout=1)
                    except TimeoutError:
                        pass
                    except OSError as error:
                        if "timed out" not in str(error):
                            raise
        json.dump({"replies": replies, "completions": completions,
                   "unanswered": sorted(pending_calls.values()), "unfinished": sorted(pending_tasks)}, sys.stdout)
        """#

    func exchange(_ spec: Spec) async throws -> JSON {
        let input: JSON = [
            "amqp_url": .string(spec.amqpURL), "executor_topic": .string(spec.executorTopic),
            "engine_topic": .string(spec.engineTopic), "code_source_id": .string(spec.codeSourceID),
            "requests": .array(spec.requests),
        ]
        let python = try Publisher().python
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", Self.script]
        let directory = FileManager.default.temporaryDirectory
        let outputURL = directory.appendingPathComponent("ma-e2e-engine-\(UUID().uuidString).json")
        let errorURL = directory.appendingPathComponent("ma-e2e-engine-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errorURL.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: outputURL)
            try? FileManager.default.removeItem(at: errorURL)
        }
        let stdin = Pipe()
        process.standardInput = stdin
        process.standardOutput = try FileHandle(forWritingTo: outputURL)
        process.standardError = try FileHandle(forWritingTo: errorURL)
        let exit = ProcessExit(of: process)
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.description.utf8))
        try stdin.fileHandleForWriting.close()
        // The script ends when every answer came (or after its own deadline).
        try await exit.wait(limit: .seconds(300), "the engine stand-in")
        let output = try Data(contentsOf: outputURL)
        guard process.terminationStatus == 0, let result = try? JSON(parsing: output) else {
            let error = (try? String(contentsOf: errorURL, encoding: .utf8)) ?? ""
            throw TestFailure("the engine stand-in failed (\(process.terminationStatus)): \(error)")
        }
        guard result["unanswered"]?.arrayValue?.isEmpty == true, result["unfinished"]?.arrayValue?.isEmpty == true else {
            throw TestFailure("the worker did not answer everything within 90 s: \(result)")
        }
        return result
    }
}
