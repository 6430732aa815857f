#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SystemSupport

/// A value set on top of every configuration file (a command-line flag, a test).
public struct ConfigOverride: Sendable, Hashable {
    public var section: String
    public var key: String
    /// The value as it would be written in a file (`$name` is substituted too).
    public var value: String
    /// Names the override in messages and in `config show`, e.g. `--log-level`.
    public var origin: String

    public init(section: String, key: String, value: String, origin: String = "override") {
        self.section = section
        self.key = key
        self.value = value
        self.origin = origin
    }

    /// Parses `section.key=value`, e.g. `mistral_actions.log_level=debug`.
    public init(parsing text: String, origin: String? = nil) throws(ConfigError) {
        let origin = origin ?? "override \(quoted(text))"
        guard let equal = text.firstIndex(of: "="), let dot = text[..<equal].firstIndex(of: ".") else {
            throw ConfigError(
                code: .syntax, message: "expected section.key=value, e.g. mistral_actions.log_level=debug",
                origin: origin)
        }
        let section = text[..<dot].pythonStripped()
        let key = text[text.index(after: dot)..<equal].pythonStripped()
        guard !section.isEmpty, !key.isEmpty else {
            throw ConfigError(
                code: .syntax, message: "expected section.key=value, e.g. mistral_actions.log_level=debug",
                origin: origin)
        }
        self.init(section: section, key: key, value: text[text.index(after: equal)...].pythonStripped(), origin: origin)
    }
}

/// Where an effective value came from.
public enum ValueOrigin: Sendable, Hashable, CustomStringConvertible {
    /// The option's declared default.
    case defaultValue
    /// A line of a configuration file.
    case file(ConfigLocation)
    /// A ``ConfigOverride``, named by its origin.
    case override(String)
    /// Computed from other options (explained).
    case computed(String)

    public var description: String {
        switch self {
        case .defaultValue: "default"
        case .file(let location): location.description
        case .override(let origin): origin
        case .computed(let explanation): "computed: \(explanation)"
        }
    }
}

/// The value one option has after loading, and where it came from.
public struct EffectiveValue: Sendable, Hashable {
    public var option: OptionDefinition
    /// The value after `$name` substitution; nil: unset.
    public var value: String?
    public var origin: ValueOrigin
    /// How the file spelled the option when that is a deprecated name.
    public var foundAs: OptionName?

    /// The value as it may be printed: secrets masked, `<None>` when unset.
    public var displayValue: String { SecretMasking.display(value, secrecy: option.secrecy) }
}

/// The result of loading: the typed configuration, the warnings to log, and
/// where every value came from (for `config show`).
public struct LoadedConfiguration: Sendable {
    public var configuration: Configuration
    /// Probable mistakes that do not stop the worker; log them at startup.
    public var warnings: [ConfigWarning]
    /// Every declared option, in table order.
    public var effectiveValues: [EffectiveValue]
    /// The files read, in order (directories expanded).
    public var files: [String]

    /// The effective value of one option.
    public func effectiveValue(section: String, name: String) -> EffectiveValue? {
        let wanted = ConfigFiles.normalized(section: section, name: name)
        return effectiveValues.first {
            ConfigFiles.normalized(section: $0.option.section, name: $0.option.name) == wanted
        }
    }
}

extension LoadedConfiguration {
    /// The effective configuration as INI text, each value preceded by where it
    /// came from (`path:line`, `default`, an override); what `config show` prints.
    /// Secrets are masked unless `revealingSecrets`; `$` is written `$$`, so
    /// the text reads back as the same configuration.
    public func renderEffectiveValues(revealingSecrets: Bool = false) -> String {
        var lines = ["# Effective configuration of mistral-actions."]
        if files.isEmpty {
            lines.append("# No configuration file was read.")
        } else {
            lines.append("# Files read, in order (later ones override earlier ones):")
            lines += files.map { "#   \($0)" }
        }
        if !revealingSecrets {
            lines.append("# Secrets are shown as \(SecretMasking.mask).")
        }
        var currentSection: String?
        for value in effectiveValues {
            if value.option.section != currentSection {
                currentSection = value.option.section
                lines += ["", "[\(value.option.section)]"]
            }
            var source = "# \(value.origin)"
            if let foundAs = value.foundAs { source += " (as \(foundAs))" }
            lines.append(source)
            // `$` is doubled so that the output reads back as the same values.
            let shown = (revealingSecrets ? value.value : value.displayValue)
                .map { replacingLiterally($0, "$", with: "$$") }
            guard let shown, value.value != nil else {
                lines.append("#\(value.option.name) = \(SecretMasking.unset)")
                continue
            }
            let valueLines = shown.split(separator: "\n", omittingEmptySubsequences: false)
            let first = valueLines.first.map(String.init) ?? ""
            lines.append(first.isEmpty ? "\(value.option.name) =" : "\(value.option.name) = \(first)")
            // Continuation lines, as the INI reader joins them.
            lines += valueLines.dropFirst().map { "    \($0)" }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
