#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SystemSupport

/// Where a value is, for messages.
struct ValueContext: Sendable {
    var location: ConfigLocation?
    var origin: String?
    var section: String
    var key: String
    var value: String?
    var secrecy: Secrecy

    func error(_ code: ConfigError.Code, _ message: String) -> ConfigError {
        ConfigError(
            code: code, message: message, file: location?.path, line: location?.line,
            origin: location == nil ? origin : nil, section: section, key: key,
            value: value.map { SecretMasking.display($0, secrecy: secrecy) })
    }
}

/// Finds each option's raw value (override, then files latest first, then
/// default) and substitutes `$name` references as oslo.config does.
struct OptionResolver {
    let schema: ConfigurationSchema
    let files: ConfigFiles
    let overrides: [OptionName: ConfigOverride]

    func resolve(_ option: OptionDefinition) throws(ConfigError) -> (EffectiveValue, ValueContext) {
        try resolve(option, visiting: [])
    }

    private func resolve(_ option: OptionDefinition, visiting: [OptionName]) throws(ConfigError)
        -> (EffectiveValue, ValueContext)
    {
        let name = ConfigFiles.normalized(section: option.section, name: option.name)
        var effective = EffectiveValue(option: option, value: option.defaultValue, origin: .defaultValue)
        var context = ValueContext(
            origin: "default", section: option.section, key: option.name, value: option.defaultValue,
            secrecy: option.secrecy)
        if let override = overrides[name] {
            effective.value = override.value
            effective.origin = .override(override.origin)
            context.origin = override.origin
            context.value = override.value
        } else if let found = files.find([option.optionName] + option.deprecatedNames) {
            let entry = found.entry
            effective.value = entry.value
            effective.origin = .file(entry.location)
            if found.matched != option.optionName {
                effective.foundAs = OptionName(section: entry.section, name: entry.key)
            }
            context = ValueContext(
                location: entry.location, section: entry.section, key: entry.key, value: entry.value,
                secrecy: option.secrecy)
        }
        if let text = effective.value {
            effective.value = try substitute(text, section: option.section, context: context, visiting: visiting + [name])
        }
        return (effective, context)
    }

    /// oslo.config's `string.Template.safe_substitute`: `$$` and `\$` are a
    /// literal `$`; `$name` and `${name}` (letters, digits, `_`, `.`) are
    /// replaced; a `$` not followed by a name stays. An unknown name is an
    /// error, as in oslo.
    private func substitute(_ text: String, section: String, context: ValueContext, visiting: [OptionName])
        throws(ConfigError) -> String
    {
        guard text.contains("$") else { return text }
        let scalars = Array(replacingLiterally(text, "\\$", with: "$$").unicodeScalars)
        func isNameStart(_ scalar: Unicode.Scalar) -> Bool {
            scalar == "_" || (scalar.isASCII && scalar.properties.isAlphabetic)
        }
        func isNameCharacter(_ scalar: Unicode.Scalar) -> Bool {
            isNameStart(scalar) || scalar == "." || ("0"..."9").contains(scalar)
        }
        var result = String.UnicodeScalarView()
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            guard scalar == "$", index + 1 < scalars.count else {
                result.append(scalar)
                index += 1
                continue
            }
            let next = scalars[index + 1]
            if next == "$" {
                result.append("$")
                index += 2
                continue
            }
            var reference: String?
            var end = index + 1
            if isNameStart(next) {
                while end < scalars.count, isNameCharacter(scalars[end]) { end += 1 }
                reference = String(String.UnicodeScalarView(scalars[(index + 1)..<end]))
            } else if next == "{", index + 2 < scalars.count, isNameStart(scalars[index + 2]) {
                var close = index + 2
                while close < scalars.count, isNameCharacter(scalars[close]) { close += 1 }
                if close < scalars.count, scalars[close] == "}" {
                    reference = String(String.UnicodeScalarView(scalars[(index + 2)..<close]))
                    end = close + 1
                }
            }
            guard let reference else {
                result.append(scalar)
                index += 1
                continue
            }
            let value = try lookUp(reference, section: section, context: context, visiting: visiting)
            result.append(contentsOf: value.unicodeScalars)
            index = end
        }
        return String(result)
    }

    /// oslo's `StrSubWrapper`: `group.option` first, else the option in the
    /// current section, else in DEFAULT. Declared options give their effective
    /// value; options only present in a file (Mistral's) give that value.
    private func lookUp(_ reference: String, section: String, context: ValueContext, visiting: [OptionName])
        throws(ConfigError) -> String
    {
        var candidates: [OptionName] = []
        if let dot = reference.firstIndex(of: ".") {
            candidates.append(
                OptionName(section: String(reference[..<dot]), name: String(reference[reference.index(after: dot)...])))
        } else {
            candidates.append(OptionName(section: section, name: reference))
        }
        candidates.append(OptionName(section: "DEFAULT", name: reference))
        for candidate in candidates {
            let name = ConfigFiles.normalized(section: candidate.section, name: candidate.name)
            if visiting.contains(name) {
                throw context.error(
                    .substitution, "$\(reference) leads back to itself (a reference cycle); write $$ for a literal $")
            }
            if let option = schema.option(section: candidate.section, name: candidate.name) {
                return try resolve(option, visiting: visiting).0.value ?? ""
            }
            if let entry = files.value(section: candidate.section, key: candidate.name) {
                let nested = ValueContext(
                    location: entry.location, section: entry.section, key: entry.key, value: entry.value,
                    secrecy: context.secrecy)
                return try substitute(entry.value, section: candidate.section, context: nested, visiting: visiting + [name])
            }
        }
        throw context.error(
            .substitution,
            "$\(reference) names no option that is set or known (oslo.config substitutes $name in values; "
                + "write $$ for a literal $)")
    }
}
