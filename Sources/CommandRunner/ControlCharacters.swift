/// The characters no command line, word, configured path or environment
/// value may hold.
///
/// A NUL byte ends a C string: the allowlist check (Swift strings) and the
/// system calls (C strings) would see different names. The other controls
/// (C0 but tab and line feed, DEL, C1) never belong in a command and can
/// hide text from whoever reads a command line in a log or a terminal. Tab
/// separates words; a line feed is refused between commands by the parser
/// and allowed inside quotes, as a shell does.
enum ControlCharacters {
    /// Whether `scalar` is refused.
    static func isRefused(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09, 0x0A: false
        case 0x00...0x1F, 0x7F...0x9F: true
        default: false
        }
    }

    /// The first refused character of `text` and its position (1-based, in
    /// Unicode scalars, as the parser counts), or nil.
    static func firstRefused(in text: String) -> (scalar: Unicode.Scalar, position: Int)? {
        for (offset, scalar) in text.unicodeScalars.enumerated() where isRefused(scalar) {
            return (scalar, offset + 1)
        }
        return nil
    }

    /// Whether `text` holds a NUL, which no C call can take.
    static func containsNUL(_ text: String) -> Bool {
        text.utf8.contains(0)
    }

    /// `U+0000 (NUL)`, `U+001B (escape)`, `U+0085`.
    static func name(of scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        let code = "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        let names: [UInt32: String] = [0x00: "NUL", 0x08: "backspace", 0x0D: "carriage return", 0x1B: "escape", 0x7F: "DEL"]
        return names[scalar.value].map { "\(code) (\($0))" } ?? code
    }

    /// Byte-for-byte equality. Swift's `==` treats canonically equivalent
    /// strings as equal (`é` and `e` + combining accent), but the file system
    /// does not: names and paths are compared as the system sees them.
    static func sameBytes(_ first: String, _ second: String) -> Bool {
        first.utf8.elementsEqual(second.utf8)
    }
}
