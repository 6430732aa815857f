import ActionKit
import ActionSync
import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import OrderedJSON
import OsloConfig
import PostgresClient

/// `mistral-actions unregister NAME...`
struct UnregisterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unregister",
        abstract: "Remove registered actions from Mistral (only ones this tool registered)."
    )

    @OptionGroup var options: ConfigurationOptions

    @Argument(help: "Full action names, e.g. int32bit.debug.echo.")
    var names: [String]

    func validate() throws {
        guard !names.isEmpty else { throw ValidationError("name at least one action to unregister (or use `clear`)") }
    }

    func run() async throws {
        let environment = try CommandEnvironment(options: options)
        let connection = try await environment.connectDatabase()
        let result: (removed: [String], notOurs: [String])
        do {
            result = try await environment.sync.unregister(names: names, on: connection, logger: environment.logger)
        } catch {
            await connection.close()
            throw CLIError("unregister: \(error)")
        }
        await connection.close()
        var rows = result.removed.map { [$0, "unregistered"] }
        rows += result.notOurs.map { [$0, "not registered by mistral-actions: left alone"] }
        print(TextTable(headers: ["Name", "Result"], rows: rows).render())
        if !result.notOurs.isEmpty { throw ExitCode(3) }
    }
}

/// `mistral-actions clear`
struct ClearCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clear",
        abstract: "Remove every action this tool registered, and its code source, from Mistral."
    )

    @OptionGroup var options: ConfigurationOptions

    func run() async throws {
        let environment = try CommandEnvironment(options: options)
        let connection = try await environment.connectDatabase()
        let removed: [String]
        do {
            removed = try await environment.sync.clear(on: connection, logger: environment.logger)
        } catch {
            await connection.close()
            throw CLIError("clear: \(error)")
        }
        await connection.close()
        if removed.isEmpty {
            print("Nothing to remove: no action registered by mistral-actions.")
        } else {
            print(TextTable(headers: ["Name", "Result"], rows: removed.map { [$0, "unregistered"] }).render())
        }
    }
}

/// The output formats of the listing commands.
enum ListFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, markdown
}

/// `mistral-actions action-list`
struct ActionListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "action-list",
        abstract: "List the actions Mistral's database holds for this tool."
    )

    @OptionGroup var options: ConfigurationOptions

    @Option(help: "Output format: table, json or markdown.")
    var format: ListFormat = .table

    func run() async throws {
        let environment = try CommandEnvironment(options: options)
        let connection = try await environment.connectDatabase()
        let registered: (codeSource: CodeSourceRow?, definitions: [DefinitionRow])
        do {
            registered = try await environment.sync.registeredActions(on: connection)
        } catch {
            await connection.close()
            throw CLIError("action-list: \(error)")
        }
        await connection.close()
        let prefix = environment.configuration.mistralActions.actionPrefix
        let rows: [[String]] = registered.definitions.map { row in
            let descriptor = environment.registry.descriptor(forClassName: row.className)
            let status = descriptor == nil ? "not in this binary" : (descriptor!.qualifiedName(prefix: prefix) == row.name ? "ok" : "renamed")
            return [row.name, row.className, descriptor?.inputString ?? "", descriptor?.summary ?? "", status]
        }
        let headers = ["Name", "Class", "Input", "Description", "Status"]
        switch format {
        case .table:
            print(TextTable(headers: headers, rows: rows).render())
            if let codeSource = registered.codeSource {
                print("Code source: \(codeSource.name) (id \(codeSource.id), version \(codeSource.version))")
            } else {
                print("No action registered by mistral-actions (run `mistral-actions register`).")
            }
        case .markdown:
            print(MarkdownTable(headers: headers, rows: rows).render())
        case .json:
            let array = JSON.array(rows.map { row in
                .object(JSONObject(zip(["name", "class_name", "input", "description", "status"], row.map { JSON.string($0) }).map { ($0, $1) }))
            })
            print((try? array.encodedString(style: .python)) ?? "[]")
        }
    }
}

/// `mistral-actions markdown-dump`
struct MarkdownDumpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "markdown-dump",
        abstract: "Print the catalog of actions as a markdown table."
    )

    @OptionGroup var options: ConfigurationOptions

    func run() async throws {
        let environment = try CommandEnvironment(options: options)
        print(Catalog.markdown(registry: environment.registry, prefix: environment.configuration.mistralActions.actionPrefix))
    }
}

/// The catalog document (`docs/actions.md` is this output; a test keeps it fresh).
package enum Catalog {
    /// The actions of `registry` as a markdown table (name with `prefix`, summary, input).
    package static func markdown(registry: ActionRegistry, prefix: String) -> String {
        let rows = registry.descriptors.map { descriptor in
            ["`\(descriptor.qualifiedName(prefix: prefix))`", descriptor.summary, descriptor.inputString.isEmpty ? "" : "`\(descriptor.inputString)`"]
        }
        return MarkdownTable(headers: ["Name", "Description", "Input"], rows: rows).render()
    }
}

struct MarkdownTable {
    var headers: [String]
    var rows: [[String]]

    func render() -> String {
        func escape(_ cell: String) -> String {
            String(String.UnicodeScalarView(cell.unicodeScalars.flatMap { scalar -> [Unicode.Scalar] in
                switch scalar {
                case "|": return ["\\", "|"]
                case "\n": return [" "]
                default: return [scalar]
                }
            }))
        }
        var lines = ["| " + headers.map(escape).joined(separator: " | ") + " |"]
        lines.append("|" + headers.map { _ in "---" }.joined(separator: "|") + "|")
        lines += rows.map { "| " + $0.map(escape).joined(separator: " | ") + " |" }
        return lines.joined(separator: "\n")
    }
}

/// `mistral-actions bash-completion`
struct BashCompletionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bash-completion",
        abstract: "Print a bash completion script (source it, or install it under /etc/bash_completion.d).",
        discussion: "zsh and fish scripts: mistral-actions --generate-completion-script zsh|fish."
    )

    func run() throws {
        print(MistralActionsCommand.completionScript(for: .bash))
    }
}
