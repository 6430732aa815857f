/// Commands connected by pipes, as written: each stage is an argument vector
/// whose first element is the command's name or path.
public struct CommandPipeline: Sendable, Hashable, CustomStringConvertible {
    /// The stages, in order; none is empty.
    public var stages: [[String]]

    /// A pipeline from argument vectors (no parsing, no shell).
    public init(_ stages: [[String]]) {
        self.stages = stages
    }

    /// Parses a command line as a shell would split it into words and pipeline
    /// stages, and rejects every other piece of shell syntax.
    ///
    /// Supported: words separated by blanks, single quotes (everything literal),
    /// double quotes (a backslash escapes `"`, `\`, `$` and `` ` ``), a
    /// backslash outside quotes (the next character is literal), and `|`
    /// between stages.
    ///
    /// Rejected, because without a shell it would silently do something else:
    /// command separators (`;`, `&`, `&&`, `||`, line breaks), redirections
    /// (`>`, `>>`, `<`, `2>&1`), command substitution (`$(...)`, backticks),
    /// parameter expansion (`$VAR`, `${VAR}`), unquoted glob characters
    /// (`*`, `?`, `[`), tilde expansion, brace expansion (`{a,b}`), comments,
    /// subshells, leading `NAME=value` assignments, empty stages and
    /// unterminated quotes. Quote a character to pass it literally.
    ///
    /// Refused before anything else: control characters (a NUL byte, C0
    /// controls but tab and line feed, DEL, C1), quoted or not. A NUL would
    /// end the C string the system sees, so the command checked and the
    /// command run would differ.
    ///
    /// The line is read as Unicode scalars, as a shell reads bytes: a
    /// combining mark after a quote or `|` does not hide it.
    ///
    /// - Throws: ``CommandError`` with code
    ///   ``CommandError/Code-swift.struct/invalidCommandLine`` and a message
    ///   naming the construct and its position.
    public init(parsing commandLine: String) throws(CommandError) {
        if let (scalar, position) = ControlCharacters.firstRefused(in: commandLine) {
            throw CommandError(
                code: .invalidCommandLine,
                message: "control character \(ControlCharacters.name(of: scalar)) at character \(position) is not allowed in a command line"
            )
        }
        var parser = CommandLineParser(commandLine)
        self.stages = try parser.parse()
    }

    /// The pipeline written back as a command line, quoting where needed.
    public var description: String {
        stages.map { words in
            words.enumerated().map { index, word in Self.quoted(word, isCommand: index == 0) }.joined(separator: " ")
        }.joined(separator: " | ")
    }

    /// The word as the parser reads it back: bare when it holds no special
    /// character, else in single quotes. (`=` in a command's name is special:
    /// it would read as an assignment.)
    static func quoted(_ word: String, isCommand: Bool) -> String {
        let plain = !word.isEmpty && word.unicodeScalars.allSatisfy { scalar in
            scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "-_./:,+%@^".unicodeScalars.contains(scalar)
                || (scalar == "=" && !isCommand)
        }
        if plain { return word }
        return "'" + word.replacing("'", with: #"'\''"#) + "'"
    }
}

/// Splits a command line into pipeline stages of words (see
/// ``CommandPipeline/init(parsing:)``).
struct CommandLineParser {
    private let characters: [Unicode.Scalar]
    private var index = 0

    private var stages: [[String]] = []
    private var words: [String] = []
    private var word = ""
    /// A word has begun (an empty quoted string `''` is a word).
    private var inWord = false
    /// Where the last `|` was (0-based), for messages about empty stages.
    private var lastPipe: Int?

    /// The word so far is a name made of unquoted characters, and it is the
    /// first word of its stage: a following `=` would make it an assignment.
    private var mayBeAssignment = false
    /// An unquoted `{` opened in this word, and where.
    private var openBrace: Int?
    /// An unquoted `,` or `..` followed that `{`.
    private var braceHasSeparator = false

    init(_ commandLine: String) {
        self.characters = Array(commandLine.unicodeScalars)
    }

    mutating func parse() throws(CommandError) -> [[String]] {
        while index < characters.count {
            let character = characters[index]
            switch character {
            case " ", "\t":
                finishWord()
                index += 1
            case "\n":
                throw failure("a line break at character \(position) would separate commands in a shell; run one command (or a pipeline)")
            case "'":
                try singleQuoted()
            case "\"":
                try doubleQuoted()
            case "\\":
                try backslash()
            case "|":
                if next == "|" {
                    throw failure("'||' at character \(position) would run a second command when the first fails in a shell; there is no shell here, run one command")
                }
                finishWord()
                try finishStage(atPipe: true)
                lastPipe = index
                index += 1
            case ";":
                throw failure("';' at character \(position) would separate commands in a shell; there is no shell here, run one command (pipes with '|' are allowed)")
            case "&":
                if next == "&" {
                    throw failure("'&&' at character \(position) would chain commands in a shell; there is no shell here, run one command")
                }
                throw failure("'&' at character \(position) would run a command in the background in a shell; that is not supported")
            case ">", "<":
                let operatorText = next == character ? "\(character)\(character)" : "\(character)"
                throw failure("redirection '\(operatorText)' at character \(position) is not supported (there is no shell); the command's output is returned as the result")
            case "(", ")":
                throw failure("'\(character)' at character \(position) would group commands or start a subshell in a shell; that is not supported")
            case "`":
                throw failure("command substitution with '`' at character \(position) is not supported (there is no shell)")
            case "$":
                try dollar(quoted: false)
            case "*", "?", "[":
                throw failure("'\(character)' at character \(position) is a glob pattern in a shell, but nothing expands it here; quote it (\"\(character)\") to pass it literally")
            case "~" where !inWord:
                throw failure("'~' at character \(position) would be expanded to a home directory by a shell; write the path in full, or quote it to pass it literally")
            case "#" where !inWord:
                throw failure("'#' at character \(position) starts a comment in a shell; quote it to pass it literally")
            default:
                try unquoted(character)
            }
        }
        finishWord()
        try finishStage(atPipe: false)
        return stages
    }

    // MARK: Words

    private var next: Unicode.Scalar? {
        index + 1 < characters.count ? characters[index + 1] : nil
    }

    /// The current character's position as people count (1-based).
    private var position: Int { index + 1 }

    private mutating func beginWord() {
        guard !inWord else { return }
        inWord = true
        mayBeAssignment = words.isEmpty
        openBrace = nil
        braceHasSeparator = false
    }

    private mutating func finishWord() {
        guard inWord else { return }
        words.append(word)
        word = ""
        inWord = false
    }

    private mutating func finishStage(atPipe: Bool) throws(CommandError) {
        if words.isEmpty {
            if atPipe {
                if stages.isEmpty {
                    throw failure("the command line starts with '|' at character \(position): a command is missing before it")
                }
                throw failure("'|' at character \(position) follows another '|' with no command between them")
            }
            if let lastPipe {
                throw failure("the command line ends with '|' at character \(lastPipe + 1): a command is missing after it")
            }
            throw failure("the command line is empty")
        }
        stages.append(words)
        words = []
    }

    /// A character outside quotes that is not special on its own.
    private mutating func unquoted(_ character: Unicode.Scalar) throws(CommandError) {
        beginWord()
        switch character {
        case "=" where mayBeAssignment && !word.isEmpty:
            throw failure("'\(word)=' at character \(index - word.unicodeScalars.count + 1) would set an environment variable in a shell; that is not supported")
        case "{":
            openBrace = index
            braceHasSeparator = false
        case "," where openBrace != nil:
            braceHasSeparator = true
        case "." where openBrace != nil && next == ".":
            braceHasSeparator = true
        case "}":
            if let openBrace, braceHasSeparator {
                throw failure("'\(String(String.UnicodeScalarView(characters[openBrace...index])))' at character \(openBrace + 1) is a brace expansion in a shell, but nothing expands it here; quote it to pass it literally")
            }
        default:
            break
        }
        if mayBeAssignment, !(character == "_" || character.isASCIILetter || (character.isASCIIDigit && !word.isEmpty)) {
            mayBeAssignment = false
        }
        word.unicodeScalars.append(character)
        index += 1
    }

    /// A character that is literal because it is quoted or escaped.
    private mutating func appendLiteral(_ character: Unicode.Scalar) {
        beginWord()
        mayBeAssignment = false
        word.unicodeScalars.append(character)
    }

    // MARK: Quoting

    private mutating func backslash() throws(CommandError) {
        guard let escaped = next else {
            throw failure("the command line ends with a backslash at character \(position): there is nothing for it to escape")
        }
        if escaped == "\n" {
            // A line continuation: both characters disappear.
            index += 2
            return
        }
        appendLiteral(escaped)
        index += 2
    }

    private mutating func singleQuoted() throws(CommandError) {
        let start = index
        beginWord()
        mayBeAssignment = false
        index += 1
        while index < characters.count, characters[index] != "'" {
            word.unicodeScalars.append(characters[index])
            index += 1
        }
        guard index < characters.count else {
            index = start
            throw failure("the single quote at character \(position) is never closed")
        }
        index += 1
    }

    private mutating func doubleQuoted() throws(CommandError) {
        let start = index
        beginWord()
        mayBeAssignment = false
        index += 1
        while index < characters.count {
            let character = characters[index]
            switch character {
            case "\"":
                index += 1
                return
            case "\\":
                switch next {
                case let escaped? where "\"\\$`".unicodeScalars.contains(escaped):
                    word.unicodeScalars.append(escaped)
                    index += 2
                case "\n":
                    index += 2
                default:
                    // Inside double quotes, other backslashes are literal.
                    word.unicodeScalars.append(character)
                    index += 1
                }
            case "`":
                throw failure("command substitution with '`' at character \(position) is not supported (there is no shell); escape it as \\` to pass it literally")
            case "$":
                try dollar(quoted: true)
            default:
                word.unicodeScalars.append(character)
                index += 1
            }
        }
        index = start
        throw failure("the double quote at character \(position) is never closed")
    }

    /// `$` starts an expansion when a name, `{`, `(` or a special parameter
    /// follows; otherwise it is literal, as in a shell.
    private mutating func dollar(quoted: Bool) throws(CommandError) {
        let hint = quoted ? "escape it as \\$ or use single quotes" : "quote it with single quotes"
        switch next {
        case "(":
            throw failure("command substitution '$(' at character \(position) is not supported (there is no shell)")
        case "{":
            throw failure("parameter expansion '${' at character \(position) is not supported (there is no shell); \(hint) to pass it literally")
        case let quote? where !quoted && (quote == "'" || quote == "\""):
            throw failure("'$\(quote)' quoting at character \(position) is not supported; use plain single or double quotes")
        case let following? where following == "_" || following.isASCIILetter || following.isASCIIDigit
            || "@*#?$!-".unicodeScalars.contains(following):
            var name = String(following)
            if following == "_" || following.isASCIILetter {
                var cursor = index + 2
                while cursor < characters.count,
                      characters[cursor] == "_" || characters[cursor].isASCIILetter || characters[cursor].isASCIIDigit {
                    name.unicodeScalars.append(characters[cursor])
                    cursor += 1
                }
            }
            throw failure("variable expansion '$\(name)' at character \(position) is not supported (there is no shell); \(hint) to pass it literally")
        default:
            if quoted {
                word.unicodeScalars.append("$")
            } else {
                appendLiteral("$")
            }
            index += 1
        }
    }

    private func failure(_ message: String) -> CommandError {
        CommandError(code: .invalidCommandLine, message: message)
    }
}

extension Unicode.Scalar {
    fileprivate var isASCIILetter: Bool {
        ("a"..."z").contains(self) || ("A"..."Z").contains(self)
    }

    fileprivate var isASCIIDigit: Bool {
        ("0"..."9").contains(self)
    }
}
