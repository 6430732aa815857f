import ActionKit

/// The actions this binary ships. The list is generated at build time from the
/// files of this module (every type conforming to `MistralAction`), so adding
/// an action is adding one file.
public enum ActionCatalog {
    /// Every action type of the catalog, sorted by type name.
    public static let actionTypes: [any MistralAction.Type] = discoveredActionTypes

    /// The standard catalog as one ``ActionSet``, to combine with an
    /// operator's own actions:
    /// `MistralActionsCommand.main(catalogs: [ActionCatalog.standard, AcmeActions.catalog])`.
    public static let standard = discoveredActions

    /// The catalog's registry.
    ///
    /// - Throws: ``ActionRegistryError`` when two actions share a name.
    public static func registry() throws(ActionRegistryError) -> ActionRegistry {
        try ActionRegistry(actionTypes)
    }
}
