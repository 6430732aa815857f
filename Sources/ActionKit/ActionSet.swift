/// A named list of action types: what one Swift module contributes to a
/// binary. The standard catalog is one (`ActionCatalog.standard`); an
/// operator's own target is another. A binary combines several with
/// ``ActionRegistry/init(catalogs:)``.
///
/// The action discovery build plugin writes the list of a target's actions
/// into the target as `discoveredActions` (an internal `ActionSet` named
/// after the target), so a module publishes its catalog with one line:
///
/// ```swift
/// import ActionKit
///
/// public enum AcmeActions {
///     /// Every action of this module.
///     public static let catalog = discoveredActions
/// }
/// ```
public struct ActionSet: Sendable {
    /// Where the actions come from (the module name), shown in errors.
    public var name: String
    /// The action types, each conforming to ``MistralAction``.
    public var actionTypes: [any MistralAction.Type]

    /// A catalog named `name` holding `actionTypes`.
    public init(name: String, actionTypes: [any MistralAction.Type]) {
        self.name = name
        self.actionTypes = actionTypes
    }
}

extension ActionRegistry {
    /// The registry of several catalogs together, checked as one set: two
    /// actions of the same name are refused, whichever catalogs they are in.
    ///
    /// - Throws: ``ActionRegistryError/duplicateName(name:types:)`` naming
    ///   both types (module-qualified, so the catalogs are visible), or the
    ///   other ``ActionRegistryError`` cases.
    public init(catalogs: [ActionSet]) throws(ActionRegistryError) {
        try self.init(catalogs.flatMap(\.actionTypes))
    }
}
