import ActionCatalog
import ActionKit
import CommandRunner
import Logging
import OpenStackClient
import OsloConfig

/// The shared services the worker's actions use, built from the configuration.
struct WorkerActionServices {
    var services: ActionServices
    /// Closed when the worker stops.
    var openStack: OpenStackSession

    init(configuration: Configuration, logger: Logger) {
        openStack = OpenStackSession(settings: OpenStackSettings(configuration: configuration), logger: logger)
        var services = ActionServices()
        services[OpenStackSessionKey.self] = openStack
        services[BackupSettingsKey.self] = BackupSettings(maxChainLength: configuration.mistralActions.maxChainLength)
        services[CommandPolicyKey.self] = CommandPolicy(configuration: configuration)
        services[DebugRecordFileKey.self] = configuration.mistralActions.debugRecordFile
        self.services = services
    }
}

extension OpenStackSettings {
    init(configuration: Configuration) {
        let own = configuration.mistralActions
        self.init(
            defaultRegion: configuration.openStackActions.defaultRegion,
            interface: configuration.openStackActions.endpointInterface.rawValue,
            serviceCredentials: ServiceCredentials(keystone: configuration.keystone),
            requestTimeout: own.openStackRequestTimeout,
            maxRetries: own.openStackRetries,
            maxConcurrentRequestsPerService: own.openStackMaxConcurrentRequests
        )
    }
}

extension ServiceCredentials {
    /// The `[keystone_authtoken]` service user, when the section names one
    /// completely (an Identity URL, user, password and project).
    init?(keystone: Configuration.Keystone) {
        func value(_ text: String?) -> String? {
            guard let text, !text.isEmpty else { return nil }
            return text
        }
        guard let url = value(keystone.authURL) ?? value(keystone.wwwAuthenticateURI),
            let username = value(keystone.username), let password = value(keystone.password),
            let project = value(keystone.projectName)
        else { return nil }
        self.init(
            authURL: url, username: username, password: password, projectName: project,
            userDomainName: value(keystone.userDomainName) ?? "Default",
            projectDomainName: value(keystone.projectDomainName) ?? "Default",
            regionName: value(keystone.regionName), insecure: keystone.insecure, caFile: value(keystone.caFile)
        )
    }
}

extension CommandPolicy {
    /// `[mistral_actions] exec_*`.
    init(configuration: Configuration) {
        let own = configuration.mistralActions
        self.init(
            enabled: own.execEnabled,
            allowedCommands: own.execAllowedCommands,
            allowedProjects: own.execAllowedProjects,
            timeout: own.execTimeout,
            outputLimit: own.execOutputLimit
        )
    }
}
