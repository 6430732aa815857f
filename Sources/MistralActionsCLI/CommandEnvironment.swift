import ActionKit
import ActionSync
import Logging
import OsloConfig
import PostgresClient

/// What the commands share: the configuration, a logger, the action
/// registry and, on demand, Mistral's database.
struct CommandEnvironment {
    let loaded: LoadedConfiguration
    let logger: Logger
    let registry: ActionRegistry

    var configuration: Configuration { loaded.configuration }

    init(options: ConfigurationOptions) throws {
        loaded = try options.load()
        logger = LoggingSetup.logger(loaded.configuration)
        for warning in loaded.warnings {
            logger.warning("configuration: \(warning)")
        }
        registry = try CommandCatalogs.registry(CommandCatalogs.current)
    }

    var syncSettings: ActionTableSync.Settings {
        let own = configuration.mistralActions
        return ActionTableSync.Settings(prefix: own.actionPrefix, codeSourceName: own.codeSourceName, projectID: own.projectID)
    }

    var sync: ActionTableSync {
        ActionTableSync(registry: registry, settings: syncSettings, generator: "mistral-actions \(MistralActionsVersion.current)")
    }

    /// Connects to Mistral's database (`[database] connection`).
    func connectDatabase() async throws -> PostgresConnection {
        guard let url = configuration.database.connection, !url.isEmpty else {
            throw CLIError("no [database] connection in the configuration: point --config-file at Mistral's mistral.conf, or set it")
        }
        do {
            return try await PostgresConnection.connect(to: url, logger: logger)
        } catch let error as PostgresError {
            throw CLIError("Mistral's database: \(error)")
        }
    }
}
