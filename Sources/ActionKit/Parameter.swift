import OrderedJSON
import Synchronization

/// A value type that an action parameter can have.
public protocol ParameterValue: Sendable {
    /// Decodes the value Mistral sent; throws a message for the user when the
    /// JSON has the wrong type.
    init(parameterJSON json: JSON) throws(ParameterTypeMismatch)
    /// The value as JSON (used for defaults in the input string and stubs).
    var parameterJSON: JSON { get }
    /// The name of the type as users read it, e.g. "a string".
    static var parameterTypeDescription: String { get }
}

/// The JSON value did not have the type the parameter declares.
public struct ParameterTypeMismatch: Error, Sendable {
    /// The type expected, as users read it (`a string`).
    public var expected: String
    /// A mismatch; `expected` as users read it.
    public init(expected: String) { self.expected = expected }
}

/// What the framework knows about one parameter of an action.
public struct ParameterDefinition: Sendable, Equatable {
    /// The name in the workflow's `input:` (snake_case).
    public var name: String
    /// The default as JSON, or `nil` when the parameter is required.
    public var defaultValue: JSON?
    /// The expected type, as users read it.
    public var typeDescription: String
    /// One line of help.
    public var help: String

    /// The parameter has no default: the input must give it.
    public var isRequired: Bool { defaultValue == nil }
}

/// Type-erased access to a `@Parameter` property, found by reflection.
protocol AnyParameter {
    var definition: ParameterDefinition { get }
    /// The storage shared by the copies of this property.
    var storageIdentity: ObjectIdentifier { get }
    var propertyName: String? { get }
    func assign(_ json: JSON) throws(ParameterTypeMismatch)
}

/// Declares one input parameter of a ``MistralAction``.
///
/// The parameter's name is given explicitly (`@Parameter("volume_id")`) or
/// derived from the property name in snake_case (`backupName` → `backup_name`).
/// A parameter without a default is required, except an optional one, whose
/// default is `null`.
@propertyWrapper
public struct Parameter<Value: ParameterValue>: Sendable {
    let storage: Storage
    let explicitName: String?

    /// The value from the request's input (or the default).
    public var wrappedValue: Value {
        get {
            guard let value = storage.value.withLock({ $0 }) else {
                // Only reachable when an action is run without its input having
                // been decoded, which the framework never does.
                preconditionFailure("required parameter \(explicitName ?? "") read before the input was decoded")
            }
            return value
        }
        // A parameter is assigned while the request's input is decoded, before
        // the action instance is shared.
        nonmutating set { storage.value.withLock { $0 = newValue } }
    }

    /// A required parameter. (Disfavoured so that an optional property picks
    /// the initializer that gives it a `null` default.)
    @_disfavoredOverload
    public init(_ name: String? = nil, help: String = "") {
        self.explicitName = name
        self.storage = Storage(value: nil, defaultJSON: nil, help: help)
        ParameterCollector.current?.parameters.append(self)
    }

    /// A parameter with a default.
    public init(wrappedValue: Value, _ name: String? = nil, help: String = "") {
        self.explicitName = name
        self.storage = Storage(value: wrappedValue, defaultJSON: wrappedValue.parameterJSON, help: help)
        ParameterCollector.current?.parameters.append(self)
    }

    /// A parameter with a default (alternative spelling).
    public init(_ name: String? = nil, default defaultValue: Value, help: String = "") {
        self.init(wrappedValue: defaultValue, name, help: help)
    }

    /// Holds the decoded value. A class so that reflection, which sees copies
    /// of the action's stored properties, can assign through them.
    final class Storage: Sendable {
        let value: Mutex<Value?>
        let defaultJSON: JSON?
        let help: String
        init(value: Value?, defaultJSON: JSON?, help: String) {
            self.value = Mutex(value)
            self.defaultJSON = defaultJSON
            self.help = help
        }
    }
}

extension Parameter {
    /// An optional parameter: its default is `null`.
    public init<Wrapped: ParameterValue>(_ name: String? = nil, help: String = "") where Value == Wrapped? {
        self.explicitName = name
        self.storage = Storage(value: Value(nilLiteral: ()), defaultJSON: .null, help: help)
        ParameterCollector.current?.parameters.append(self)
    }
}

extension Parameter: AnyParameter {
    var propertyName: String? { explicitName }
    var storageIdentity: ObjectIdentifier { ObjectIdentifier(storage) }

    var definition: ParameterDefinition {
        ParameterDefinition(
            name: explicitName ?? "",
            defaultValue: storage.defaultJSON,
            typeDescription: Value.parameterTypeDescription,
            help: storage.help
        )
    }

    func assign(_ json: JSON) throws(ParameterTypeMismatch) {
        let value = try Value(parameterJSON: json)
        storage.value.withLock { $0 = value }
    }
}

extension Parameter {
    /// The parameter's definition (`$volumeID`): name, default, type and help.
    public var projectedValue: ParameterDefinition { definition }
}
