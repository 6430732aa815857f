import AMQPClient
import ActionCatalog
import ActionKit
import ActionSync
import ArgumentParser
import Foundation
import Logging
import OpenStackClient
import OsloConfig
import PostgresClient
import ServiceLifecycle
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
            its actions in Mistral's database ([mistral_actions] register_on_start). SIGTERM or \
            SIGINT stops it gracefully.
            """
    )

    @OptionGroup var options: ConfigurationOptions

    func run() async throws {
        let environment = try CommandEnvironment(options: options)
        let configuration = environment.configuration
        let logger = environment.logger
        let codeSourceIDs = try await Self.prepareRegistration(environment)

        let settings = WorkerSettings(configuration: configuration)
        let amqp = try Self.amqpConfiguration(configuration)
        var listenerConfiguration = amqp
        listenerConfiguration.connectionName = amqp.connectionName + ":listener"
        var senderConfiguration = amqp
        senderConfiguration.connectionName = amqp.connectionName + ":sender"
        let listener = AMQPConnection(configuration: listenerConfiguration, logger: logger)
        let sender = AMQPConnection(configuration: senderConfiguration, logger: logger)
        let actionServices = WorkerActionServices(configuration: configuration, logger: logger)
        let worker = Worker(
            settings: settings, registry: environment.registry, codeSourceIDs: codeSourceIDs,
            listener: listener, sender: sender, services: actionServices.services, logger: logger
        )
        logger.info("mistral-actions worker starting", metadata: [
            "version": "\(MistralActionsVersion.current)",
            "amqp.endpoints": "\(amqp.endpoints.map(\.description).joined(separator: ","))",
        ])
        // Services stop in reverse order: the worker drains first, then the
        // connections it publishes on close.
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [
                    .init(service: ConnectionService(connection: listener)),
                    .init(service: ConnectionService(connection: sender)),
                    .init(service: worker, successTerminationBehavior: .gracefullyShutdownGroup),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        do {
            try await group.run()
        } catch {
            try? await actionServices.openStack.shutdown()
            throw error
        }
        try? await actionServices.openStack.shutdown()
    }

    /// Registers the actions (or finds their code source) so that the
    /// worker recognizes its own requests.
    static func prepareRegistration(_ environment: CommandEnvironment) async throws -> Set<String> {
        let configuration = environment.configuration
        let logger = environment.logger
        guard let url = configuration.database.connection, !url.isEmpty else {
            logger.warning("no [database] connection: actions are not registered in Mistral, and requests are recognized by class name alone")
            return []
        }
        let connection = try await environment.connectDatabase()
        do {
            let ids = try await registration(environment, connection: connection)
            await connection.close()
            return ids
        } catch {
            await connection.close()
            if let error = error as? ActionSyncError { throw CLIError("registering the actions: \(error)") }
            if let error = error as? PostgresError { throw CLIError("registering the actions: \(error)") }
            throw error
        }
    }

    static func registration(_ environment: CommandEnvironment, connection: PostgresConnection) async throws -> Set<String> {
        let logger = environment.logger
        let sync = environment.sync
        if environment.configuration.mistralActions.registerOnStart {
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
