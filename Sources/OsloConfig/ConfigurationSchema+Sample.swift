extension ConfigurationSchema {
    /// The command that rewrites `config/mistral-actions.conf.sample` from the table.
    public static let sampleRegenerationCommand =
        "MA_REGENERATE_SAMPLE=1 swift test --filter OsloConfigTests.SampleFileTests"

    /// A commented sample file in oslo's style: per section, each option's help,
    /// type and bounds, then `#key = default`. `config/mistral-actions.conf.sample`
    /// is this text; a test fails when the two differ.
    public func sampleFile() -> String {
        var lines: [String] = [
            "# Sample configuration of mistral-actions.",
            "#",
        ]
        lines += commentLines(
            """
            mistral-actions reads oslo-style INI files. Pass --config-file several \
            times: later files override earlier ones key by key. It reads Mistral's \
            own keys where Mistral has them, so the executors' mistral.conf is \
            enough; a second file can hold [mistral_actions] and any override. \
            Keys of mistral.conf that mistral-actions does not use are ignored.
            """)
        lines += ["#"]
        lines += commentLines(
            """
            Each option is shown commented out with its default. A # or ; starts \
            a comment only at the start of a line. Values may reference other \
            options as $name or ${section.name}; write $$ for a literal $.
            """)
        lines += ["#"]
        lines += commentLines(
            """
            Generated from the option table (OsloConfig, \
            ConfigurationSchema.standard.sampleFile()); do not edit by hand. \
            Regenerate with:
            """)
        lines.append("#   \(Self.sampleRegenerationCommand)")
        for section in sections {
            lines += ["", "[\(section.name)]", "", "#", "# From \(section.definedBy)", "#"]
            lines += commentLines(section.help)
            for option in section.options {
                lines.append("")
                lines += sampleLines(for: option)
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private func sampleLines(for option: OptionDefinition) -> [String] {
        var lines = commentLines("\(option.help) (\(option.type.sampleName))")
        switch option.type {
        case .integer(let min, let max):
            if let min { lines.append("# Minimum value: \(min)") }
            if let max { lines.append("# Maximum value: \(max)") }
        case .seconds(let min):
            if let min { lines.append("# Minimum value: \(min)") }
        case .float(let min, let max), .fractionalSeconds(let min, let max):
            if let min { lines.append("# Minimum value: \(formatNumber(min))") }
            if let max { lines.append("# Maximum value: \(formatNumber(max))") }
        case .duration(let min):
            if let min, min > .zero { lines.append("# Minimum value: \(formatDuration(min))") }
        case .choice(let choices, _):
            lines.append("# Allowed values: \(choices.joined(separator: ", "))")
        case .string, .boolean, .list, .url, .hostAddress, .listenAddress:
            break
        }
        if !option.deprecatedNames.isEmpty {
            lines.append("# Deprecated names: \(option.deprecatedNames.map(\.description).joined(separator: ", "))")
        }
        let shown = option.sampleDefault ?? option.defaultValue ?? SecretMasking.unset
        lines.append(shown.isEmpty ? "#\(option.name) =" : "#\(option.name) = \(shown)")
        return lines
    }
}

/// `text` wrapped into `# ` comment lines of at most 79 columns.
func commentLines(_ text: String, width: Int = 79) -> [String] {
    var lines: [String] = []
    var line = "#"
    for word in text.split(whereSeparator: \.isWhitespace) {
        if line.count + 1 + word.count > width, line != "#" {
            lines.append(line)
            line = "#"
        }
        line += " " + word
    }
    if line != "#" { lines.append(line) }
    return lines
}
