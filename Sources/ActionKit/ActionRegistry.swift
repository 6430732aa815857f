/// The set of actions a binary ships, checked once: every name is a dotted
/// identifier and unique, and so is every stub class name derived from it.
public struct ActionRegistry: Sendable {
    /// The descriptors, sorted by name.
    public let descriptors: [ActionDescriptor]
    private let byName: [String: Int]
    private let byClassName: [String: Int]

    /// Builds the registry.
    ///
    /// - Throws: ``ActionRegistryError`` naming both types when two actions
    ///   share a name (or a stub class name), or naming the type whose name
    ///   is not a dotted identifier.
    public init(_ types: [any MistralAction.Type]) throws(ActionRegistryError) {
        let descriptors = types.map(ActionDescriptor.init).sorted { $0.name < $1.name }
        var byName: [String: Int] = [:]
        var byClassName: [String: Int] = [:]
        for (index, descriptor) in descriptors.enumerated() {
            guard Self.isValidName(descriptor.name) else {
                throw .invalidName(name: descriptor.name, type: String(reflecting: descriptor.type))
            }
            if let other = byName[descriptor.name] {
                throw .duplicateName(
                    name: descriptor.name,
                    types: [String(reflecting: descriptors[other].type), String(reflecting: descriptor.type)]
                )
            }
            let className = Self.stubClassName(for: descriptor.name)
            if let other = byClassName[className] {
                throw .duplicateClassName(
                    className: className,
                    names: [descriptors[other].name, descriptor.name]
                )
            }
            byName[descriptor.name] = index
            byClassName[className] = index
        }
        self.descriptors = descriptors
        self.byName = byName
        self.byClassName = byClassName
    }

    /// The action with this name below the prefix.
    public func descriptor(named name: String) -> ActionDescriptor? {
        byName[name].map { descriptors[$0] }
    }

    /// The action whose generated stub class has this name (how the engine
    /// names our actions on the wire: `DynamicAction.cls_name`).
    public func descriptor(forClassName className: String) -> ActionDescriptor? {
        byClassName[className].map { descriptors[$0] }
    }

    /// The Python class name of an action's stub: the name's parts in
    /// UpperCamelCase, e.g. `cinder.backups.create_backup` → `CinderBackupsCreateBackup`.
    public static func stubClassName(for name: String) -> String {
        var result = ""
        var upperNext = true
        for character in name {
            if character == "." || character == "_" || character == "-" {
                upperNext = true
                continue
            }
            result.append(contentsOf: upperNext ? character.uppercased() : String(character))
            upperNext = false
        }
        return result + "Action"
    }

    /// Dotted identifiers: `[a-z][a-z0-9_]*` parts separated by dots.
    static func isValidName(_ name: String) -> Bool {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        return !parts.isEmpty && parts.allSatisfy { part in
            guard let first = part.first, first.isASCII, first.isLowercase else { return false }
            return part.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }
        }
    }
}

/// The actions of a binary do not form a valid set.
public enum ActionRegistryError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Two actions have the same name; `types` names both, module-qualified.
    case duplicateName(name: String, types: [String])
    /// Two names give the same Python stub class name.
    case duplicateClassName(className: String, names: [String])
    /// A name that is not lowercase dotted identifiers.
    case invalidName(name: String, type: String)

    /// The problem in one line, naming the actions or types involved.
    public var description: String {
        switch self {
        case .duplicateName(let name, let types):
            return "two actions are named '\(name)': \(types.joined(separator: " and "))"
        case .duplicateClassName(let className, let names):
            return "actions '\(names.joined(separator: "' and '"))' would both be registered as Python class \(className); rename one"
        case .invalidName(let name, let type):
            return "action \(type) has the invalid name '\(name)': use lowercase dotted identifiers such as 'cinder.volumes.assert_status'"
        }
    }
}
