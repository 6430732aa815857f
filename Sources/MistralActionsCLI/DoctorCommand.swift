import AMQPClient
import ActionSync
import ArgumentParser
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
import Logging
import OsloConfig
import OsloMessaging
import PostgresClient
import Worker

/// `mistral-actions doctor`: checks a deployment from where a worker would run.
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check a deployment: configuration, RabbitMQ, queues, PostgreSQL, Mistral's schema, the registration.",
        discussion: """
            Prints one row per check, ✔ or ✘, with what to do about each failure, and exits 0 only \
            when every check passes. It changes nothing: queues are inspected with declarations the \
            broker accepts only when they match what exists, and the registration is compared with \
            what `mistral-actions register` would write (a dry run). RabbitMQ's management API is \
            not used: consumers are counted per queue, and a Swift worker cannot be told from a \
            Python executor. --mistral-config names the engine's mistral.conf, for its \
            [action_providers] and [action_heartbeat]; without it, the configuration given is \
            taken as the engine's.
            """
    )

    @OptionGroup var options: ConfigurationOptions

    @Option(
        name: .customLong("mistral-config"),
        help: ArgumentHelp("The Mistral engine's mistral.conf, when it is not the configuration given.", valueName: "path")
    )
    var mistralConfig: String?

    @Option(
        name: .customLong("rabbitmq-consumer-timeout"),
        help: ArgumentHelp(
            "RabbitMQ's consumer_timeout (rabbitmq.conf), e.g. 30m; the default is RabbitMQ's default.",
            valueName: "duration"
        )
    )
    var consumerTimeout = "30m"

    @Option(help: ArgumentHelp("How long to wait for RabbitMQ and PostgreSQL, in seconds.", valueName: "seconds"))
    var timeout = 10

    func run() async throws {
        var report = DoctorReport()
        await check(into: &report)
        print(report.render())
        if !report.allPassed {
            throw ExitCode(1)
        }
    }

    func check(into report: inout DoctorReport) async {
        guard (1...3600).contains(timeout) else {
            report.fail("options", "--timeout \(timeout) is not between 1 and 3600 seconds", fix: "give a number of seconds from 1 to 3600")
            return
        }
        let waitLimit = Duration.seconds(timeout)
        let consumerTimeout: Duration
        do {
            consumerTimeout = try OsloValue.duration(self.consumerTimeout, min: .seconds(1))
        } catch {
            report.fail("options", "--rabbitmq-consumer-timeout \(self.consumerTimeout): \(error)", fix: "give a duration such as 30m or 1800s")
            return
        }

        // The configuration.
        let environment: CommandEnvironment
        do {
            environment = try CommandEnvironment(options: options)
        } catch {
            report.fail("configuration", "\(error)", fix: "fix the file or option named")
            return
        }
        var quiet = environment.logger
        quiet.logLevel = .critical
        let configuration = environment.configuration
        let settings = WorkerSettings(configuration: configuration)
        checkConfiguration(environment, settings: settings, into: &report)

        // The engine's configuration.
        var engineFiles = environment.loaded.files
        var engine = configuration
        if let mistralConfig {
            do {
                engine = try Configuration.load(files: [mistralConfig]).configuration
                engineFiles = [mistralConfig]
            } catch {
                report.fail("Mistral configuration", "\(error)", fix: "point --mistral-config at the engine's mistral.conf")
            }
        }
        checkActionProviders(files: engineFiles, into: &report)
        checkHeartbeats(ours: configuration, engine: engine, consumerTimeout: consumerTimeout, into: &report)

        await checkRabbitMQ(configuration, settings: settings, limit: waitLimit, logger: quiet, into: &report)
        await checkDatabase(environment, limit: waitLimit, logger: quiet, into: &report)
        // Mistral 16 and 17 (schema revisions 041, 042) have no
        // [action_providers] options and load every provider: a filter
        // written there hides nothing.
        if let revision = report.schemaRevision, revision < Self.actionProviderFiltersRevision {
            let digits = String(revision)
            let padded = String(repeating: "0", count: max(0, 3 - digits.count)) + digits
            report.passIfFailed(
                "Mistral action providers",
                "[action_providers] is set, but Mistral's schema is revision \(padded): a release before 18.1, which ignores it and loads the 'dynamic' provider")
        }
    }

    /// Schema revision 043 came with Mistral 18.0; `[action_providers]`
    /// allowlist and denylist with 18.1. Below 043 they are ignored.
    static let actionProviderFiltersRevision = 43

    // MARK: - Configuration

    func checkConfiguration(_ environment: CommandEnvironment, settings: WorkerSettings, into report: inout DoctorReport) {
        let configuration = environment.configuration
        var missing: [String] = []
        if configuration.messaging.transportURL?.isEmpty ?? true { missing.append("[DEFAULT] transport_url") }
        if configuration.database.connection?.isEmpty ?? true { missing.append("[database] connection") }
        let files = environment.loaded.files.isEmpty ? "no file" : environment.loaded.files.joined(separator: ", ")
        if !missing.isEmpty {
            report.fail(
                "configuration", "\(files): \(missing.joined(separator: " and ")) not set",
                fix: "set \(missing.joined(separator: " and ")) (Mistral's mistral.conf has both)")
            return
        }
        do {
            try settings.topology.validate()
        } catch {
            report.fail("configuration", "\(error)", fix: "set only one of them in [oslo_messaging_rabbit]")
            return
        }
        let warnings = environment.loaded.warnings.count
        report.pass("configuration", "\(files) read" + (warnings > 0 ? "; \(warnings) warning(s) logged above" : ""))
    }

    /// Mistral lists dynamic actions only when its `dynamic` action provider
    /// is loaded: `[action_providers] allowlist` (when not empty) must match
    /// it and `denylist` must not (fnmatch patterns, as Mistral applies them).
    func checkActionProviders(files: [String], into report: inout DoctorReport) {
        var allowlist: [String] = []
        var denylist: [String] = []
        for path in files {
            guard let file = try? IniFile.read(path: path) else { continue }
            for entry in file.entries where entry.section == "action_providers" {
                switch entry.key {
                case "allowlist": allowlist = OsloValue.list(entry.value)
                case "denylist": denylist = OsloValue.list(entry.value)
                default: break
                }
            }
        }
        let provider = "dynamic"
        if !allowlist.isEmpty && !allowlist.contains(where: { Self.matches(pattern: $0, provider) }) {
            report.fail(
                "Mistral action providers", "[action_providers] allowlist = \(allowlist.joined(separator: ", ")) leaves out '\(provider)'",
                fix: "add \(provider) to [action_providers] allowlist and restart Mistral (18.1 and newer read it): the Swift actions are dynamic actions")
        } else if allowlist.isEmpty, let pattern = denylist.first(where: { Self.matches(pattern: $0, provider) }) {
            report.fail(
                "Mistral action providers", "[action_providers] denylist entry '\(pattern)' hides '\(provider)'",
                fix: "remove it from [action_providers] denylist and restart Mistral (18.1 and newer read it): the Swift actions are dynamic actions")
        } else {
            report.pass("Mistral action providers", "the '\(provider)' provider is loaded (no allowlist or denylist hides it)")
        }
    }

    /// Python's `fnmatch.fnmatchcase`: `*`, `?` and `[...]`, no escapes.
    static func matches(pattern: String, _ value: String) -> Bool {
        fnmatch(pattern, value, FNM_NOESCAPE) == 0
    }

    func checkHeartbeats(ours: Configuration, engine: Configuration, consumerTimeout: Duration, into report: inout DoctorReport) {
        let engineBeat = engine.actionHeartbeat
        let ourBeat = ours.actionHeartbeat
        if engineBeat.isEnabled {
            // The engine fails a running action after max_missed_heartbeats
            // check intervals without a heartbeat.
            let window = engineBeat.checkInterval * engineBeat.maxMissedHeartbeats
            if !ourBeat.isEnabled {
                report.fail(
                    "action heartbeats", "the engine expects heartbeats (every \(engineBeat.checkInterval), \(engineBeat.maxMissedHeartbeats) may be missed) but the worker sends none",
                    fix: "set [action_heartbeat] check_interval and max_missed_heartbeats for the worker as the engine has them")
            } else if ourBeat.checkInterval >= window {
                report.fail(
                    "action heartbeats", "the worker sends one every \(ourBeat.checkInterval), the engine fails an action after \(window) without one",
                    fix: "set the worker's [action_heartbeat] check_interval to the engine's (\(engineBeat.checkInterval))")
            } else {
                report.pass("action heartbeats", "every \(ourBeat.checkInterval); the engine waits \(window)")
            }
        } else {
            report.pass("action heartbeats", "off in the engine's configuration: long actions are not failed for silence")
        }

        let unacked = ours.mistralActions.maxUnackedTime
        if unacked < consumerTimeout {
            report.pass("max_unacked_time", "\(unacked) < RabbitMQ consumer_timeout \(consumerTimeout)")
        } else {
            report.fail(
                "max_unacked_time", "\(unacked) is not below RabbitMQ's consumer_timeout \(consumerTimeout): the broker closes the channel and long actions run twice",
                fix: "set [mistral_actions] max_unacked_time below consumer_timeout (or pass the broker's value with --rabbitmq-consumer-timeout)")
        }
    }

    // MARK: - RabbitMQ

    func checkRabbitMQ(
        _ configuration: Configuration, settings: WorkerSettings, limit: Duration, logger: Logger, into report: inout DoctorReport
    ) async {
        let amqp: AMQPConfiguration
        do {
            amqp = try WorkerCommand.amqpConfiguration(configuration)
        } catch {
            report.fail("RabbitMQ", "\(error)", fix: "fix [DEFAULT] transport_url")
            return
        }
        var named = amqp
        named.connectionName = "mistral-actions-doctor:\(ProcessInfo.processInfo.processIdentifier)"
        let connection = AMQPConnection(configuration: named, logger: logger)
        // user@host:port/vhost, never the password.
        let where_ = amqp.endpoints.map(\.description).joined(separator: ",") + (amqp.tls != nil ? " over TLS" : "")
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await connection.run() }
            defer { group.cancelAll() }
            do {
                try await connection.waitUntilConnected(timeout: limit)
            } catch {
                let cause = connection.lastConnectionError ?? (error as? AMQPError)?.underlying ?? error
                report.fail("RabbitMQ", "\(where_): \(cause)", fix: Self.amqpFix(cause, configuration: configuration))
                for name in ["executor queue", "fallback queue"] {
                    report.skip(name, "not checked: no connection to RabbitMQ")
                }
                return
            }
            report.pass("RabbitMQ", "connected to \(where_)")
            await checkQueue(
                "executor queue", topic: settings.executorTopic, settings: settings, connection: connection,
                noConsumer: "no worker consumes it: start the workers (systemctl start mistral-actions.target)",
                consumers: { "\($0) consumer(s) (Swift workers and Python executors look alike over AMQP; in router mode only Swift workers should consume it)" },
                into: &report)
            if case .router(let fallbackTopic) = settings.mode {
                await checkQueue(
                    "fallback queue", topic: fallbackTopic, settings: settings, connection: connection,
                    noConsumer: "no Python executor consumes it: run mistral-executor with [executor] topic = \(fallbackTopic), or actions that are not Swift wait forever",
                    consumers: { "\($0) consumer(s): Python executors for the actions that are not Swift" },
                    into: &report)
            } else {
                report.pass("fallback queue", "none: swift-only mode fails the actions that are not Swift")
            }
        }
    }

    func checkQueue(
        _ name: String, topic: String, settings: WorkerSettings, connection: AMQPConnection,
        noConsumer: String, consumers: (UInt32) -> String, into report: inout DoctorReport
    ) async {
        let inspection: OsloQueueInspection
        do {
            inspection = try await connection.inspectOsloTopicQueue(
                exchange: settings.controlExchange, topic: topic, options: settings.topology)
        } catch {
            report.fail(name, "'\(topic)': \(error)", fix: "check the user's permissions on the vhost (rabbitmqctl list_permissions)")
            return
        }
        switch inspection.state {
        case .missing:
            report.fail(name, "'\(topic)' does not exist", fix: noConsumer)
        case .different(let text):
            report.fail(
                name, "'\(topic)' exists with other properties than this configuration declares: \(text)",
                fix: "make [oslo_messaging_rabbit] (rabbit_quorum_queue, amqp_durable_queues, amqp_auto_delete, rabbit_ha_queues, rabbit_quorum_*) the same as the other Mistral services'; or, with every consumer stopped, delete the queue (rabbitmqctl delete_queue \(topic))")
        case .matching where inspection.consumers == 0:
            report.fail(name, "'\(topic)' has no consumer (\(inspection.messages) message(s) waiting)", fix: noConsumer)
        case .matching:
            report.pass(name, "'\(topic)': declared as configured; \(consumers(inspection.consumers))")
        }
    }

    static func amqpFix(_ error: any Error, configuration: Configuration) -> String {
        let text = "\(error)".lowercased()
        if text.contains("access_refused") || text.contains("authentication") || text.contains("login") {
            return "check the user and password in [DEFAULT] transport_url (rabbitmqctl authenticate_user)"
        }
        if text.contains("vhost") || text.contains("not_allowed") || text.contains("virtual host") {
            return "check the vhost at the end of transport_url; create it and grant the user (rabbitmqctl add_vhost, set_permissions)"
        }
        if text.contains("tls") || text.contains("ssl") || text.contains("certificate") {
            return "check [oslo_messaging_rabbit] ssl, ssl_ca_file, ssl_cert_file, ssl_key_file and the broker's TLS port"
        }
        return "check that RabbitMQ runs and that this host reaches the host and port of transport_url"
    }

    // MARK: - PostgreSQL

    func checkDatabase(_ environment: CommandEnvironment, limit: Duration, logger: Logger, into report: inout DoctorReport) async {
        let dependents = ["Mistral schema", "registration"]
        guard let url = environment.configuration.database.connection, !url.isEmpty else {
            report.fail("PostgreSQL", "no [database] connection", fix: "set [database] connection to Mistral's database")
            for name in dependents { report.skip(name, "not checked: no database") }
            return
        }
        var database: PostgresConfiguration
        do {
            database = try PostgresConfiguration(url: url)
        } catch {
            report.fail("PostgreSQL", "[database] connection: \(error)", fix: "fix the URL in [database] connection")
            for name in dependents { report.skip(name, "not checked: no database") }
            return
        }
        if database.options["connect_timeout"] == nil {
            database.options["connect_timeout"] = "\(limit.components.seconds)"
        }
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(configuration: database, logger: logger)
        } catch {
            report.fail(
                "PostgreSQL", "\(error)",
                fix: "check that PostgreSQL runs and accepts this host, user and password ([database] connection; pg_hba.conf)")
            for name in dependents { report.skip(name, "not checked: no database") }
            return
        }
        report.pass("PostgreSQL", "connected to \(database)")
        let schemaReady = await checkSchema(on: connection, into: &report)
        if schemaReady {
            await checkRegistration(environment, on: connection, logger: logger, into: &report)
        } else {
            report.skip("registration", "not checked: Mistral's schema is not ready")
        }
        await connection.close()
    }

    /// Dynamic actions came with Mistral's migration 040 (tables
    /// `code_sources` and `dynamic_action_definitions`).
    static let dynamicActionsRevision = 40

    func checkSchema(on connection: PostgresConnection, into report: inout DoctorReport) async -> Bool {
        let fix = "run `mistral-db-manage --config-file mistral.conf upgrade head` (Mistral 13 / Xena or newer)"
        do {
            let tables = try await connection.query(
                """
                SELECT to_regclass('alembic_version') IS NOT NULL AS alembic,
                       to_regclass('code_sources') IS NOT NULL AS code_sources,
                       to_regclass('dynamic_action_definitions') IS NOT NULL AS definitions
                """)
            guard let row = tables.first, try row.decode("alembic", as: Bool.self) else {
                report.fail("Mistral schema", "no alembic_version table: this is not Mistral's database, or it was never set up", fix: "check [database] connection, then " + fix)
                return false
            }
            let versions = try await connection.query("SELECT version_num FROM alembic_version")
            let version = try versions.first?.decode("version_num", as: String.self) ?? "none"
            let number = Int(version.prefix(while: { $0.isNumber && $0.isASCII }).prefix(9))
            let hasTables = try row.decode("code_sources", as: Bool.self) && row.decode("definitions", as: Bool.self)
            guard let number, number >= Self.dynamicActionsRevision, hasTables else {
                report.fail("Mistral schema", "revision \(version): dynamic actions need revision 040 or later", fix: fix)
                return false
            }
            report.schemaRevision = number
            report.pass("Mistral schema", "revision \(version) (dynamic actions since 040)")
            return true
        } catch {
            report.fail("Mistral schema", "\(error)", fix: "check that the user of [database] connection may read Mistral's tables")
            return false
        }
    }

    func checkRegistration(
        _ environment: CommandEnvironment, on connection: PostgresConnection, logger: Logger, into report: inout DoctorReport
    ) async {
        let codeSource = environment.syncSettings.codeSourceName
        do {
            let planned = try await environment.sync.sync(on: connection, dryRun: true, logger: logger)
            let plan = planned.plan
            if case .create = plan.codeSource {
                report.fail("registration", "code source '\(codeSource)' is not registered", fix: "run `mistral-actions register` (or start a worker: register_on_start)")
                return
            }
            if !plan.skipped.isEmpty {
                report.fail(
                    "registration", "\(plan.skipped.count) action(s) defined by another code source: \(plan.skipped.prefix(3).joined(separator: ", "))",
                    fix: "`mistral-actions register --override` replaces them (or change [mistral_actions] action_prefix)")
                return
            }
            guard plan.isEmpty else {
                var counts: [String: Int] = [:]
                for change in plan.actions {
                    switch change {
                    case .create: counts["to create", default: 0] += 1
                    case .update: counts["to update", default: 0] += 1
                    case .delete: counts["to delete", default: 0] += 1
                    case .replace: counts["to replace", default: 0] += 1
                    case .unchanged, .skip: break
                    }
                }
                var changes = counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }
                if case .update = plan.codeSource { changes.insert("code source content changed", at: 0) }
                report.fail(
                    "registration", "code source '\(codeSource)' is not current: \(changes.joined(separator: ", "))",
                    fix: "run `mistral-actions register` with this binary (an older or newer one registered last)")
                return
            }
            report.pass("registration", "code source '\(codeSource)' version \(planned.version), \(plan.actions.count) action(s) current")
        } catch {
            report.fail("registration", "\(error)", fix: "check that the user of [database] connection may read and lock Mistral's action tables")
        }
    }
}

/// The rows `doctor` prints.
struct DoctorReport {
    enum Outcome { case passed, failed, skipped }

    struct Row {
        var check: String
        var outcome: Outcome
        var detail: String
        var fix: String
    }

    private(set) var rows: [Row] = []
    /// Mistral's schema revision (the number of alembic_version), once read.
    var schemaRevision: Int?

    mutating func pass(_ check: String, _ detail: String) {
        rows.append(Row(check: check, outcome: .passed, detail: detail, fix: ""))
    }

    mutating func fail(_ check: String, _ detail: String, fix: String) {
        rows.append(Row(check: check, outcome: .failed, detail: detail, fix: fix))
    }

    /// Turns a failed row into a passed one, when a later finding shows
    /// the failure does not apply.
    mutating func passIfFailed(_ check: String, _ detail: String) {
        for index in rows.indices where rows[index].check == check && rows[index].outcome == .failed {
            rows[index] = Row(check: check, outcome: .passed, detail: detail, fix: "")
        }
    }

    mutating func skip(_ check: String, _ detail: String) {
        rows.append(Row(check: check, outcome: .skipped, detail: detail, fix: "fix the failure above first"))
    }

    var allPassed: Bool { !rows.isEmpty && rows.allSatisfy { $0.outcome == .passed } }

    func render() -> String {
        let table = TextTable(
            headers: ["", "Check", "Result", "Fix"],
            rows: rows.map { row in
                let mark = switch row.outcome {
                case .passed: "✔"
                case .failed: "✘"
                case .skipped: "–"
                }
                // One line per row whatever an error message holds.
                return [mark, row.check, LogLine.escapedText(row.detail), LogLine.escapedText(row.fix)]
            }
        ).render()
        let failed = rows.filter { $0.outcome != .passed }.count
        return table + "\n" + (failed == 0 ? "All \(rows.count) checks passed." : "\(failed) of \(rows.count) checks did not pass.")
    }
}
