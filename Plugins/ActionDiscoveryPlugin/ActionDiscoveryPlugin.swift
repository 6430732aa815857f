import Foundation
import PackagePlugin

/// Generates the list of actions of a target from its source files, so that
/// adding an action is adding one file: every type declared as conforming to
/// `MistralAction` is registered, with no list to edit by hand.
///
/// The plugin is a product of the package, so an operator's own package
/// applies it to its action target the same way the standard catalog does:
///
/// ```swift
/// .target(
///     name: "AcmeActions",
///     dependencies: [.product(name: "ActionKit", package: "mistral-actions")],
///     plugins: [.plugin(name: "ActionDiscoveryPlugin", package: "mistral-actions")]
/// )
/// ```
///
/// The generated file declares `discoveredActionTypes` and `discoveredActions`
/// (an `ActionSet` named after the target), both internal to the target.
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
                arguments: [output.path(), "--module", target.name] + inputs.map { $0.path() },
                inputFiles: inputs,
                outputFiles: [output]
            ),
        ]
    }
}
