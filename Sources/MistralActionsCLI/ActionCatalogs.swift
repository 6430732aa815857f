import ActionCatalog
import ActionKit
import ArgumentParser
import Synchronization

/// The catalogs whose actions the commands of this process run, register
/// and list: the standard catalog unless the binary's `main` chose others
/// with ``MistralActionsCommand/main(catalogs:arguments:)``.
package enum CommandCatalogs {
    private static let selected = Mutex<[ActionSet]?>(nil)

    /// The catalogs chosen for this process.
    package static var current: [ActionSet] {
        selected.withLock { $0 } ?? [ActionCatalog.standard]
    }

    /// Chooses the catalogs of this process (before any command runs).
    package static func select(_ catalogs: [ActionSet]) {
        selected.withLock { $0 = catalogs }
    }

    /// The registry of `catalogs`, checked at start-up of every command.
    ///
    /// - Throws: a one-line error naming both types when two actions share a
    ///   name (in one catalog or across two), or an invalid name.
    package static func registry(_ catalogs: [ActionSet]) throws -> ActionRegistry {
        do {
            return try ActionRegistry(catalogs: catalogs)
        } catch {
            let names = catalogs.map(\.name).joined(separator: ", ")
            throw CLIError("the actions of this binary are inconsistent (catalogs: \(names)): \(error)")
        }
    }
}

extension MistralActionsCommand {
    /// Runs the whole `mistral-actions` command line (`worker`, `register`,
    /// `discover`, `action-list`, `doctor`, ...) over the actions of
    /// `catalogs`: the `main` of an operator's own worker binary.
    ///
    /// ```swift
    /// import AcmeActions
    /// import ActionCatalog
    /// import MistralActionsCLI
    ///
    /// await MistralActionsCommand.main(catalogs: [ActionCatalog.standard, AcmeActions.catalog])
    /// ```
    ///
    /// Every command checks the catalogs when it starts: two actions of the
    /// same name (in one catalog or across two) end the process with an
    /// error naming both types, before anything is registered or consumed.
    ///
    /// - Parameters:
    ///   - catalogs: the actions of this binary; list `ActionCatalog.standard`
    ///     to ship the standard actions too.
    ///   - arguments: the command line without the executable's name;
    ///     `nil`: the process's arguments.
    public static func main(catalogs: [ActionSet], arguments: [String]? = nil) async {
        CommandCatalogs.select(catalogs)
        await main(arguments)
    }
}
