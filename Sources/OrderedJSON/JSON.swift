/// A JSON value that keeps the key order of objects.
///
/// Objects remember the order in which their keys were parsed or inserted, so
/// a message decoded from Python (whose dicts are ordered) re-encodes with the
/// same key order. Numbers are kept as they were written: integers that fit in
/// `Int64` stay `.integer`, everything else is `.double`.
///
/// Equality follows JSON (and Python) semantics: objects compare equal when
/// they have the same keys and values, whatever the order; `.integer(1)` and
/// `.double(1.0)` are *different* values (they encode differently). Compare
/// encoded bytes when the key order matters.
public enum JSON: Sendable, Hashable {
    case null
    case bool(Bool)
    case integer(Int64)
    case double(Double)
    case string(String)
    case array([JSON])
    case object(JSONObject)
}

// MARK: - Accessors

extension JSON {
    /// `true` for `.null`.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The value of a `.bool`, else `nil`.
    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The value of an `.integer`, else `nil` (doubles are not converted).
    public var int64Value: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }

    /// The value of an `.integer` that fits in `Int`, else `nil`.
    public var intValue: Int? {
        if case .integer(let value) = self { return Int(exactly: value) }
        return nil
    }

    /// The value of a `.double`, or of an `.integer` converted to `Double`.
    public var doubleValue: Double? {
        switch self {
        case .double(let value): return value
        case .integer(let value): return Double(value)
        default: return nil
        }
    }

    /// The value of a `.string`, else `nil`.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The elements of an `.array`, else `nil`.
    public var arrayValue: [JSON]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// The members of an `.object`, else `nil`.
    public var objectValue: JSONObject? {
        if case .object(let value) = self { return value }
        return nil
    }

    /// The member `key` of an object; `nil` if this is not an object or has no such key.
    public subscript(key: String) -> JSON? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    /// The element at `index` of an array; `nil` if this is not an array or the index is out of range.
    public subscript(index: Int) -> JSON? {
        if case .array(let array) = self, array.indices.contains(index) { return array[index] }
        return nil
    }

    /// The JSON type name (`"null"`, `"boolean"`, `"integer"`, `"number"`,
    /// `"string"`, `"array"`, `"object"`), for error messages.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .integer: return "integer"
        case .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}

// MARK: - Literals

extension JSON: ExpressibleByNilLiteral {
    /// `nil` is `null`.
    public init(nilLiteral: ()) { self = .null }
}

extension JSON: ExpressibleByBooleanLiteral {
    /// `true`, `false`.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

extension JSON: ExpressibleByIntegerLiteral {
    /// An integer literal.
    public init(integerLiteral value: Int64) { self = .integer(value) }
}

extension JSON: ExpressibleByFloatLiteral {
    /// A floating-point literal.
    public init(floatLiteral value: Double) { self = .double(value) }
}

extension JSON: ExpressibleByStringLiteral {
    /// A string literal.
    public init(stringLiteral value: String) { self = .string(value) }
}

extension JSON: ExpressibleByArrayLiteral {
    /// An array literal.
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
}

extension JSON: ExpressibleByDictionaryLiteral {
    /// Keys keep the literal's order; a repeated key keeps its first position and its last value.
    public init(dictionaryLiteral elements: (String, JSON)...) {
        self = .object(JSONObject(elements))
    }
}

// MARK: - Description

extension JSON: CustomStringConvertible {
    /// The compact JSON text of the value (for debugging and logs; secrets are not redacted).
    public var description: String {
        (try? encodedString(style: .compact)) ?? "<unencodable JSON: \(typeName)>"
    }
}
