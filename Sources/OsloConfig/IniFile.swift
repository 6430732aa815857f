#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One `key = value` assignment in a configuration file.
public struct IniEntry: Sendable, Hashable {
    /// The section the assignment is in, exactly as its header spells it.
    public var section: String
    /// The key, stripped, exactly as written (oslo does not fold case or dashes).
    public var key: String
    /// The value: stripped, one pair of matching surrounding quotes removed,
    /// continuation lines appended with `"\n"` (as oslo.config's iniparser does).
    public var value: String
    /// Where the key is (the first line of a multi-line value).
    public var location: ConfigLocation

    public init(section: String, key: String, value: String, location: ConfigLocation) {
        self.section = section
        self.key = key
        self.value = value
        self.location = location
    }
}

/// A `[section]` header line.
public struct IniSectionHeader: Sendable, Hashable {
    /// The name between the brackets, exactly as written (not stripped, as in oslo).
    public var name: String
    public var location: ConfigLocation
}

/// One parsed oslo-style INI file: every assignment in file order, repeated
/// keys included, so a typed layer can take the last one or all of them.
///
/// The syntax is oslo.config's (`oslo_config/iniparser.py`), not Python's
/// `configparser`:
/// * `key = value` and `key: value`, split at whichever of `=` and `:` comes
///   first; key and value stripped; one pair of matching surrounding `"` or `'`
///   removed from the value.
/// * Lines starting with `#` or `;` are comments. A `#` later in a line is part
///   of the value (`password = a#b` is `a#b`).
/// * A line starting with a space or tab continues the value of the previous
///   key (joined with a newline); a blank line or any unindented line ends it.
/// * `[DEFAULT]` holds DEFAULT options; its keys are not inherited by other
///   sections.
public struct IniFile: Sendable, Hashable {
    /// The path as given; messages name the file by it.
    public var path: String
    /// Every assignment, in file order.
    public var entries: [IniEntry]
    /// Every section header, in file order (a section may appear twice).
    public var sectionHeaders: [IniSectionHeader]

    public init(path: String, entries: [IniEntry] = [], sectionHeaders: [IniSectionHeader] = []) {
        self.path = path
        self.entries = entries
        self.sectionHeaders = sectionHeaders
    }

    /// Reads and parses the file at `path`.
    /// - Throws: ``ConfigError`` with code `.unreadableFile` naming the path when
    ///   the file is missing, a directory, unreadable or not UTF-8; `.syntax`
    ///   with `path:line` when a line cannot be parsed.
    public static func read(path: String) throws(ConfigError) -> IniFile {
        let text = try readText(path: path)
        return try parse(text, path: path)
    }

    /// Parses configuration text; `path` only names the file in messages.
    public static func parse(_ text: String, path: String) throws(ConfigError) -> IniFile {
        var parser = IniParser(path: path)
        for (index, line) in splitLines(text).enumerated() {
            try parser.consume(line: line, number: index + 1)
        }
        try parser.finish()
        return IniFile(path: path, entries: parser.entries, sectionHeaders: parser.headers)
    }

    private static func readText(path: String) throws(ConfigError) -> String {
        func failure(_ message: String) -> ConfigError {
            ConfigError(code: .unreadableFile, message: "cannot read configuration file: \(message)", file: path)
        }
        let fileManager = FileManager.default
        var isDirectory = false
        guard fileManager.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw failure("no such file")
        }
        if isDirectory {
            throw failure("it is a directory (pass directories as configuration directories)")
        }
        guard fileManager.isReadableFile(atPath: path) else {
            throw failure("permission denied")
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw failure(fileErrorDescription(error))
        }
        guard var text = String(data: data, encoding: .utf8) else {
            throw failure("it is not UTF-8 text")
        }
        // Editors on some systems write a byte-order mark; it is not part of the first line.
        if text.unicodeScalars.first == "\u{FEFF}" {
            text.unicodeScalars.removeFirst()
        }
        return text
    }

    /// Splits at `\n`, `\r\n` and `\r`, as Python's universal newlines do.
    /// Works on scalars: `\r\n` is one `Character` in Swift.
    static func splitLines(_ text: String) -> [Substring.UnicodeScalarView] {
        let scalars = text.unicodeScalars
        var lines: [Substring.UnicodeScalarView] = []
        var start = scalars.startIndex
        var index = start
        while index < scalars.endIndex {
            let scalar = scalars[index]
            if scalar == "\n" || scalar == "\r" {
                lines.append(scalars[start..<index])
                var next = scalars.index(after: index)
                if scalar == "\r", next < scalars.endIndex, scalars[next] == "\n" {
                    next = scalars.index(after: next)
                }
                start = next
                index = next
            } else {
                index = scalars.index(after: index)
            }
        }
        if start < scalars.endIndex {
            lines.append(scalars[start...])
        }
        return lines
    }
}

/// The line-by-line state machine of oslo.config's iniparser.
private struct IniParser {
    let path: String
    var entries: [IniEntry] = []
    var headers: [IniSectionHeader] = []
    private var section: String?
    private var pending: (key: String, lines: [String], line: Int)?

    init(path: String) {
        self.path = path
    }

    private func syntaxError(_ message: String, line: Int) -> ConfigError {
        ConfigError(code: .syntax, message: message, file: path, line: line)
    }

    mutating func consume(line raw: Substring.UnicodeScalarView, number: Int) throws(ConfigError) {
        let line = raw.trimmingTrailingWhitespace()
        guard let first = line.first else {
            // A blank line ends a multi-line value.
            try flush()
            return
        }
        if first == " " || first == "\t" {
            guard pending != nil else {
                throw syntaxError(
                    "indented line \(quoted(String(line))) does not continue a 'key = value' line; "
                        + "remove the indentation (continuation lines must directly follow their key)",
                    line: number)
            }
            pending?.lines.append(String(line.trimmingLeadingWhitespace()))
            return
        }
        try flush()
        if first == "[" {
            guard line.last == "]" else {
                let hint = line.contains("]") ? "; comments go on a line of their own" : ""
                throw syntaxError(
                    "section header \(quoted(String(line))) must end with ']'\(hint)", line: number)
            }
            guard line.count > 2 else {
                throw syntaxError("empty section name \(quoted(String(line)))", line: number)
            }
            let name = String(line.dropFirst().dropLast())
            section = name
            headers.append(IniSectionHeader(name: name, location: ConfigLocation(path: path, line: number)))
        } else if first == "#" || first == ";" {
            return
        } else {
            let colon = line.firstIndex(of: ":")
            let equal = line.firstIndex(of: "=")
            let separator: Substring.UnicodeScalarView.Index
            switch (colon, equal) {
            case (nil, nil):
                throw syntaxError(
                    "expected 'key = value' or '[section]', found \(quoted(String(line)))", line: number)
            case (let colon?, let equal?):
                separator = min(colon, equal)
            case (let colon?, nil):
                separator = colon
            case (nil, let equal?):
                separator = equal
            }
            let key = String(line[..<separator].trimmingWhitespace())
            guard !key.isEmpty else {
                throw syntaxError("empty key in \(quoted(String(line)))", line: number)
            }
            guard section != nil else {
                throw syntaxError(
                    "\(quoted(String(line))) comes before any [section] header; "
                        + "start the file with a section such as [DEFAULT]",
                    line: number)
            }
            var value = line[line.index(after: separator)...].trimmingWhitespace()
            if let opening = value.first, opening == "\"" || opening == "'", value.last == opening {
                // Python's value[1:-1]: a lone quote becomes the empty string.
                value = value.count >= 2 ? value.dropFirst().dropLast() : value[value.endIndex...]
            }
            pending = (key, [String(value)], number)
        }
    }

    mutating func finish() throws(ConfigError) {
        try flush()
    }

    private mutating func flush() throws(ConfigError) {
        guard let assignment = pending else { return }
        pending = nil
        // `consume` rejects keys before a section, so one is always set here.
        guard let section else { return }
        entries.append(
            IniEntry(
                section: section,
                key: assignment.key,
                value: assignment.lines.joined(separator: "\n"),
                location: ConfigLocation(path: path, line: assignment.line)))
    }
}

/// Python's `str.isspace()` for one code point, which `strip()` uses: Unicode
/// white space plus the information separators U+001C–U+001F.
func isPythonWhitespace(_ scalar: Unicode.Scalar) -> Bool {
    scalar.properties.isWhitespace || (0x1C...0x1F).contains(scalar.value)
}

extension Substring.UnicodeScalarView {
    func trimmingTrailingWhitespace() -> Substring.UnicodeScalarView {
        var end = endIndex
        while end > startIndex {
            let before = index(before: end)
            guard isPythonWhitespace(self[before]) else { break }
            end = before
        }
        return self[startIndex..<end]
    }

    func trimmingLeadingWhitespace() -> Substring.UnicodeScalarView {
        var start = startIndex
        while start < endIndex, isPythonWhitespace(self[start]) {
            start = index(after: start)
        }
        return self[start..<endIndex]
    }

    func trimmingWhitespace() -> Substring.UnicodeScalarView {
        trimmingLeadingWhitespace().trimmingTrailingWhitespace()
    }
}

extension StringProtocol {
    /// Stripped as Python's `str.strip()` strips.
    func pythonStripped() -> String {
        String(Substring(self).unicodeScalars.trimmingWhitespace())
    }
}
