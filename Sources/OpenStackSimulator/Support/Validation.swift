import OrderedJSON

/// oslo's `uuidutils.is_uuid_like`: a UUID with or without dashes, any case.
func isUUIDLike(_ text: String) -> Bool {
    let hexDigits = text.filter { $0 != "-" }
    guard hexDigits.count == 32, hexDigits.allSatisfy(\.isHexDigit) else { return false }
    if text.count == 32 { return true }
    let groups = text.split(separator: "-", omittingEmptySubsequences: false).map(\.count)
    return groups == [8, 4, 4, 4, 12]
}

/// The values Cinder's `parameter_types.boolean` enum accepts, in its order (for the error message).
let cinderBooleanEnum: [JSON] = [
    true, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes", "y", "t",
    false, "False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no", "n", "f",
]

/// oslo's `strutils.bool_from_string(strict=True)` for a value that passed the enum.
func cinderBoolean(_ value: JSON) -> Bool? {
    if let flag = value.boolValue { return flag }
    guard let text = value.stringValue?.lowercased() else { return nil }
    if ["true", "1", "on", "yes", "y", "t"].contains(text) { return true }
    if ["false", "0", "off", "no", "n", "f"].contains(text) { return false }
    return nil
}

/// Lenient truthiness of a query parameter (`with_count=true`, `protected=True`).
func queryBoolean(_ text: String) -> Bool? {
    switch text.lowercased() {
    case "true", "1", "on", "yes", "y", "t": return true
    case "false", "0", "off", "no", "n", "f": return false
    default: return nil
    }
}

/// jsonschema's "Additional properties are not allowed (...)" wording, extras in instance order.
func additionalPropertiesMessage(_ extras: [String]) -> String {
    let quoted = extras.map { pythonStringRepr($0) }.joined(separator: ", ")
    return "Additional properties are not allowed (\(quoted) \(extras.count == 1 ? "was" : "were") unexpected)"
}

/// jsonschema's type error for a list of types: `5 is not of type 'string', 'null'`.
func typeMessage(_ value: JSON, _ types: [String]) -> String {
    "\(value.pythonRepr) is not of type \(types.map { "'\($0)'" }.joined(separator: ", "))"
}
