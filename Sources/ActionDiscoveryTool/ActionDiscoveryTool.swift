import Foundation

/// Build tool of the action catalog: reads Swift source files, finds every
/// type declared as conforming to `MistralAction` (in its declaration or in an
/// extension), and writes a Swift file listing them: `discoveredActionTypes`
/// and `discoveredActions`, an `ActionSet` named after the module. It works on
/// any target the build plugin is applied to: the standard catalog's, or an
/// operator's own package's.
///
///     ActionDiscoveryTool OUTPUT.swift [--module NAME] INPUT.swift...
///
/// Duplicate action *names* are caught when the registry is built (at start-up
/// and by the catalog's tests); duplicate *type* names fail compilation.
@main
enum ActionDiscoveryTool {
    static func main() throws {
        var arguments = CommandLine.arguments.dropFirst()
        guard let output = arguments.popFirst() else {
            FileHandle.standardError.write(Data("usage: ActionDiscoveryTool OUTPUT.swift [--module NAME] INPUT.swift...\n".utf8))
            exit(2)
        }
        var module = "Actions"
        if arguments.first == "--module" {
            arguments.removeFirst()
            guard let name = arguments.popFirst() else {
                FileHandle.standardError.write(Data("ActionDiscoveryTool: --module needs a name\n".utf8))
                exit(2)
            }
            module = name
        }
        var found: [(type: String, file: String)] = []
        for path in arguments.sorted() {
            let source = try String(contentsOfFile: path, encoding: .utf8)
            for type in ActionScanner.conformingTypes(in: source) where !found.contains(where: { $0.type == type }) {
                found.append((type, URL(fileURLWithPath: path).lastPathComponent))
            }
        }
        found.sort { $0.type < $1.type }
        var text = """
            // Generated at build time by ActionDiscoveryTool from this target's source files.
            // Do not edit: declare a type conforming to `MistralAction` in any file instead.
            import ActionKit

            let discoveredActionTypes: [any MistralAction.Type] = [

            """
        for entry in found {
            text += "    \(entry.type).self, // \(entry.file)\n"
        }
        text += """
            ]

            /// The actions of module \(module), found at build time (one file each).
            let discoveredActions = ActionSet(name: \(swiftStringLiteral(module)), actionTypes: discoveredActionTypes)

            """
        let existing = try? String(contentsOfFile: output, encoding: .utf8)
        if existing != text {
            try text.write(toFile: output, atomically: true, encoding: .utf8)
        }
    }
}

/// `text` as a Swift string literal.
func swiftStringLiteral(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\\": result += "\\\\"
        case "\"": result += "\\\""
        case _ where scalar.value < 0x20 || scalar.value == 0x7F: result += "\\u{\(String(scalar.value, radix: 16))}"
        default: result.unicodeScalars.append(scalar)
        }
    }
    return result + "\""
}

/// Finds the types that a Swift file declares as conforming to `MistralAction`.
/// Comments and string literals are blanked out first so that neither can
/// produce a false match.
enum ActionScanner {
    static let protocolName = "MistralAction"

    static func conformingTypes(in source: String) -> [String] {
        let code = blankCommentsAndStrings(source)
        let pattern = #"(?:^|[\s;}])(struct|class|enum|actor|extension)\s+([A-Za-z_][A-Za-z0-9_.]*)\s*(?:<[^>{]*>)?\s*:\s*([^{]*)\{"#
        guard let regex = try? NSRegularExpression(pattern: pattern, options: []) else { return [] }
        let range = NSRange(code.startIndex..., in: code)
        var types: [String] = []
        for match in regex.matches(in: code, range: range) {
            guard let nameRange = Range(match.range(at: 2), in: code),
                  let listRange = Range(match.range(at: 3), in: code) else { continue }
            var inherited = String(code[listRange])
            if let whereClause = inherited.range(of: #"\bwhere\b"#, options: .regularExpression) {
                inherited = String(inherited[..<whereClause.lowerBound])
            }
            let conformances = inherited.split(separator: ",").map {
                $0.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            if conformances.contains(protocolName) || conformances.contains("ActionKit.\(protocolName)") {
                types.append(String(code[nameRange]))
            }
        }
        return types
    }

    /// Replaces comments and the contents of string literals with spaces,
    /// keeping line structure.
    static func blankCommentsAndStrings(_ source: String) -> String {
        var output = ""
        output.reserveCapacity(source.utf8.count)
        let characters = Array(source)
        var index = 0
        var blockDepth = 0
        while index < characters.count {
            let character = characters[index]
            let next = index + 1 < characters.count ? characters[index + 1] : "\0"
            if blockDepth > 0 {
                if character == "*" && next == "/" { blockDepth -= 1; output += "  "; index += 2; continue }
                if character == "/" && next == "*" { blockDepth += 1; output += "  "; index += 2; continue }
                output.append(character == "\n" ? "\n" : " ")
                index += 1
                continue
            }
            if character == "/" && next == "/" {
                while index < characters.count && characters[index] != "\n" { output += " "; index += 1 }
                continue
            }
            if character == "/" && next == "*" { blockDepth = 1; output += "  "; index += 2; continue }
            if character == "\"" {
                let triple = index + 2 < characters.count && next == "\"" && characters[index + 2] == "\""
                let delimiter = triple ? 3 : 1
                output += String(repeating: "\"", count: delimiter)
                index += delimiter
                while index < characters.count {
                    if characters[index] == "\\" { output += "  "; index += 2; continue }
                    if characters[index] == "\"" {
                        if !triple { break }
                        if index + 2 < characters.count && characters[index + 1] == "\"" && characters[index + 2] == "\"" { break }
                    }
                    output.append(characters[index] == "\n" ? "\n" : " ")
                    index += 1
                }
                output += String(repeating: "\"", count: delimiter)
                index += delimiter
                continue
            }
            output.append(character)
            index += 1
        }
        return output
    }
}
