import Foundation
import OrderedJSON

/// The capture files (one JSON event per line) kept as fixtures of the
/// OsloMessaging tests; read here through the source tree.
enum Captures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()
        .deletingLastPathComponent()
        .appendingPathComponent("OsloMessagingTests/Fixtures")

    static var fileNames: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasSuffix(".jsonl") }
            .sorted()
    }

    /// Every line of every capture file, with its file name and line number.
    static func lines() throws -> [(file: String, line: Int, text: String)] {
        var result: [(String, Int, String)] = []
        for name in fileNames {
            let text = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
                result.append((name, number + 1, String(line)))
            }
        }
        return result
    }
}

/// A small deterministic generator (SplitMix64) so that randomized tests are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension JSON {
    func python() throws -> String { try encodedString(style: .python) }
    func compact() throws -> String { try encodedString(style: .compact) }
}

/// Parses `text`, returning the error (or nil if it parsed).
func parseError(_ text: String, options: JSONParsingOptions = JSONParsingOptions()) -> JSONError? {
    parseError(Array(text.utf8), options: options)
}

func parseError(_ bytes: [UInt8], options: JSONParsingOptions = JSONParsingOptions()) -> JSONError? {
    do {
        _ = try JSON(parsing: bytes, options: options)
        return nil
    } catch {
        return error
    }
}
