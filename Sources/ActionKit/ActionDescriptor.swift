import OrderedJSON

/// Everything the framework knows about one action type: its name, its
/// description and its parameters in declaration order.
public struct ActionDescriptor: Sendable {
    /// The action type.
    public let type: any MistralAction.Type
    /// The name below the prefix, e.g. `cinder.volumes.assert_status`.
    public let name: String
    /// The full description.
    public let description: String
    /// The parameters, in declaration order.
    public let parameters: [ParameterDefinition]
    /// The `**kwargs` catch-all, when the action declares one.
    public let keywordArguments: KeywordArgumentsDefinition?
    /// Whether the properties an instance's `init()` creates are exactly
    /// its stored parameters in declaration order (see ``ParameterCollector``).
    let initCreatesParametersInOrder: Bool

    /// Reads the action's declaration.
    public init(_ type: any MistralAction.Type) {
        self.type = type
        self.name = type.name
        self.description = type.description
        let (instance, collector) = ParameterCollector.instantiate(type)
        let found = ParameterReflection.parameters(of: instance)
        let catchAll = ParameterReflection.keywordArguments(of: instance)
        self.parameters = found.map(\.definition)
        self.keywordArguments = catchAll?.definition
        self.initCreatesParametersInOrder = collector.parameters.map(\.storageIdentity) == found.map(\.parameter.storageIdentity)
            && collector.keywordArguments.map(\.storageIdentity) == (catchAll.map { [$0.storageIdentity] } ?? [])
    }

    /// The name Mistral knows the action by: `<prefix>.<name>`.
    public func qualifiedName(prefix: String) -> String {
        prefix.isEmpty ? name : "\(prefix).\(name)"
    }

    /// The parameter name derived from a property name:
    /// `volumeID` → `volume_id`, `backupName` → `backup_name`.
    public static func snakeCase(_ propertyName: String) -> String {
        ParameterReflection.snakeCase(propertyName)
    }

    /// The first line of the description.
    public var summary: String {
        description.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: true).first.map(String.init) ?? ""
    }

    /// The input as Mistral shows it: required names, then `name=<JSON default>`
    /// (`volume_id, status="available"`), exactly what Mistral derives from the
    /// registered stub's `__init__` signature.
    public var inputString: String {
        var items = parameters.map { parameter in
            guard let defaultValue = parameter.defaultValue else { return parameter.name }
            return "\(parameter.name)=\(defaultValue.pythonText)"
        }
        if let keywordArguments { items.append("**\(keywordArguments.name)") }
        return items.joined(separator: ", ")
    }

    /// Builds an instance whose parameters hold the request's input.
    ///
    /// - Throws: ``ActionInputError`` listing every missing, unexpected or
    ///   ill-typed parameter.
    public func instantiate(input: JSONObject) throws(ActionInputError) -> any MistralAction {
        // The new instance's parameter storage, as its init() created it
        // (checked once for this type to be declaration order), or else by
        // one reflection pass. Names, defaults and the catch-all's name come
        // from the definitions read when the descriptor was made.
        let action: any MistralAction
        var storages: [any AnyParameter]
        var catchAll: (any AnyKeywordArguments)?
        let collected = initCreatesParametersInOrder ? ParameterCollector.instantiate(type) : nil
        if let (instance, collector) = collected, collector.parameters.count == parameters.count,
           collector.keywordArguments.count == (keywordArguments == nil ? 0 : 1) {
            action = instance
            storages = collector.parameters
            catchAll = collector.keywordArguments.first
        } else {
            action = collected?.action ?? type.init()
            storages = []
            storages.reserveCapacity(parameters.count)
            for child in Mirror(reflecting: action).children {
                if let parameter = child.value as? any AnyParameter {
                    storages.append(parameter)
                } else if keywordArguments != nil, catchAll == nil, let arguments = child.value as? any AnyKeywordArguments {
                    catchAll = arguments
                }
            }
        }
        var definitions = parameters
        if storages.count != definitions.count {
            // An action whose stored properties differ between instances:
            // this instance's own definitions.
            let found = ParameterReflection.parameters(of: action)
            definitions = found.map(\.definition)
            storages = found.map(\.parameter)
        }
        var problems: [ActionInputError.Problem] = []
        var seen = Array(repeating: false, count: definitions.count)
        var extra = JSONObject()
        for (key, value) in input {
            guard let index = definitions.firstIndex(where: { $0.name == key }) else {
                if catchAll != nil, let catchAllName = keywordArguments?.name {
                    // Mistral instantiates the registered stub and sends its
                    // attributes: the keyword arguments arrive as one object
                    // under their own name (`kwargs: {...}`).
                    if key == catchAllName, case .object(let members) = value {
                        for (name, member) in members { extra.updateValue(member, forKey: name) }
                    } else {
                        extra.updateValue(value, forKey: key)
                    }
                } else {
                    problems.append(.unexpected(name: key))
                }
                continue
            }
            seen[index] = true
            do {
                try storages[index].assign(value)
            } catch {
                problems.append(.wrongType(name: key, expected: error.expected, got: value))
            }
        }
        for (index, parameter) in definitions.enumerated() where parameter.isRequired && !seen[index] {
            problems.append(.missing(name: parameter.name))
        }
        guard problems.isEmpty else {
            throw ActionInputError(action: name, problems: problems)
        }
        catchAll?.assign(extra)
        return action
    }
}

/// The request's input does not fit the action's parameters.
public struct ActionInputError: Error, Sendable, CustomStringConvertible {
    /// One thing wrong with the input.
    public enum Problem: Sendable, Equatable {
        /// A required parameter is absent.
        case missing(name: String)
        /// A key that is no parameter (and the action takes no keyword arguments).
        case unexpected(name: String)
        /// A value of the wrong JSON type; `expected` as users read it (`a string`).
        case wrongType(name: String, expected: String, got: JSON)
    }

    /// The action's name below the prefix.
    public var action: String
    /// Every problem found, in parameter order.
    public var problems: [Problem]

    /// All problems in one line: `invalid input for action <name>: ...`.
    public var description: String {
        let details = problems.map { problem -> String in
            switch problem {
            case .missing(let name):
                return "missing required parameter '\(name)'"
            case .unexpected(let name):
                return "unexpected parameter '\(name)'"
            case .wrongType(let name, let expected, let got):
                var shown = got.pythonText
                if shown.count > 80 { shown = String(shown.prefix(77)) + "..." }
                return "parameter '\(name)' must be \(expected), got \(shown)"
            }
        }
        return "invalid input for action \(action): " + details.joined(separator: "; ")
    }
}

/// Finds the `@Parameter` properties of an action by reflection.
enum ParameterReflection {
    struct Found {
        let definition: ParameterDefinition
        let parameter: any AnyParameter
        func assign(_ json: JSON) throws(ParameterTypeMismatch) { try parameter.assign(json) }
    }

    static func parameters(of action: any MistralAction) -> [Found] {
        Mirror(reflecting: action).children.compactMap { child in
            guard let parameter = child.value as? any AnyParameter else { return nil }
            var definition = parameter.definition
            if parameter.propertyName == nil, let label = child.label {
                definition.name = snakeCase(label.hasPrefix("_") ? String(label.dropFirst()) : label)
            }
            return Found(definition: definition, parameter: parameter)
        }
    }

    static func keywordArguments(of action: any MistralAction) -> (any AnyKeywordArguments)? {
        Mirror(reflecting: action).children.lazy.compactMap { $0.value as? any AnyKeywordArguments }.first
    }

    /// `volumeID` → `volume_id`, `backupName` → `backup_name`, `httpURLPath` → `http_url_path`.
    static func snakeCase(_ name: String) -> String {
        let characters = Array(name)
        var result = ""
        for (index, character) in characters.enumerated() {
            if character.isUppercase, index > 0 {
                let previous = characters[index - 1]
                let nextIsLower = index + 1 < characters.count && characters[index + 1].isLowercase
                if previous.isLowercase || previous.isNumber || (previous.isUppercase && nextIsLower) {
                    result.append("_")
                }
            }
            result.append(contentsOf: character.lowercased())
        }
        return result
    }
}
