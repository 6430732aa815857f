import Foundation
import OsloConfig
import Testing

@Suite("The committed sample file")
struct SampleFileTests {
    /// config/mistral-actions.conf.sample, found from this file's path.
    static let samplePath = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // OsloConfigTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // package root
        .appendingPathComponent("config/mistral-actions.conf.sample").path

    @Test func isGeneratedFromTheOptionTable() throws {
        let generated = ConfigurationSchema.standard.sampleFile()
        if ProcessInfo.processInfo.environment["MA_REGENERATE_SAMPLE"] == "1" {
            try Data(generated.utf8).write(to: URL(fileURLWithPath: Self.samplePath))
        }
        guard let committed = try? String(contentsOfFile: Self.samplePath, encoding: .utf8) else {
            Issue.record("\(Self.samplePath) is missing. \(Self.instructions)")
            return
        }
        guard committed != generated else { return }
        let committedLines = committed.split(separator: "\n", omittingEmptySubsequences: false)
        let generatedLines = generated.split(separator: "\n", omittingEmptySubsequences: false)
        let first = zip(committedLines, generatedLines).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            ?? min(committedLines.count, generatedLines.count)
        func line(_ lines: [Substring]) -> String {
            first < lines.count ? "\"\(lines[first])\"" : "(end of file)"
        }
        Issue.record(
            """
            \(Self.samplePath) differs from the option table, first at line \(first + 1):
                committed: \(line(committedLines))
                generated: \(line(generatedLines))
            \(Self.instructions)
            """)
    }

    static let instructions = """
        If the table is right, regenerate the sample and commit it:
            \(ConfigurationSchema.sampleRegenerationCommand)
        """

    @Test func theSampleParsesAndAllItsValuesAreCommentedOut() throws {
        let sample = try IniFile.parse(ConfigurationSchema.standard.sampleFile(), path: "sample")
        #expect(sample.entries.isEmpty)
        #expect(sample.sectionHeaders.map(\.name) == ConfigurationSchema.standard.sections.map(\.name))
    }

    @Test func uncommentingEveryDefaultGivesTheDefaultConfiguration() throws {
        // Each `#key = value` line that shows a real default, uncommented.
        let lines = ConfigurationSchema.standard.sampleFile().split(separator: "\n", omittingEmptySubsequences: false)
            .map { line -> String in
                guard line.hasPrefix("#"), !line.hasPrefix("# "), line != "#", !line.contains("<") else {
                    return String(line)
                }
                return String(line.dropFirst())
            }
        let file = try IniFile.parse(lines.joined(separator: "\n"), path: "uncommented")
        #expect(!file.entries.isEmpty)
        let loaded = try Configuration.load(from: ConfigFiles([file]))
        #expect(loaded.configuration == Configuration())
    }

    @Test func commentsAreWrappedAt79Columns() {
        for line in ConfigurationSchema.standard.sampleFile().split(separator: "\n") where line.hasPrefix("# ") {
            #expect(line.count <= 79, "\(line)")
        }
    }
}
