import OrderedJSON

/// An exception as oslo.messaging sends it in a reply's `failure`: a JSON
/// string of `{"class", "module", "message", "tb", "args", "kwargs"}`.
///
/// A Python caller turns it into `oslo_messaging.RemoteError(class, message,
/// tb)` unless the module is `builtins` or in its `allowed_remote_exmods`, in
/// which case it rebuilds that exception class from `args`/`kwargs`. Mistral
/// then maps a `class` that exists in `mistral.exceptions` to that exception
/// with the failure's `message` — so ``mistral(_:className:)`` failures reach
/// the Mistral API as proper errors carrying our message.
public struct RemoteFailure: Error, Sendable, Hashable {
    /// Module of the Mistral exceptions.
    public static let mistralExceptionsModule = "mistral.exceptions"

    /// The exception class name (`class`).
    public var className: String
    /// The exception's module (`module`), e.g. `mistral.exceptions`, `builtins`.
    public var module: String
    /// `str(exception)` (`message`).
    public var message: String
    /// The formatted traceback lines (`tb`); we send none or a single line.
    public var traceback: [String]
    /// The exception's constructor arguments (`args`).
    public var arguments: [JSON]
    /// Keyword arguments (`kwargs`).
    public var keywordArguments: JSONObject
    /// Members other than the six above, kept in order.
    public var additionalFields: JSONObject

    /// A failure; `arguments` defaults to `[message]`, like a Python exception
    /// constructed with its message.
    public init(
        className: String,
        module: String,
        message: String,
        traceback: [String] = [],
        arguments: [JSON]? = nil,
        keywordArguments: JSONObject = [:],
        additionalFields: JSONObject = [:]
    ) {
        self.className = className
        self.module = module
        self.message = message
        self.traceback = traceback
        self.arguments = arguments ?? [.string(message)]
        self.keywordArguments = keywordArguments
        self.additionalFields = additionalFields
    }

    /// A failure that the Mistral API/engine raises as
    /// `mistral.exceptions.<className>(message)` (default `MistralException`).
    /// `traceback` carries one line naming the Swift side instead of a Python traceback.
    public static func mistral(_ message: String, className: String = "MistralException") -> RemoteFailure {
        RemoteFailure(
            className: className,
            module: mistralExceptionsModule,
            message: message,
            traceback: ["\(mistralExceptionsModule).\(className): \(message) (raised by the Swift executor)\n"]
        )
    }

    /// Decodes the `failure` string of a reply.
    ///
    /// Tolerant like oslo's `deserialize_remote_exception`: missing `tb`,
    /// `args`, `kwargs`, `message` default to empty; `class`/`module` missing
    /// or null read as `""`. Wrong types are errors.
    public init(decoding text: String) throws(OsloCodecError) {
        let value: JSON
        do {
            value = try JSON(parsing: text, options: .python)
        } catch {
            throw OsloCodecError(code: .invalidFailure, field: "failure", detail: error.description, jsonError: error)
        }
        guard case .object(let object) = value else {
            throw OsloCodecError(code: .invalidFailure, field: "failure", detail: "expected an object, found \(value.typeName)")
        }
        try self.init(object: object)
    }

    /// Decodes an already parsed failure object. See ``init(decoding:)``.
    public init(object: JSONObject) throws(OsloCodecError) {
        func invalid(_ key: String, _ expected: String, _ found: JSON) -> OsloCodecError {
            OsloCodecError(code: .invalidFailure, field: "failure.\(key)", detail: "expected \(expected), found \(found.typeName)")
        }
        func optionalString(_ key: String) throws(OsloCodecError) -> String {
            switch object[key] {
            case nil, .null?: return ""
            case .string(let text)?: return text
            case let other?: throw invalid(key, "a string", other)
            }
        }
        className = try optionalString("class")
        module = try optionalString("module")
        message = try optionalString("message")
        switch object["tb"] {
        case nil, .null?:
            traceback = []
        case .array(let lines)?:
            // Non-string entries are kept as their JSON text.
            traceback = lines.map { $0.stringValue ?? $0.description }
        case let other?:
            throw invalid("tb", "a list of strings", other)
        }
        switch object["args"] {
        case nil, .null?: arguments = []
        case .array(let values)?: arguments = values
        case let other?: throw invalid("args", "a list", other)
        }
        switch object["kwargs"] {
        case nil, .null?: keywordArguments = [:]
        case .object(let values)?: keywordArguments = values
        case let other?: throw invalid("kwargs", "an object", other)
        }
        additionalFields = object.filter { !Self.knownKeys.contains($0.key) }
    }

    private static let knownKeys: Set<String> = ["class", "module", "message", "tb", "args", "kwargs"]

    /// The failure as oslo's object, keys in oslo's order.
    public var object: JSONObject {
        var object = JSONObject(minimumCapacity: 6 + additionalFields.count)
        object["class"] = .string(className)
        object["module"] = .string(module)
        object["message"] = .string(message)
        object["tb"] = .array(traceback.map(JSON.string))
        object["args"] = .array(arguments)
        object["kwargs"] = .object(keywordArguments)
        object.merge(additionalFields)
        return object
    }

    /// The failure string for a reply's `failure` (Python `json.dumps` layout).
    public func encodedString() throws(OsloCodecError) -> String {
        do {
            return try JSON.object(object).encodedString(style: .python)
        } catch {
            throw .unencodable(error, field: "failure")
        }
    }
}

extension RemoteFailure: CustomStringConvertible {
    /// `module.Class: message`, like the last line of a Python traceback.
    public var description: String {
        let qualifiedName = module.isEmpty ? className : module + "." + className
        return message.isEmpty ? qualifiedName : qualifiedName + ": " + message
    }
}
