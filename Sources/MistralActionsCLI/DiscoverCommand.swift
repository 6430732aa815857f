import ActionCatalog
import ActionKit
import ArgumentParser
import OsloConfig

/// `mistral-actions discover`: the actions of this binary.
struct DiscoverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "discover",
        abstract: "List the actions this binary ships: name, description and input."
    )

    @OptionGroup var options: ConfigurationOptions

    func run() async throws {
        let environment = try CommandEnvironment(options: options)
        let prefix = environment.configuration.mistralActions.actionPrefix
        let rows = environment.registry.descriptors.map { descriptor in
            [descriptor.qualifiedName(prefix: prefix), descriptor.summary, descriptor.inputString]
        }
        print(TextTable(headers: ["Name", "Description", "Input"], rows: rows).render())
    }
}
