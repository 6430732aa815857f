/// A place in a configuration file: the path and the 1-based line number.
public struct ConfigLocation: Sendable, Hashable, CustomStringConvertible {
    /// The path of the file as it was given (not resolved).
    public var path: String
    /// The 1-based line number.
    public var line: Int

    public init(path: String, line: Int) {
        self.path = path
        self.line = line
    }

    /// `path:line`, the form compilers and editors understand.
    public var description: String { "\(path):\(line)" }
}

/// Why a configuration could not be read: a missing file, a syntax error, a
/// value of the wrong type, or values that contradict each other.
///
/// The description names everything an operator needs to fix it, e.g.
/// `/etc/mistral/mistral.conf:12: [oslo_messaging_rabbit] heartbeat_rate = "x": expected an integer`.
/// Values of secret options are masked.
public struct ConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of problem. New codes may be added; switch with a `default`.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case unreadableFile = "unreadable file"
            case syntax = "syntax error"
            case invalidValue = "invalid value"
            case unknownOption = "unknown option"
            case substitution = "substitution error"
            case inconsistentValues = "inconsistent values"
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A file or directory is missing, unreadable, or not UTF-8.
        public static let unreadableFile = Code(.unreadableFile)
        /// A line is not `key = value`, `[section]`, a comment or a continuation.
        public static let syntax = Code(.syntax)
        /// A value does not parse as its option's type or is out of range.
        public static let invalidValue = Code(.invalidValue)
        /// An override names an option that is not declared.
        public static let unknownOption = Code(.unknownOption)
        /// A `$name` reference names no option, or references form a cycle.
        public static let substitution = Code(.substitution)
        /// Each value is fine alone but they contradict each other.
        public static let inconsistentValues = Code(.inconsistentValues)

        public var description: String { base.rawValue }
    }

    public var code: Code
    /// What is wrong and, where it helps, what was expected.
    public var message: String
    /// The file the problem is in, if it comes from a file.
    public var file: String?
    /// The 1-based line in `file`, if known.
    public var line: Int?
    /// Where a value came from when not from a file: `default`, an override.
    public var origin: String?
    /// The section of the offending option, as written.
    public var section: String?
    /// The offending key, as written.
    public var key: String?
    /// The offending value as found (masked for secret options).
    public var value: String?

    public init(
        code: Code,
        message: String,
        file: String? = nil,
        line: Int? = nil,
        origin: String? = nil,
        section: String? = nil,
        key: String? = nil,
        value: String? = nil
    ) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
        self.origin = origin
        self.section = section
        self.key = key
        self.value = value
    }

    public var description: String {
        var text = ""
        if let file {
            text += line.map { "\(file):\($0): " } ?? "\(file): "
        } else if let origin {
            text += "\(origin): "
        }
        if let key {
            if let section { text += "[\(section)] " }
            text += key
            if let value { text += " = \(quoted(value))" }
            text += ": "
        }
        return text + message
    }
}

/// Something in the configuration that is probably a mistake but does not
/// stop the worker: an unknown key in `[mistral_actions]`, a deprecated name,
/// a section header that oslo would not match.
public struct ConfigWarning: Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public var location: ConfigLocation?
    public var section: String?
    public var key: String?

    public init(message: String, location: ConfigLocation? = nil, section: String? = nil, key: String? = nil) {
        self.message = message
        self.location = location
        self.section = section
        self.key = key
    }

    public var description: String {
        var text = location.map { "\($0): " } ?? ""
        if let key {
            if let section { text += "[\(section)] " }
            text += "\(key): "
        }
        return text + message
    }
}

/// Double-quotes a value for a message, escaping what would make it ambiguous.
func quoted(_ text: some StringProtocol) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": result += "\\\""
        case "\\": result += "\\\\"
        case "\n": result += "\\n"
        case "\t": result += "\\t"
        case "\r": result += "\\r"
        default: result.unicodeScalars.append(scalar)
        }
    }
    return result + "\""
}
