import OrderedJSON

extension JSON {
    /// The value as Python's `repr` would print the decoded object.
    ///
    /// Cinder's and Trove's schema-validation messages embed the offending value this
    /// way (`Value: {'volume_id': 'x', 'parent_id': 'y'}`, `True is not of type 'integer'`).
    var pythonRepr: String {
        switch self {
        case .null: return "None"
        case .bool(let value): return value ? "True" : "False"
        case .integer(let value): return String(value)
        case .double(let value):
            if value == value.rounded(), abs(value) < 1e16 { return String(Int64(value)) + ".0" }
            return String(value)
        case .string(let value): return pythonStringRepr(value)
        case .array(let values): return "[" + values.map(\.pythonRepr).joined(separator: ", ") + "]"
        case .object(let object):
            return "{" + object.map { pythonStringRepr($0.key) + ": " + $0.value.pythonRepr }.joined(separator: ", ") + "}"
        }
    }
}

/// Python's `repr(str)`: single quotes unless the text has a single quote and no double quote.
func pythonStringRepr(_ text: String) -> String {
    let quote: Character = text.contains("'") && !text.contains("\"") ? "\"" : "'"
    var result = String(quote)
    for character in text {
        switch character {
        case "\\": result += "\\\\"
        case "\n": result += "\\n"
        case "\r": result += "\\r"
        case "\t": result += "\\t"
        case quote: result += "\\" + String(quote)
        default: result.append(character)
        }
    }
    result.append(quote)
    return result
}
