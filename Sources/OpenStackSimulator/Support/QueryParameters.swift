import Foundation

/// The parameters of a URL query, in order, repeated keys kept (Glance's `tag=a&tag=b`).
struct QueryParameters: Sendable {
    var items: [(name: String, value: String)]

    init(items: [(name: String, value: String)] = []) {
        self.items = items
    }

    /// Parses `a=1&b=x%20y&flag` the way webob does: `+` is a space, a key without `=` has an empty value.
    init(parsing query: String?) {
        items = []
        guard let query, !query.isEmpty else { return }
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = formDecode(String(parts[0]))
            let value = parts.count > 1 ? formDecode(String(parts[1])) : ""
            items.append((name, value))
        }
    }

    /// The last value of `name` (webob's `params[name]` returns the last one).
    subscript(name: String) -> String? {
        items.last(where: { $0.name == name })?.value
    }

    /// Every value of `name`, in order.
    func all(_ name: String) -> [String] {
        items.filter { $0.name == name }.map(\.value)
    }

    func contains(_ name: String) -> Bool {
        items.contains { $0.name == name }
    }

    /// The distinct names, in first-seen order.
    var names: [String] {
        var seen = Set<String>()
        return items.compactMap { seen.insert($0.name).inserted ? $0.name : nil }
    }

    mutating func remove(_ name: String) {
        items.removeAll { $0.name == name }
    }

    /// Replaces every `name` with one `value` appended at the end (how the services add `marker`).
    mutating func set(_ name: String, _ value: String) {
        remove(name)
        items.append((name, value))
    }

    /// `a=1&b=x+y`, like Python's `urllib.parse.urlencode`.
    var encoded: String {
        items.map { formEncode($0.name) + "=" + formEncode($0.value) }.joined(separator: "&")
    }
}

/// Percent-decodes a query component, `+` meaning a space; invalid escapes stay as they are.
func formDecode(_ text: String) -> String {
    percentDecode(text.replacingOccurrences(of: "+", with: " "))
}

/// Percent-decodes a path or query component; invalid escapes stay as they are.
func percentDecode(_ text: String) -> String {
    guard text.contains("%") else { return text }
    var bytes: [UInt8] = []
    let source = Array(text.utf8)
    var index = 0
    while index < source.count {
        if source[index] == UInt8(ascii: "%"), index + 2 < source.count,
            let high = hexValue(source[index + 1]), let low = hexValue(source[index + 2])
        {
            bytes.append(high << 4 | low)
            index += 3
        } else {
            bytes.append(source[index])
            index += 1
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Encodes like Python's `quote_plus`: letters, digits and `_.-~` stay, a space becomes `+`.
func formEncode(_ text: String) -> String {
    var result = ""
    for byte in text.utf8 {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"),
            UInt8(ascii: "~"):
            result.unicodeScalars.append(Unicode.Scalar(byte))
        case UInt8(ascii: " "):
            result += "+"
        default:
            let hex = Array("0123456789ABCDEF".utf8)
            result += "%"
            result.unicodeScalars.append(Unicode.Scalar(hex[Int(byte >> 4)]))
            result.unicodeScalars.append(Unicode.Scalar(hex[Int(byte & 0x0F)]))
        }
    }
    return result
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
    default: return nil
    }
}
