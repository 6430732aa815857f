import Foundation
import OrderedJSON
import Testing

/// Every body in every capture was written by Python's `json.dumps` with
/// default arguments, at every nesting level (envelope, `oslo.message`, each
/// Mistral argument, `__serial_data`, ad-hoc `base_action`): parsing then
/// writing with `.python` must give back the exact text.
@Suite struct CaptureGoldenTests {
    @Test func capturesArePresent() throws {
        #expect(Captures.fileNames.count >= 10)
        #expect(try Captures.lines().count >= 200)
    }

    @Test func captureLinesRoundTrip() throws {
        for (file, line, text) in try Captures.lines() {
            let event = try JSON(parsing: text)
            #expect(try event.python() == text, "\(file):\(line)")
        }
    }

    @Test func everyEmbeddedJSONLevelRoundTrips() throws {
        var levels = [0, 0, 0, 0, 0, 0]
        for (file, line, text) in try Captures.lines() {
            let event = try JSON(parsing: text)
            let body = try #require(event["body"]?.stringValue)
            try checkRoundTrip(body, depth: 0, levels: &levels, location: "\(file):\(line)")
        }
        // Bodies, oslo.message, args/results, __serial_data, base_action, base __serial_data.
        #expect(levels[0] == 208)
        #expect(levels[1] == 208)
        #expect(levels[2] > 400)
        #expect(levels[3] > 70)
        #expect(levels[4] >= 4)
        #expect(levels[5] >= 4)
    }

    /// Parses `text`, checks that it re-encodes identically, and recurses into
    /// string values that hold JSON containers or JSON strings.
    private func checkRoundTrip(_ text: String, depth: Int, levels: inout [Int], location: String) throws {
        let value = try JSON(parsing: text)
        #expect(try value.python() == text, "\(location) level \(depth)")
        levels[min(depth, levels.count - 1)] += 1
        var strings: [String] = []
        collectStrings(value, into: &strings)
        for string in strings {
            guard let first = string.utf8.first, first == UInt8(ascii: "{") || first == UInt8(ascii: "[") || first == UInt8(ascii: "\"") else {
                continue
            }
            // Some strings only look like JSON ("[action=...]").
            guard (try? JSON(parsing: string)) != nil else { continue }
            try checkRoundTrip(string, depth: depth + 1, levels: &levels, location: location)
        }
    }

    private func collectStrings(_ value: JSON, into strings: inout [String]) {
        switch value {
        case .string(let string): strings.append(string)
        case .array(let elements): elements.forEach { collectStrings($0, into: &strings) }
        case .object(let object): object.forEach { collectStrings($0.value, into: &strings) }
        default: break
        }
    }
}
