import OrderedJSON
import Testing

@Suite struct WriterTests {
    /// Expected outputs produced by CPython 3.11 `json.dumps(value)` and
    /// `json.dumps(value, ensure_ascii=False, separators=(",", ":"))`.
    @Test(arguments: [
        ("", #""""#, #""""#),
        ("plain", #""plain""#, #""plain""#),
        ("quote\" back\\ slash/", #""quote\" back\\ slash/""#, #""quote\" back\\ slash/""#),
        (
            "ctl \u{08}\u{0C}\n\r\t \u{00} \u{01} \u{1F} \u{7F}",
            #""ctl \b\f\n\r\t \u0000 \u0001 \u001f \u007f""#,
            "\"ctl \\b\\f\\n\\r\\t \\u0000 \\u0001 \\u001f \u{7F}\""
        ),
        (
            "café € 😀 中文 \u{FFFF} \u{10FFFF}",
            #""caf\u00e9 \u20ac \ud83d\ude00 \u4e2d\u6587 \uffff \udbff\udfff""#,
            "\"café € 😀 中文 \u{FFFF} \u{10FFFF}\""
        ),
    ])
    func strings(input: String, python: String, compact: String) throws {
        #expect(try JSON.string(input).python() == python)
        #expect(try JSON.string(input).compact() == compact)
        #expect(try JSON(parsing: python) == .string(input))
        #expect(try JSON(parsing: compact) == .string(input))
    }

    @Test func structuresInBothStyles() throws {
        let value: JSON = [
            "a": [1, 2.5, nil, true, false, [:], []],
            "b": ["c": "d"],
            "e": -0.0,
            "f": 1e16,
            "g": .integer(.min),
        ]
        #expect(try value.python() == #"{"a": [1, 2.5, null, true, false, {}, []], "b": {"c": "d"}, "e": -0.0, "f": 1e+16, "g": -9223372036854775808}"#)
        #expect(try value.compact() == #"{"a":[1,2.5,null,true,false,{},[]],"b":{"c":"d"},"e":-0.0,"f":1e+16,"g":-9223372036854775808}"#)
        #expect(value.description == (try value.compact()))
    }

    @Test func integers() throws {
        for number: Int64 in [0, 1, 9, 10, -1, -9, -10, 123_456_789, .max, .min] {
            #expect(try JSON.integer(number).python() == String(number))
        }
    }

    @Test func floatsMatchPythonRepr() throws {
        var checked = 0
        for line in pythonFloatGoldensText.split(separator: "\n") {
            let parts = line.split(separator: " ")
            let bits = try #require(UInt64(parts[0], radix: 16))
            let value = Double(bitPattern: bits)
            let expected = String(parts[1])
            #expect(try JSON.double(value).python() == expected, "\(value)")
            #expect(try JSON.double(value).compact() == expected, "\(value)")
            // And the text parses back to the same double.
            #expect(try JSON(parsing: expected).doubleValue?.bitPattern == bits, "\(expected)")
            checked += 1
        }
        #expect(checked > 2_500)
    }

    @Test func floatLayoutRules() throws {
        let cases: [(Double, String)] = [
            (0.0, "0.0"), (-0.0, "-0.0"), (1.0, "1.0"), (100.0, "100.0"), (0.5, "0.5"),
            (1e15, "1000000000000000.0"), (1e16, "1e+16"), (1.5e16, "1.5e+16"),
            (9_999_999_999_999_998.0, "9999999999999998.0"), (1e17, "1e+17"),
            (0.0001, "0.0001"), (0.00001, "1e-05"), (1.5e-5, "1.5e-05"), (1e-7, "1e-07"),
            (1e100, "1e+100"), (1e-100, "1e-100"), (Double.leastNonzeroMagnitude, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"), (123.456, "123.456"),
            (0.1 + 0.2, "0.30000000000000004"), (-2.5, "-2.5"), (1e22, "1e+22"),
        ]
        for (value, expected) in cases {
            #expect(try JSON.double(value).python() == expected, "\(value)")
        }
    }

    @Test("NaN and infinities are written as Python's json.dumps writes them, and refused in the compact style", arguments: [
        (Double.nan, "[NaN]"), (.infinity, "[Infinity]"), (-.infinity, "[-Infinity]"),
    ])
    func nonFiniteNumbers(value: Double, python: String) throws {
        #expect(try JSON.array([.double(value)]).python() == python)
        do {
            _ = try JSON.double(value).encoded()
            Issue.record("\(value) written in the compact style")
        } catch {
            #expect(error.code == .nonFiniteNumber)
        }
    }

    @Test func writerDepthLimit() throws {
        var value: JSON = 1
        for _ in 0..<JSONParsingOptions.defaultMaximumDepth {
            value = [value]
        }
        #expect(throws: Never.self) { try value.encoded() }
        let tooDeep: JSON = [value]
        #expect(throws: JSONError.self) { try tooDeep.encoded() }
    }

    @Test func writerStringsFromBytes() {
        var writer = JSONWriter(style: .python)
        writer.writeRaw("{\"k\": ")
        writer.writeString(utf8: Array(#"{"x": "é"}"#.utf8))
        writer.writeRaw("}")
        #expect(String(decoding: writer.bytes, as: UTF8.self) == #"{"k": "{\"x\": \"\u00e9\"}"}"#)

        var lenient = JSONWriter(style: .python)
        lenient.writeString(utf8: [0x61, 0xFF, 0xC3])  // ill-formed input does not crash
        #expect(String(decoding: lenient.bytes, as: UTF8.self) == #""a\ufffd\ufffd""#)
    }

    @Test func randomValuesRoundTrip() throws {
        var generator = SeededGenerator(seed: 99)
        for _ in 0..<300 {
            let value = randomJSON(depth: 0, using: &generator)
            for style in [JSONStyle.python, .compact] {
                let text = try value.encoded(style: style)
                let parsed = try JSON(parsing: text)
                #expect(parsed.isIdentical(to: value))
                #expect(try parsed.encoded(style: style) == text)
            }
        }
    }

    private func randomJSON(depth: Int, using generator: inout SeededGenerator) -> JSON {
        let choice = Int.random(in: 0..<(depth > 4 ? 5 : 7), using: &generator)
        switch choice {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &generator))
        case 2: return .integer(Int64.random(in: .min ... .max, using: &generator) >> Int64.random(in: 0...63, using: &generator))
        case 3:
            let double = Double(bitPattern: generator.next())
            return .double(double.isFinite ? double : 0.5)
        case 4:
            let alphabet: [Character] = ["a", "Z", "0", " ", "\"", "\\", "\n", "\u{01}", "\u{7F}", "é", "€", "😀", "中", "/"]
            return .string(String((0..<Int.random(in: 0...12, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }))
        case 5:
            return .array((0..<Int.random(in: 0...5, using: &generator)).map { _ in randomJSON(depth: depth + 1, using: &generator) })
        default:
            var object = JSONObject()
            for index in 0..<Int.random(in: 0...20, using: &generator) {
                object["k\(index)-\(Int.random(in: 0...1000, using: &generator))"] = randomJSON(depth: depth + 1, using: &generator)
            }
            return .object(object)
        }
    }
}
