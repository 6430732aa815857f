import ActionSync
import ArgumentParser
import Logging
import PostgresClient

/// `mistral-actions register`: writes the actions into Mistral's tables.
struct RegisterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "register",
        abstract: "Register the actions in Mistral's database (no Mistral restart needed).",
        discussion: """
            Writes one code source (Python stubs describing each action's input) and one dynamic \
            action definition per action, in one transaction. Running it again changes nothing \
            unless the actions changed. Without NAME, every action of this binary is registered \
            and registered actions that left the binary are removed.
            """
    )

    @OptionGroup var options: ConfigurationOptions

    @Flag(help: "Replace definitions of the same name that belong to another code source.")
    var override = false

    @Flag(name: .customLong("dry-run"), help: "Print what would change and change nothing.")
    var dryRun = false

    @Argument(help: "Register only these actions (full names, e.g. int32bit.debug.echo).")
    var names: [String] = []

    func run() async throws {
        let environment = try CommandEnvironment(options: options)
        let connection = try await environment.connectDatabase()
        let report: ActionTableSync.Report
        do {
            report = try await environment.sync.sync(
                on: connection,
                selection: names.isEmpty ? .all : .only(Set(names)),
                override: override,
                dryRun: dryRun,
                logger: environment.logger
            )
        } catch {
            await connection.close()
            throw CLIError("register: \(error)")
        }
        await connection.close()
        print(Self.render(report))
        if !report.plan.skipped.isEmpty {
            throw ExitCode(3)
        }
    }

    /// The report as a table, in the style of the original tool.
    static func render(_ report: ActionTableSync.Report) -> String {
        var rows: [[String]] = []
        for change in report.plan.actions {
            switch change {
            case .create(let action): rows.append([action.name, report.dryRun ? "would create" : "created"])
            case .update(let action, _): rows.append([action.name, report.dryRun ? "would update" : "updated"])
            case .unchanged(let action): rows.append([action.name, "unchanged"])
            case .delete(let name, _): rows.append([name, report.dryRun ? "would delete (no longer in this binary)" : "deleted (no longer in this binary)"])
            case .replace(let action, let foreign):
                rows.append([action.name, (report.dryRun ? "would replace" : "replaced") + " the definition of code source '\(foreign.codeSourceName)'"])
            case .skip(let action, let foreign):
                rows.append([action.name, "skipped: defined by code source '\(foreign.codeSourceName)' (use --override to replace it)"])
            }
        }
        var text = TextTable(headers: ["Name", "Result"], rows: rows).render()
        let codeSource: String
        switch report.plan.codeSource {
        case .create: codeSource = report.dryRun ? "would be created (version 1)" : "created (version 1)"
        case .update(let from, let to): codeSource = (report.dryRun ? "would be updated" : "updated") + " (version \(from) → \(to))"
        case .unchanged(let version): codeSource = "unchanged (version \(version))"
        }
        text += "\nCode source: \(codeSource)"
        if report.dryRun { text += "\nDry run: nothing was changed." }
        return text
    }

    static func log(_ report: ActionTableSync.Report, logger: Logger) {
        var counts: [String: Int] = [:]
        for change in report.plan.actions {
            let key: String
            switch change {
            case .create: key = "created"
            case .update: key = "updated"
            case .unchanged: key = "unchanged"
            case .delete: key = "deleted"
            case .replace: key = "replaced"
            case .skip: key = "skipped"
            }
            counts[key, default: 0] += 1
        }
        logger.info("actions registered in Mistral", metadata: [
            "code_source.id": "\(report.codeSourceID ?? "-")",
            "code_source.version": "\(report.version)",
            "actions": "\(counts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))",
        ])
        for name in report.plan.skipped {
            logger.warning("action not registered: another code source defines the same name (mistral-actions register --override replaces it)", metadata: ["action.name": "\(name)"])
        }
    }
}
