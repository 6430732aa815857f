import ArgumentParser

/// The version of mistral-actions, printed by `--version`.
public enum MistralActionsVersion {
    /// The semantic version: defined here only (the worker's start line and
    /// the registered code source use it too); CHANGELOG.md's newest release
    /// heading must say the same (the end-to-end CLI test checks).
    public static let current = "0.2.0"
}

/// The `mistral-actions` command. The executable only calls `main()`; every
/// subcommand lives in this module so that tests can run it.
public struct MistralActionsCommand: AsyncParsableCommand {
    /// The command's name, help and subcommands.
    public static let configuration = CommandConfiguration(
        commandName: "mistral-actions",
        abstract: "A Swift executor for OpenStack Mistral: runs, registers and documents Swift actions.",
        discussion: """
            mistral-actions consumes Mistral's action-execution requests from RabbitMQ, \
            runs the actions written in Swift, sends the results to the Mistral engine, \
            and keeps Mistral's action tables in PostgreSQL in step with those actions.
            """,
        version: MistralActionsVersion.current,
        subcommands: [
            WorkerCommand.self, DiscoverCommand.self, RegisterCommand.self, UnregisterCommand.self,
            ClearCommand.self, ActionListCommand.self, MarkdownDumpCommand.self, BashCompletionCommand.self,
            DoctorCommand.self,
        ]
    )

    /// The command before its arguments are parsed (ArgumentParser builds it).
    public init() {}
}
