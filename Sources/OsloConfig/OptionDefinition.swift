/// The type of an option's value, which decides how its text is parsed and
/// how the sample file describes it.
public enum OptionType: Sendable, Hashable {
    /// Any text.
    case string
    /// oslo's Boolean (``OsloValue/boolean(_:)``).
    case boolean
    /// oslo's Integer with inclusive bounds.
    case integer(min: Int?, max: Int?)
    /// oslo's Float with inclusive bounds.
    case float(min: Double?, max: Double?)
    /// An oslo integer option counting seconds; read as a `Duration`.
    case seconds(min: Int?)
    /// An oslo float option counting seconds; read as a `Duration`.
    case fractionalSeconds(min: Double?, max: Double?)
    /// This project's duration (`30`, `30s`, `250ms`, `5m`, `1h`).
    case duration(min: Duration?)
    /// oslo's ListOpt of strings.
    case list
    /// oslo's String with `choices`.
    case choice([String], ignoreCase: Bool)
    /// A URL with a scheme.
    case url
    /// oslo's HostAddress.
    case hostAddress
    /// `host:port`, or empty for "off".
    case listenAddress

    /// Checks that `text` parses as this type.
    public func validate(_ text: String) throws(InvalidValue) {
        _ = try parse(text)
    }

    /// Parses `text` as this type.
    func parse(_ text: String) throws(InvalidValue) -> ParsedValue {
        switch self {
        case .string: .string(text)
        case .boolean: .boolean(try OsloValue.boolean(text))
        case .integer(let min, let max): .integer(try OsloValue.integer(text, min: min, max: max))
        case .float(let min, let max): .number(try OsloValue.float(text, min: min, max: max))
        case .seconds(let min): .duration(try OsloValue.seconds(text, min: min))
        case .fractionalSeconds(let min, let max): .duration(try OsloValue.fractionalSeconds(text, min: min, max: max))
        case .duration(let min): .duration(try OsloValue.duration(text, min: min))
        case .list: .list(OsloValue.list(text))
        case .choice(let choices, let ignoreCase): .string(try OsloValue.choice(text, in: choices, ignoreCase: ignoreCase))
        case .url: .string(try OsloValue.url(text))
        case .hostAddress: .string(try OsloValue.hostAddress(text))
        case .listenAddress: .listenAddress(try OsloValue.listenAddress(text))
        }
    }

    /// The type as oslo's sample generator names it, e.g. `integer value`.
    public var sampleName: String {
        switch self {
        case .string, .choice: "string value"
        case .boolean: "boolean value"
        case .integer: "integer value"
        case .float: "floating point value"
        case .seconds: "integer value, seconds"
        case .fractionalSeconds: "floating point value, seconds"
        case .duration: "duration: 30, 30s, 250ms, 5m, 1h"
        case .list: "list value"
        case .url: "URL"
        case .hostAddress: "host address value"
        case .listenAddress: "host:port, or empty"
        }
    }
}

/// A parsed option value; which case depends on the ``OptionType``.
enum ParsedValue: Sendable, Hashable {
    case string(String)
    case boolean(Bool)
    case integer(Int)
    case number(Double)
    case duration(Duration)
    case list([String])
    case listenAddress(ListenAddress?)
}

/// How an option's value is shown in `config show` output, warnings and errors.
public enum Secrecy: Sendable, Hashable {
    /// Shown as is.
    case none
    /// Shown as `****` (passwords).
    case whole
    /// A URL whose passwords are shown as `****`; user, hosts and path stay
    /// visible (`transport_url`, `[database] connection`).
    case urlCredentials
}

/// A declared option: where it lives, its type, its default and its help.
/// The table of all of them is ``ConfigurationSchema/standard``; the sample
/// file and `config show` are generated from it.
public struct OptionDefinition: Sendable, Hashable {
    /// The section, exactly as the sample writes it.
    public var section: String
    /// The key.
    public var name: String
    public var type: OptionType
    /// The default as it would be written in a file; nil is oslo's None (unset).
    public var defaultValue: String?
    /// What the sample shows instead of the default when the default is
    /// computed from other options.
    public var sampleDefault: String?
    /// What the option does, in a few sentences; the sample wraps it.
    public var help: String
    public var secrecy: Secrecy
    /// Older spellings oslo still reads, in lookup order after the current one.
    public var deprecatedNames: [OptionName]

    /// The option's `[section] name`.
    public var optionName: OptionName { OptionName(section: section, name: name) }

    public init(
        section: String,
        name: String,
        type: OptionType,
        defaultValue: String?,
        sampleDefault: String? = nil,
        help: String,
        secrecy: Secrecy = .none,
        deprecatedNames: [OptionName] = []
    ) {
        self.section = section
        self.name = name
        self.type = type
        self.defaultValue = defaultValue
        self.sampleDefault = sampleDefault
        self.help = help
        self.secrecy = secrecy
        self.deprecatedNames = deprecatedNames
    }
}

/// A section of the configuration and the options declared in it.
public struct SectionDefinition: Sendable, Hashable {
    public var name: String
    /// Who defines the section's options (`oslo.messaging`, `Mistral`, `mistral-actions`…).
    public var definedBy: String
    /// Shown above the section in the sample.
    public var help: String
    /// True for this project's own section: unknown keys there are reported as
    /// warnings. Unknown keys elsewhere are ignored (mistral.conf has many).
    public var isOwnSection: Bool
    public var options: [OptionDefinition]

    /// Options are declared without a section; this sets it. A deprecated name
    /// with an empty section or key means "same as the current one".
    public init(name: String, definedBy: String, help: String, isOwnSection: Bool = false, options: [OptionDefinition]) {
        self.name = name
        self.definedBy = definedBy
        self.help = help
        self.isOwnSection = isOwnSection
        self.options = options.map { option in
            var option = option
            option.section = name
            option.deprecatedNames = option.deprecatedNames.map { deprecated in
                OptionName(
                    section: deprecated.section.isEmpty ? name : deprecated.section,
                    name: deprecated.name.isEmpty ? option.name : deprecated.name)
            }
            return option
        }
    }
}

/// Every option the worker reads, grouped by section, in sample order.
public struct ConfigurationSchema: Sendable, Hashable {
    public var sections: [SectionDefinition]

    public init(sections: [SectionDefinition]) {
        self.sections = sections
    }

    /// All options, in section order.
    public var options: [OptionDefinition] { sections.flatMap(\.options) }

    /// The option with that section and name (section matched as oslo matches it).
    public func option(section: String, name: String) -> OptionDefinition? {
        let wanted = ConfigFiles.normalized(section: section)
        return options.first { ConfigFiles.normalized(section: $0.section) == wanted && $0.name == name }
    }

    /// The section with that name (matched as oslo matches it).
    public func section(named name: String) -> SectionDefinition? {
        let wanted = ConfigFiles.normalized(section: name)
        return sections.first { ConfigFiles.normalized(section: $0.name) == wanted }
    }
}

// Builders that keep the table in ConfigurationSchema+Standard.swift short.
extension OptionDefinition {
    static func string(
        _ name: String, default defaultValue: String?, secrecy: Secrecy = .none,
        deprecated: [OptionName] = [], help: String
    ) -> OptionDefinition {
        OptionDefinition(
            section: "", name: name, type: .string, defaultValue: defaultValue, help: help, secrecy: secrecy,
            deprecatedNames: deprecated)
    }

    static func boolean(_ name: String, default defaultValue: Bool, deprecated: [OptionName] = [], help: String)
        -> OptionDefinition
    {
        OptionDefinition(
            section: "", name: name, type: .boolean, defaultValue: defaultValue ? "true" : "false", help: help,
            deprecatedNames: deprecated)
    }

    static func integer(
        _ name: String, default defaultValue: Int?, min: Int? = nil, max: Int? = nil,
        sampleDefault: String? = nil, deprecated: [OptionName] = [], help: String
    ) -> OptionDefinition {
        OptionDefinition(
            section: "", name: name, type: .integer(min: min, max: max), defaultValue: defaultValue.map(String.init),
            sampleDefault: sampleDefault, help: help, deprecatedNames: deprecated)
    }

    static func seconds(
        _ name: String, default defaultValue: Int, min: Int? = nil, deprecated: [OptionName] = [], help: String
    ) -> OptionDefinition {
        OptionDefinition(
            section: "", name: name, type: .seconds(min: min), defaultValue: String(defaultValue), help: help,
            deprecatedNames: deprecated)
    }

    static func duration(_ name: String, default defaultValue: String, min: Duration? = nil, help: String)
        -> OptionDefinition
    {
        OptionDefinition(section: "", name: name, type: .duration(min: min), defaultValue: defaultValue, help: help)
    }

    static func choice(
        _ name: String, default defaultValue: String, choices: [String], ignoreCase: Bool = false,
        deprecated: [OptionName] = [], help: String
    ) -> OptionDefinition {
        OptionDefinition(
            section: "", name: name, type: .choice(choices, ignoreCase: ignoreCase), defaultValue: defaultValue,
            help: help, deprecatedNames: deprecated)
    }
}
