import OrderedJSON
import Synchronization

/// Collects every input key that is not a declared ``Parameter``, as a
/// Python `**kwargs` does: Mistral shows the action's input ending in
/// `**kwargs` and accepts any other key for it.
///
/// ```swift
/// @KeywordArguments(help: "Filters, e.g. name, status.") var filters: JSONObject
/// ```
///
/// An action has at most one such property.
@propertyWrapper
public struct KeywordArguments: Sendable {
    let storage: Storage

    /// The input keys that are not declared parameters, in the order given.
    public var wrappedValue: JSONObject {
        get { storage.value.withLock { $0 } }
        // Assigned while the request's input is decoded, before the action
        // instance is shared.
        nonmutating set { storage.value.withLock { $0 = newValue } }
    }

    /// - Parameter name: the name after `**` in the input string.
    public init(_ name: String = "kwargs", help: String = "") {
        storage = Storage(name: name, help: help)
        ParameterCollector.current?.keywordArguments.append(self)
    }

    final class Storage: Sendable {
        let value = Mutex(JSONObject())
        let name: String
        let help: String
        init(name: String, help: String) {
            self.name = name
            self.help = help
        }
    }
}

/// What the framework knows about an action's keyword arguments.
public struct KeywordArgumentsDefinition: Sendable, Equatable {
    /// The name after `**` (`kwargs`).
    public var name: String
    /// One line of help.
    public var help: String
}

/// Type-erased access to a `@KeywordArguments` property.
protocol AnyKeywordArguments {
    var definition: KeywordArgumentsDefinition { get }
    /// The storage shared by the copies of this property.
    var storageIdentity: ObjectIdentifier { get }
    func assign(_ object: JSONObject)
}

extension KeywordArguments: AnyKeywordArguments {
    var storageIdentity: ObjectIdentifier { ObjectIdentifier(storage) }

    var definition: KeywordArgumentsDefinition {
        KeywordArgumentsDefinition(name: storage.name, help: storage.help)
    }

    func assign(_ object: JSONObject) {
        storage.value.withLock { $0 = object }
    }
}
