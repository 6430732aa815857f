import Foundation
import Testing

/// `mistral-actions doctor` against the real local RabbitMQ, PostgreSQL and
/// Mistral database: a running worker on a topic of its own passes every
/// check, and each fault injected into its configuration is reported on
/// the row it concerns, with a non-zero exit.
@Suite("mistral-actions doctor", .serialized)
struct DoctorEndToEndTests {
    /// A worker of its own (topic, prefix, code source), so that nothing
    /// here touches the other tests' queues or rows.
    final class Deployment: Sendable {
        let worker: WorkerProcess
        let topic: String
        let codeSource: String
        let directory: URL

        init(worker: WorkerProcess, topic: String, codeSource: String, directory: URL) {
            self.worker = worker
            self.topic = topic
            self.codeSource = codeSource
            self.directory = directory
        }

        static func start() async throws -> Deployment {
            let tag = UUID().uuidString.prefix(8).lowercased()
            let topic = "doctor_executor_\(tag)"
            let codeSource = "cli_test_doctor_\(tag)"
            let worker = try await WorkerProcess.start(
                extraConfiguration: """
                    action_prefix = doctor\(tag)
                    code_source_name = \(codeSource)
                    """,
                overrides: ["executor.topic=\(topic)"]
            )
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ma-doctor-\(tag)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            return Deployment(worker: worker, topic: topic, codeSource: codeSource, directory: directory)
        }

        /// `doctor` with the worker's configuration, its topic, and more arguments.
        func doctor(_ arguments: [String] = []) async throws -> (status: Int32, table: String, errors: String) {
            let (status, output, errors) = try await runCLI(
                ["doctor", "--config-file", worker.configURL.path, "--set", "executor.topic=\(topic)", "--timeout", "15"] + arguments)
            return (status, output, errors)
        }

        /// A Mistral engine configuration file holding `text`.
        func engineConfiguration(_ name: String, _ text: String) throws -> String {
            let path = directory.appendingPathComponent(name).path
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }

        func stop() async throws {
            try await worker.terminate()
            _ = try await runCLI(["clear", "--config-file", worker.configURL.path, "--set", "executor.topic=\(topic)"])
            // The worker's topic and server queues outlive it (not auto-delete).
            for queue in [topic, "\(topic).0.0.0.0"] {
                _ = try? await rabbitmqctl(["delete_queue", queue])
            }
        }
    }

    static let checks = [
        "configuration", "Mistral action providers", "action heartbeats", "max_unacked_time", "RabbitMQ",
        "executor queue", "fallback queue", "PostgreSQL", "Mistral schema", "registration",
    ]

    /// The mark (✔ ✘ –) of a check's row; nil when the table has no such row.
    static func mark(_ table: String, _ check: String) -> String? {
        for line in table.split(separator: "\n") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst()
                .map { $0.trimmingCharacters(in: .whitespaces) }
            if cells.count >= 4 && cells[1] == check { return cells[0] }
        }
        return nil
    }

    /// The row of a check, for messages and text checks.
    static func row(_ table: String, _ check: String) -> String {
        table.split(separator: "\n").first { $0.contains("| \(check) ") }.map(String.init) ?? ""
    }

    /// The test broker's URL with another password or vhost.
    static func amqpURL(password: String? = nil, vhost: String? = nil) throws -> String {
        var components = try #require(URLComponents(string: TestEnvironment.amqpURL))
        if let password { components.password = password }
        if let vhost { components.path = "/" + vhost }
        return try #require(components.string)
    }

    @Test("a running worker's deployment passes every check; each injected fault fails its own row")
    func deployment() async throws {
        let deployment = try await Deployment.start()
        defer { deployment.worker.kill() }

        // An engine configuration as Mistral's: heartbeats on, no provider filter.
        let engine = try deployment.engineConfiguration("mistral.conf", """
            [action_heartbeat]
            check_interval = 2
            max_missed_heartbeats = 3
            """)
        let good = try await deployment.doctor(["--mistral-config", engine])
        #expect(good.status == 0, "\(good.table)\n\(good.errors)")
        for check in Self.checks {
            #expect(Self.mark(good.table, check) == "✔", "\(check):\n\(good.table)")
        }
        #expect(good.table.contains("All \(Self.checks.count) checks passed."))
        #expect(Self.row(good.table, "registration").contains("'\(deployment.codeSource)'"))
        #expect(Self.row(good.table, "executor queue").contains("'\(deployment.topic)'"))

        // Each fault, on its own: the row it concerns fails, the exit is 1.
        struct Fault {
            var name: String
            var arguments: [String]
            var failing: [String]
            var text: String
        }
        let denying = try deployment.engineConfiguration("deny.conf", """
            [action_providers]
            denylist = legacy, dyn*
            """)
        let allowing = try deployment.engineConfiguration("allow.conf", """
            [action_providers]
            allowlist = legacy,adhoc
            """)
        let faults = [
            Fault(
                name: "wrong AMQP password",
                arguments: ["--set", "DEFAULT.transport_url=\(try Self.amqpURL(password: "not-the-password"))"],
                failing: ["RabbitMQ"], text: "user and password"),
            Fault(
                name: "unknown vhost",
                arguments: ["--set", "DEFAULT.transport_url=\(try Self.amqpURL(vhost: "no_such_vhost_\(UUID().uuidString.prefix(6))"))"],
                failing: ["RabbitMQ"], text: "add_vhost"),
            Fault(
                name: "queues declared as classic, configuration says quorum",
                arguments: ["--set", "oslo_messaging_rabbit.rabbit_quorum_queue=true"],
                failing: ["executor queue", "fallback queue"], text: "PRECONDITION_FAILED - inequivalent arg"),
            Fault(
                name: "a topic nothing consumes",
                arguments: ["--set", "executor.topic=doctor_nobody_\(UUID().uuidString.prefix(8).lowercased())"],
                failing: ["executor queue"], text: "does not exist"),
            Fault(
                name: "PostgreSQL on a port where nothing listens",
                arguments: ["--set", "database.connection=postgresql://mistral:secret@127.0.0.1:1/mistral"],
                failing: ["PostgreSQL"], text: "PostgreSQL runs"),
            Fault(
                name: "a code source that was never registered",
                arguments: ["--set", "mistral_actions.code_source_name=cli_test_unregistered_\(UUID().uuidString.prefix(8).lowercased())"],
                failing: ["registration"], text: "not registered"),
            Fault(
                name: "dynamic actions deny-listed in Mistral",
                arguments: ["--mistral-config", denying],
                failing: ["Mistral action providers"], text: "dyn*"),
            Fault(
                name: "dynamic actions left out of Mistral's allowlist",
                arguments: ["--mistral-config", allowing],
                failing: ["Mistral action providers"], text: "allowlist"),
            Fault(
                name: "no heartbeats from the worker while the engine expects them",
                arguments: ["--mistral-config", engine, "--set", "action_heartbeat.check_interval=0"],
                failing: ["action heartbeats"], text: "sends none"),
            Fault(
                name: "max_unacked_time above the broker's consumer_timeout",
                arguments: ["--rabbitmq-consumer-timeout", "10m"],
                failing: ["max_unacked_time"], text: "consumer_timeout"),
        ]
        for fault in faults {
            let result = try await deployment.doctor(fault.arguments)
            #expect(result.status == 1, "\(fault.name): exit \(result.status)\n\(result.table)\n\(result.errors)")
            for check in fault.failing {
                #expect(Self.mark(result.table, check) == "✘", "\(fault.name): \(check)\n\(result.table)\n\(result.errors)")
            }
            #expect(
                fault.failing.contains { Self.row(result.table, $0).contains(fault.text) },
                "\(fault.name): no '\(fault.text)' in\n\(result.table)")
            // The rest still passes, or is not checked because of this fault.
            for check in Self.checks where !fault.failing.contains(check) {
                #expect(Self.mark(result.table, check) != "✘", "\(fault.name): \(check) failed too\n\(result.table)")
            }
            #expect(result.table.contains("checks did not pass."))
        }
        // Nothing the doctor did changed the deployment.
        let again = try await deployment.doctor(["--mistral-config", engine])
        #expect(again.status == 0, "\(again.table)")

        try await deployment.stop()
    }

    @Test("an unreadable configuration is one failing row; the other checks are not run")
    func unreadableConfiguration() async throws {
        let (status, table, _) = try await runCLI(["doctor", "--config-file", "/nonexistent/mistral-actions.conf"])
        #expect(status == 1)
        #expect(Self.mark(table, "configuration") == "✘", "\(table)")
        #expect(Self.row(table, "configuration").contains("/nonexistent/mistral-actions.conf"))
        #expect(Self.mark(table, "RabbitMQ") == nil)
    }

    @Test("an allowlist without 'dynamic' fails on Mistral 18.1's schema (043) and passes on 16's (041), which ignores it")
    func actionProvidersBySchemaRevision() async throws {
        // What doctor reads of Mistral's schema, in a PostgreSQL schema of its
        // own in the test database (search_path through libpq's options).
        let schema = "doctor_revision_\(UUID().uuidString.prefix(8).lowercased())"
        let database = TestEnvironment.postgresURL
        func sql(_ text: String) async throws {
            _ = try await runCommand(["psql", database, "-qX", "-v", "ON_ERROR_STOP=1", "-c", text])
        }
        try await sql("""
            CREATE SCHEMA \(schema);
            CREATE TABLE \(schema).alembic_version (version_num varchar(32) NOT NULL);
            CREATE TABLE \(schema).code_sources (id varchar(36));
            CREATE TABLE \(schema).dynamic_action_definitions (id varchar(36));
            """)
        var failure: (any Error)?
        do {
            try await checkBothRevisions(schema: schema, database: database, sql: sql)
        } catch {
            failure = error
        }
        try? await sql("DROP SCHEMA \(schema) CASCADE")
        if let failure { throw failure }
    }

    func checkBothRevisions(schema: String, database: String, sql: (String) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ma-doctor-\(schema)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let engine = directory.appendingPathComponent("mistral.conf").path
        try """
            [DEFAULT]
            transport_url = \(TestEnvironment.amqpURL)

            [database]
            connection = \(database)?options=-csearch_path%3D\(schema)

            [action_providers]
            allowlist = legacy,adhoc
            """.write(toFile: engine, atomically: true, encoding: .utf8)

        var rows: [String: (mark: String?, row: String)] = [:]
        for revision in ["041", "043"] {
            try await sql("DELETE FROM \(schema).alembic_version; INSERT INTO \(schema).alembic_version VALUES ('\(revision)')")
            let (_, table, _) = try await runCLI(["doctor", "--config-file", engine, "--timeout", "15"])
            #expect(Self.mark(table, "Mistral schema") == "✔", "\(table)")
            rows[revision] = (Self.mark(table, "Mistral action providers"), Self.row(table, "Mistral action providers"))
        }
        #expect(rows["041"]?.mark == "✔", "\(rows["041"]?.row ?? "")")
        #expect(rows["041"]?.row.contains("revision 041: a release before 18.1") == true, "\(rows["041"]?.row ?? "")")
        #expect(rows["043"]?.mark == "✘", "\(rows["043"]?.row ?? "")")
        #expect(rows["043"]?.row.contains("18.1 and newer read it") == true, "\(rows["043"]?.row ?? "")")
    }
}
