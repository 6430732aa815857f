import OrderedJSON

/// Why an oslo.messaging message could not be decoded or encoded.
///
/// Carries the ``field`` concerned (a dotted path such as `oslo.message`,
/// `_msg_id` or `args.action`), a human ``detail`` and, for malformed JSON,
/// the parser's error with its byte offset.
public struct OsloCodecError: Error, Sendable, Hashable {
    /// The kind of error; compare against the static members (new kinds may be added).
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        fileprivate enum Base: Sendable, Hashable {
            case invalidJSON
            case notAnObject
            case unsupportedEnvelopeVersion
            case missingField
            case invalidFieldType
            case invalidArgument
            case invalidFailure
            case unencodable
        }

        fileprivate let base: Base

        /// A JSON text (the body, `oslo.message`, a Mistral argument, a failure) does not parse.
        public static let invalidJSON = Code(base: .invalidJSON)
        /// The body or the inner message is valid JSON but not an object.
        public static let notAnObject = Code(base: .notAnObject)
        /// `oslo.version` is not compatible with 2.0 (oslo's `version_is_compatible`).
        public static let unsupportedEnvelopeVersion = Code(base: .unsupportedEnvelopeVersion)
        /// A required key is absent (`method` of a request, `_msg_id` of a reply).
        public static let missingField = Code(base: .missingField)
        /// A key has a value of the wrong JSON type.
        public static let invalidFieldType = Code(base: .invalidFieldType)
        /// A Mistral argument is not a JSON string holding valid JSON.
        public static let invalidArgument = Code(base: .invalidArgument)
        /// A reply's `failure` is not an oslo failure JSON string.
        public static let invalidFailure = Code(base: .invalidFailure)
        /// A value cannot be written as JSON (non-finite number, nesting too deep).
        public static let unencodable = Code(base: .unencodable)

        public var description: String {
            switch base {
            case .invalidJSON: return "invalid JSON"
            case .notAnObject: return "not a JSON object"
            case .unsupportedEnvelopeVersion: return "unsupported oslo envelope version"
            case .missingField: return "missing field"
            case .invalidFieldType: return "wrong field type"
            case .invalidArgument: return "invalid argument"
            case .invalidFailure: return "invalid remote failure"
            case .unencodable: return "cannot encode"
            }
        }
    }

    /// The kind of error.
    public var code: Code
    /// The message key (dotted path) concerned, e.g. `oslo.message`, `args`, `_msg_id`, `args.action`.
    public var field: String?
    /// What was wrong, for people.
    public var detail: String
    /// The JSON error behind ``Code/invalidJSON``, ``Code/invalidArgument`` or ``Code/unencodable``.
    public var jsonError: JSONError?

    public init(code: Code, field: String? = nil, detail: String, jsonError: JSONError? = nil) {
        self.code = code
        self.field = field
        self.detail = detail
        self.jsonError = jsonError
    }

    package static func wrongType(_ field: String, expected: String, found: JSON) -> OsloCodecError {
        OsloCodecError(code: .invalidFieldType, field: field, detail: "expected \(expected), found \(found.typeName)")
    }

    package static func unencodable(_ error: JSONError, field: String? = nil) -> OsloCodecError {
        OsloCodecError(code: .unencodable, field: field, detail: error.description, jsonError: error)
    }
}

extension OsloCodecError: CustomStringConvertible {
    /// E.g. `wrong field type (_msg_id): expected a string or null, found integer`.
    public var description: String {
        var text = code.description
        if let field {
            text += " (\(field))"
        }
        return text + ": " + detail
    }
}
