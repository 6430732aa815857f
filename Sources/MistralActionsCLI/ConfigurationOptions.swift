import ArgumentParser
import OsloConfig

/// The options every command that reads the configuration accepts.
struct ConfigurationOptions: ParsableArguments {
    @Option(
        name: .customLong("config-file"),
        help: ArgumentHelp(
            "An oslo-style configuration file; repeat to layer files (later files win). mistral.conf works as it is.",
            valueName: "path"
        )
    )
    var configFiles: [String] = []

    @Option(
        name: .customLong("config-dir"),
        help: ArgumentHelp("A directory whose *.conf files are read in sorted order, after the files.", valueName: "path")
    )
    var configDirectories: [String] = []

    @Option(
        name: .customLong("set"),
        help: ArgumentHelp("Override one option, e.g. --set mistral_actions.mode=swift-only; repeatable.", valueName: "section.key=value")
    )
    var overrides: [String] = []

    /// Reads the configuration; a problem becomes one clear line.
    func load() throws -> LoadedConfiguration {
        do {
            let overrides = try self.overrides.map { try ConfigOverride(parsing: $0) }
            return try Configuration.load(files: configFiles, directories: configDirectories, overrides: overrides)
        } catch let error as ConfigError {
            throw CLIError("configuration: \(error)")
        }
    }
}

/// An error shown to the user as one line, without a stack dump.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
