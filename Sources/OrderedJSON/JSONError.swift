/// Why JSON text could not be parsed, or a value could not be encoded.
///
/// Parse errors carry the byte ``offset`` into the input where the problem was
/// found, what the parser ``expected`` there, and the byte it ``found``
/// (`nil` at the end of the input).
public struct JSONError: Error, Sendable, Hashable {
    /// The kind of error; compare against the static members (new kinds may be added).
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        fileprivate enum Base: Sendable, Hashable {
            case unexpectedEndOfInput
            case unexpectedCharacter
            case invalidNumber
            case numberOutOfRange
            case invalidEscape
            case invalidUnicodeEscape
            case loneSurrogate
            case invalidUTF8
            case controlCharacterInString
            case nestingTooDeep
            case trailingData
            case nonFiniteNumber
        }

        fileprivate let base: Base

        /// The input ended inside a value.
        public static let unexpectedEndOfInput = Code(base: .unexpectedEndOfInput)
        /// A byte that cannot appear at this position (including trailing commas,
        /// comments, single quotes, `NaN`, `Infinity`, ...).
        public static let unexpectedCharacter = Code(base: .unexpectedCharacter)
        /// A malformed number (leading zero, `1.`, `.5`, `1e`, `-`, ...).
        public static let invalidNumber = Code(base: .invalidNumber)
        /// A number too large for a `Double` (it would be infinite).
        public static let numberOutOfRange = Code(base: .numberOutOfRange)
        /// A backslash followed by something other than `"\/bfnrtu`.
        public static let invalidEscape = Code(base: .invalidEscape)
        /// `\u` not followed by four hex digits.
        public static let invalidUnicodeEscape = Code(base: .invalidUnicodeEscape)
        /// A `\uD800`–`\uDFFF` escape that is not part of a surrogate pair.
        public static let loneSurrogate = Code(base: .loneSurrogate)
        /// Bytes that are not well-formed UTF-8.
        public static let invalidUTF8 = Code(base: .invalidUTF8)
        /// An unescaped control character (U+0000–U+001F) inside a string.
        public static let controlCharacterInString = Code(base: .controlCharacterInString)
        /// Arrays and objects nested deeper than the configured limit.
        public static let nestingTooDeep = Code(base: .nestingTooDeep)
        /// Something other than whitespace after the top-level value.
        public static let trailingData = Code(base: .trailingData)
        /// Encoding a NaN or infinite `Double` (JSON has no such numbers).
        public static let nonFiniteNumber = Code(base: .nonFiniteNumber)

        /// The code as words (`unexpected end of input`).
        public var description: String {
            switch base {
            case .unexpectedEndOfInput: return "unexpected end of input"
            case .unexpectedCharacter: return "unexpected character"
            case .invalidNumber: return "invalid number"
            case .numberOutOfRange: return "number out of range"
            case .invalidEscape: return "invalid escape sequence"
            case .invalidUnicodeEscape: return "invalid \\u escape"
            case .loneSurrogate: return "lone UTF-16 surrogate"
            case .invalidUTF8: return "invalid UTF-8"
            case .controlCharacterInString: return "unescaped control character in string"
            case .nestingTooDeep: return "nesting too deep"
            case .trailingData: return "trailing data after the JSON value"
            case .nonFiniteNumber: return "non-finite number"
            }
        }
    }

    /// The kind of error.
    public var code: Code
    /// Byte offset into the input where the error was detected; `nil` for encoding errors.
    public var offset: Int?
    /// What was expected at ``offset`` (e.g. `"',' or '}'"`), when that helps.
    public var expected: String?
    /// The byte found at ``offset``; `nil` at the end of the input or for encoding errors.
    public var found: UInt8?

    /// An error at byte `offset`, with what was expected and the byte found.
    public init(code: Code, offset: Int? = nil, expected: String? = nil, found: UInt8? = nil) {
        self.code = code
        self.offset = offset
        self.expected = expected
        self.found = found
    }
}

extension JSONError: CustomStringConvertible {
    /// E.g. `unexpected character at byte 17: found '}', expected a string (object key)`.
    public var description: String {
        var text = code.description
        if let offset {
            text += " at byte \(offset)"
        }
        var details: [String] = []
        if let found {
            details.append("found \(Self.describe(byte: found))")
        } else if offset != nil, code == .unexpectedEndOfInput {
            details.append("found end of input")
        }
        if let expected {
            details.append("expected \(expected)")
        }
        if !details.isEmpty {
            text += ": " + details.joined(separator: ", ")
        }
        return text
    }

    private static func describe(byte: UInt8) -> String {
        if byte >= 0x20 && byte < 0x7F {
            return "'\(Character(Unicode.Scalar(byte)))'"
        }
        let hex = String(byte, radix: 16, uppercase: true)
        return "byte 0x" + (hex.count < 2 ? "0" + hex : hex)
    }
}
