import ActionKit

/// Acme's actions. Each is one file of this target declaring a type that
/// conforms to `MistralAction`; the discovery plugin lists them at build
/// time as `discoveredActions`, so adding an action is adding a file.
public enum AcmeActions {
    /// Every action of this module, for `MistralActionsCommand.main(catalogs:)`.
    public static let catalog = discoveredActions
}
