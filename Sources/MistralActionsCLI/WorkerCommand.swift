import AMQPClient
import ActionCatalog
import ActionKit
import ActionSync
import ArgumentParser
import CoreMetrics
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import OpenStackClient
import OsloConfig
import PostgresClient
import ServiceLifecycle
import StartClaims
import StatusServer
import Synchronization
import UnixSignals
import Worker

/// `mistral-actions worker`: the executor daemon.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run the executor: take Mistral's action requests from RabbitMQ and run the Swift actions.",
        discussion: """
            The worker consumes the executor topic ([executor] topic, default mistral_executor) \
            and its server queue <topic>.<[executor] host>. It runs the actions it ships and, in \
            router mode, relays every other request unchanged to [mistral_actions] fallback_topic, \
            where Python executors listen; in swift-only mode it fails them. On start it registers \
            its actions in Mistral's database ([mistral_actions] register_on_start), retrying \
            until the database lets it; it consumes only once that is done. SIGTERM or SIGINT \
            stops it gracefully.
            """
    )

    @OptionGroup var options: ConfigurationOptions

    func run() async throws {
        let environment = try CommandEnvironment(options: options)
        let configuration = environment.configuration
        let logger = environment.logger
        let registration = try Self.registration(environment)

        let settings = WorkerSettings(configuration: configuration)
        // Metrics are collected only when they are served.
        let exposition = configuration.mistralActions.httpListen.map { _ in WorkerObservability.exposition }
        let status = WorkerStatus(notifier: SystemdNotifier.fromEnvironment())
        let amqp = try Self.amqpConfiguration(configuration)
        var listenerConfiguration = amqp
        listenerConfiguration.connectionName = amqp.connectionName + ":listener"
        var senderConfiguration = amqp
        senderConfiguration.connectionName = amqp.connectionName + ":sender"
        let listener = AMQPConnection(configuration: listenerConfiguration, logger: logger)
        let sender = AMQPConnection(configuration: senderConfiguration, logger: logger)
        let actionServices = WorkerActionServices(configuration: configuration, logger: logger)
        let registry = environment.registry
        let services = actionServices.services
        let claims = try Self.startClaims(configuration, logger: logger)
        let claimsAdapter = claims.map { StartClaimsAdapter(store: $0) }
        let metrics = WorkerMetrics(factory: exposition?.factory ?? MetricsSystem.factory)
        let worker = RegisteringWorker(register: registration, status: status, logger: logger) { codeSourceIDs in
            Worker(
                settings: settings, registry: registry, codeSourceIDs: codeSourceIDs,
                listener: listener, sender: sender, claims: claimsAdapter, services: services,
                status: status, metrics: metrics, logger: logger
            )
        }
        var statusServer: StatusServer?
        if let listen = configuration.mistralActions.httpListen, let exposition {
            statusServer = try await WorkerObservability.listen(
                listen, exposition: exposition, status: status, connections: [listener, sender], logger: logger)
        }
        logger.info("mistral-actions worker starting", metadata: [
            "version": "\(MistralActionsVersion.current)",
            "amqp.endpoints": "\(amqp.endpoints.map(\.description).joined(separator: ","))",
        ])
        // Services stop in reverse order: the worker drains first, then the
        // connections it publishes on close.
        // The claims store stops after the worker, which claims until it has drained.
        // The HTTP endpoint stops last: /readyz says "draining" meanwhile.
        var groupServices: [ServiceGroupConfiguration.ServiceConfiguration] = statusServer.map { [.init(service: $0)] } ?? []
        groupServices += [
            .init(service: ConnectionService(connection: listener)),
            .init(service: ConnectionService(connection: sender)),
        ]
        if let claims { groupServices.append(.init(service: claims)) }
        groupServices.append(.init(service: worker, successTerminationBehavior: .gracefullyShutdownGroup))
        var groupConfiguration = ServiceGroupConfiguration(
            services: groupServices,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        // The worker cancels its actions at the end of the grace period and
        // then publishes their last results; past 5 s more (a broker that
        // does not answer), shutdown turns into cancellation, so the process
        // exits within shutdown_grace_period + 5 s (+ 5 s for cancellation).
        groupConfiguration.maximumGracefulShutdownDuration = settings.shutdownGracePeriod + .seconds(5)
        groupConfiguration.maximumCancellationDuration = .seconds(5)
        let group = ServiceGroup(configuration: groupConfiguration)
        do {
            try await group.run()
        } catch {
            try? await actionServices.openStack.shutdown()
            throw error
        }
        try? await actionServices.openStack.shutdown()
    }

    /// The start-claims store (``PostgresStartClaims``), unless
    /// `[mistral_actions] start_claims = false` or no database is configured.
    static func startClaims(_ configuration: Configuration, logger: Logger) throws -> PostgresStartClaims? {
        guard configuration.mistralActions.startClaims else {
            logger.info("start claims are off (start_claims = false): requests that are not safe to rerun are acknowledged when they start, and a redelivered one is failed")
            return nil
        }
        guard let url = configuration.database.connection, !url.isEmpty else {
            logger.warning("start claims need [database] connection: requests that are not safe to rerun are acknowledged when they start, and a redelivered one is failed")
            return nil
        }
        let database: PostgresConfiguration
        do {
            database = try PostgresConfiguration(url: url)
        } catch {
            throw CLIError("[database] connection: \(error)")
        }
        let host = configuration.executor.host
        do {
            return try PostgresStartClaims(
                configuration: PostgresStartClaims.Configuration(
                    database: database, worker: "\(host):\(ProcessInfo.processInfo.processIdentifier)",
                    retention: configuration.mistralActions.startClaimsRetention
                ),
                logger: logger
            )
        } catch {
            throw CLIError("start claims: \(error)")
        }
    }

    /// What the worker does before it consumes: register the actions (or
    /// find their code source) so that it recognizes its own requests,
    /// retrying until the database lets it. A database URL that cannot be
    /// parsed fails here, at once: no retry can fix the configuration.
    static func registration(_ environment: CommandEnvironment) throws -> @Sendable () async throws -> Set<String> {
        let logger = environment.logger
        guard let url = environment.configuration.database.connection, !url.isEmpty else {
            return {
                logger.warning("no [database] connection: actions are not registered in Mistral, and requests are recognized by class name alone")
                return []
            }
        }
        let database: PostgresConfiguration
        do {
            database = try PostgresConfiguration(url: url)
        } catch {
            throw CLIError("[database] connection: \(error)")
        }
        for note in database.notes {
            logger.debug("database URL: \(note)")
        }
        let sync = environment.sync
        let registerOnStart = environment.configuration.mistralActions.registerOnStart
        return {
            // Everything else is retried: the database may be down, Mistral's
            // db-manage may not have run yet, a password may not be set up
            // yet, another process may hold the lock. Each failure is logged.
            try await retryUntilSuccess(logger: logger, message: "cannot register the actions yet; retrying") { _ in
                try await registerOnce(database: database, sync: sync, registerOnStart: registerOnStart, logger: logger)
            }
        }
    }

    /// One attempt: connect, register (or look up the code source), close.
    static func registerOnce(
        database: PostgresConfiguration, sync: ActionTableSync, registerOnStart: Bool, logger: Logger
    ) async throws -> Set<String> {
        let connection = try await PostgresConnection.connect(configuration: database, logger: logger)
        do {
            let ids = try await codeSourceIDs(sync: sync, registerOnStart: registerOnStart, connection: connection, logger: logger)
            await connection.close()
            return ids
        } catch {
            await connection.close()
            throw error
        }
    }

    static func codeSourceIDs(
        sync: ActionTableSync, registerOnStart: Bool, connection: PostgresConnection, logger: Logger
    ) async throws -> Set<String> {
        if registerOnStart {
            let report = try await sync.sync(on: connection, logger: logger)
            RegisterCommand.log(report, logger: logger)
            return report.codeSourceID.map { [$0] } ?? []
        }
        let registered = try await sync.registeredActions(on: connection)
        guard let codeSource = registered.codeSource else {
            logger.warning("the actions are not registered in Mistral (register_on_start = false): run `mistral-actions register`")
            return []
        }
        return [codeSource.id]
    }

    static func amqpConfiguration(_ configuration: Configuration) throws -> AMQPConfiguration {
        let rabbit = configuration.rabbit
        var tls: AMQPConfiguration.TLS?
        if rabbit.ssl {
            tls = AMQPConfiguration.TLS(
                caCertificateFile: rabbit.sslCAFile,
                clientCertificateFile: rabbit.sslCertFile,
                clientKeyFile: rabbit.sslKeyFile,
                verifyPeer: true,
                verifyHostname: rabbit.sslVerifyHostname
            )
        }
        do {
            var amqp = try AMQPConfiguration(
                transportURL: configuration.messaging.effectiveTransportURL, tls: tls,
                connectionName: "mistral-actions:\(ProcessInfo.processInfo.processIdentifier)"
            )
            let heartbeat = rabbit.heartbeatTimeoutThreshold.components.seconds
            amqp.heartbeatSeconds = UInt16(clamping: max(0, heartbeat))
            return amqp
        } catch {
            throw CLIError("[DEFAULT] transport_url: \(error)")
        }
    }
}

/// Runs an AMQP connection as a service; graceful shutdown closes it.
struct ConnectionService: Service {
    let connection: AMQPConnection

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await connection.run()
        }
    }
}

/// Registers the actions, then runs the worker with their code source id.
///
/// The registration runs inside the service group, so that SIGTERM or
/// SIGINT while it waits for the database (an outage, a held lock) ends the
/// process at once and cleanly; and the worker is built only once the code
/// source id is known, so it consumes nothing before.
struct RegisteringWorker: Service {
    let register: @Sendable () async throws -> Set<String>
    let status: WorkerStatus
    let logger: Logger
    let makeWorker: @Sendable (_ codeSourceIDs: Set<String>) -> Worker

    init(
        register: @escaping @Sendable () async throws -> Set<String>,
        status: WorkerStatus = WorkerStatus(),
        logger: Logger,
        makeWorker: @escaping @Sendable (_ codeSourceIDs: Set<String>) -> Worker
    ) {
        self.register = register
        self.status = status
        self.logger = logger
        self.makeWorker = makeWorker
    }

    func run() async throws {
        let codeSourceIDs: Set<String>
        status.enter(.registering)
        do {
            codeSourceIDs = try await cancelWhenGracefulShutdown(register)
        } catch is CancellationError {
            status.enter(.stopped)
            logger.notice("stopped before the actions were registered; nothing was consumed")
            return
        } catch {
            status.enter(.stopped)
            throw error
        }
        try await makeWorker(codeSourceIDs).run()
    }
}

/// The worker's view of the start-claims store.
struct StartClaimsAdapter: ActionStartClaims {
    let store: PostgresStartClaims

    func claim(_ actionExecutionIDs: [String]) async throws -> Set<String> {
        try await store.claim(actionExecutionIDs)
    }
}
