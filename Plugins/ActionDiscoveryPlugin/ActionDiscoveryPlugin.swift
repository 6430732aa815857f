import Foundation
import PackagePlugin

/// Generates the list of actions of a target from its source files, so that
/// adding an action is adding one file: every type declared as conforming to
/// `MistralAction` is registered, with no list to edit by hand.
@main
struct ActionDiscoveryPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        guard let sourceTarget = target as? SourceModuleTarget else { return [] }
        let inputs = sourceTarget.sourceFiles(withSuffix: "swift").map(\.url)
        let output = context.pluginWorkDirectoryURL.appending(path: "DiscoveredActions.swift")
        return [
            .buildCommand(
                displayName: "Discovering actions in \(target.name)",
                executable: try context.tool(named: "ActionDiscoveryTool").url,
                arguments: [output.path()] + inputs.map { $0.path() },
                inputFiles: inputs,
                outputFiles: [output]
            ),
        ]
    }
}
