#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SystemSupport

extension Configuration {
    /// Reads `files` in order, then the `*.conf` files of each directory in
    /// `directories`, then applies `overrides`; later sources override earlier
    /// ones key by key.
    ///
    /// Mistral's keys are read where Mistral has them, so `mistral.conf` alone
    /// is enough. Unknown keys in `[mistral_actions]` become warnings; unknown
    /// keys elsewhere are ignored.
    /// - Throws: ``ConfigError`` naming the file, line, section, key and value.
    public static func load(
        files: [String], directories: [String] = [], overrides: [ConfigOverride] = []
    ) throws(ConfigError) -> LoadedConfiguration {
        try load(sources: files.map(ConfigSource.file) + directories.map(ConfigSource.directory), overrides: overrides)
    }

    /// Reads the sources in the given order, then applies `overrides`.
    public static func load(sources: [ConfigSource], overrides: [ConfigOverride] = []) throws(ConfigError)
        -> LoadedConfiguration
    {
        try load(from: ConfigFiles.read(sources), overrides: overrides)
    }

    /// Builds the configuration from files already parsed.
    public static func load(from files: ConfigFiles, overrides: [ConfigOverride] = []) throws(ConfigError)
        -> LoadedConfiguration
    {
        let schema = ConfigurationSchema.standard
        var overridesByName: [OptionName: ConfigOverride] = [:]
        for override in overrides {
            guard let option = schema.option(section: override.section, name: override.key) else {
                throw ConfigError(
                    code: .unknownOption, message: "mistral-actions reads no such option", origin: override.origin,
                    section: override.section, key: override.key)
            }
            overridesByName[ConfigFiles.normalized(section: option.section, name: option.name)] = override
        }
        let resolver = OptionResolver(schema: schema, files: files, overrides: overridesByName)
        var reader = TypedReader()
        for option in schema.options {
            try reader.add(resolver.resolve(option))
        }

        var configuration = try reader.readConfiguration()
        let unread = Set(schema.options.map(\.optionName)).subtracting(reader.consumed)
        assert(unread.isEmpty, "declared but never read: \(unread.map(\.description).sorted())")
        try validate(&configuration, reader)

        var effectiveValues = reader.effectiveValues
        if configuration.mistralActions.concurrency == nil,
            let index = effectiveValues.firstIndex(where: {
                $0.option.section == ConfigurationSchema.ownSectionName && $0.option.name == "concurrency"
            })
        {
            effectiveValues[index].value = String(configuration.effectiveConcurrency)
            effectiveValues[index].origin = .computed(
                configuration.rabbit.qosPrefetchCount > 0
                    ? "[oslo_messaging_rabbit] rabbit_qos_prefetch_count"
                    : "\(MistralActions.defaultConcurrency) because rabbit_qos_prefetch_count is 0")
        }
        return LoadedConfiguration(
            configuration: configuration,
            warnings: warnings(schema: schema, files: files, values: effectiveValues, configuration: configuration),
            effectiveValues: effectiveValues,
            files: files.files.map(\.path))
    }

    /// Checks that hold between options.
    private static func validate(_ configuration: inout Configuration, _ reader: TypedReader) throws(ConfigError) {
        let own = ConfigurationSchema.ownSectionName
        func nonEmpty(_ value: String, _ section: String, _ name: String) throws(ConfigError) {
            if value.pythonStripped().isEmpty {
                throw reader.error(section, name, code: .invalidValue, "must not be empty")
            }
        }
        try nonEmpty(configuration.messaging.controlExchange, "DEFAULT", "control_exchange")
        try nonEmpty(configuration.executor.topic, "executor", "topic")
        try nonEmpty(configuration.engine.topic, "engine", "topic")
        try nonEmpty(configuration.mistralActions.projectID, own, "project_id")
        try nonEmpty(configuration.mistralActions.codeSourceName, own, "code_source_name")

        let prefix = configuration.mistralActions.actionPrefix
        let prefixIsValid =
            !prefix.isEmpty && !prefix.hasPrefix(".") && !prefix.hasSuffix(".") && !prefix.contains("..")
            && prefix.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_-.".contains($0)) }
        if !prefixIsValid {
            throw reader.error(
                own, "action_prefix", code: .invalidValue,
                "expected letters, digits, '_', '-' and inner dots, e.g. int32bit")
        }

        if configuration.mistralActions.mode == .router {
            let fallback = configuration.mistralActions.fallbackTopic
            try nonEmpty(fallback, own, "fallback_topic")
            if fallback == configuration.executor.topic {
                throw reader.error(
                    own, "fallback_topic", code: .inconsistentValues,
                    "must differ from [executor] topic (\(reader.describe("executor", "topic"))) in router mode, "
                        + "or the worker would relay requests to itself")
            }
            if fallback == configuration.engine.topic {
                throw reader.error(
                    own, "fallback_topic", code: .inconsistentValues,
                    "must differ from [engine] topic (\(reader.describe("engine", "topic"))): "
                        + "relayed requests would reach the engine")
            }
        }
    }

    private static func warnings(
        schema: ConfigurationSchema, files: ConfigFiles, values: [EffectiveValue], configuration: Configuration
    ) -> [ConfigWarning] {
        var warnings: [ConfigWarning] = []
        let ownSection = ConfigurationSchema.ownSectionName
        let ownNames = Set(schema.section(named: ownSection)?.options.map(\.name) ?? [])
        for file in files.files {
            for header in file.sectionHeaders {
                if header.name != "DEFAULT", header.name.uppercased() == "DEFAULT" {
                    warnings.append(
                        ConfigWarning(
                            message: "[\(header.name)] is not [DEFAULT]: oslo matches DEFAULT only in capitals, "
                                + "so the keys of this section are ignored",
                            location: header.location))
                } else if header.name.pythonStripped() != header.name {
                    warnings.append(
                        ConfigWarning(
                            message: "section name \(quoted(header.name)) has spaces around it; oslo keeps them, "
                                + "so this section does not match [\(header.name.pythonStripped())]",
                            location: header.location))
                }
            }
            for entry in file.entries
            where ConfigFiles.normalized(section: entry.section) == ownSection && !ownNames.contains(entry.key) {
                var message = "unknown option, ignored"
                let underscored = replacingLiterally(entry.key, "-", with: "_").lowercased()
                if ownNames.contains(underscored) {
                    message += "; did you mean \(underscored)?"
                } else if let elsewhere = schema.options.first(where: { $0.name == entry.key }) {
                    message += "; \(entry.key) is read from [\(elsewhere.section)]"
                }
                warnings.append(
                    ConfigWarning(message: message, location: entry.location, section: entry.section, key: entry.key))
            }
        }
        for value in values {
            guard let foundAs = value.foundAs, case .file(let location) = value.origin else { continue }
            warnings.append(
                ConfigWarning(
                    message: "deprecated name; use [\(value.option.section)] \(value.option.name)",
                    location: location, section: foundAs.section, key: foundAs.name))
        }
        if configuration.mistralActions.execEnabled, configuration.mistralActions.execAllowedCommands.isEmpty {
            let location = values.first { $0.option.name == "exec_enabled" }.flatMap { value -> ConfigLocation? in
                if case .file(let location) = value.origin { return location }
                return nil
            }
            warnings.append(
                ConfigWarning(
                    message: "exec_enabled is true but exec_allowed_commands is empty, so no command may run",
                    location: location, section: ownSection, key: "exec_enabled"))
        }
        return warnings
    }
}
