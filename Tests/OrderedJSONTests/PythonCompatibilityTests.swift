import OrderedJSON
import Testing

/// What Python's `json.loads` reads beyond RFC 8259 must be readable with
/// `JSONParsingOptions.python`, so that the worker never refuses a message
/// that Python's executor would take.
@Suite("Reading JSON as Python does")
struct PythonCompatibilityTests {
    @Test("NaN, Infinity and -Infinity are read as the non-finite doubles Python makes of them")
    func nonFiniteTokens() throws {
        let value = try JSON(parsing: #"{"a": NaN, "b": Infinity, "c": -Infinity, "d": [NaN, -Infinity]}"#, options: .python)
        #expect(value["a"]?.doubleValue?.isNaN == true)
        #expect(value["b"] == .double(.infinity))
        #expect(value["c"] == .double(-.infinity))
        #expect(value["d"]?.arrayValue?.count == 2)
    }

    @Test("the strict default still refuses them", arguments: ["NaN", "Infinity", "-Infinity", "1e400"])
    func strictByDefault(text: String) {
        #expect(throws: JSONError.self) { try JSON(parsing: text) }
    }

    @Test("numbers past the Double range are infinite, as Python's float reads them", arguments: [
        ("1e400", Double.infinity), ("-1e400", -.infinity), ("1" + String(repeating: "0", count: 400), .infinity),
    ])
    func pastDoubleRange(text: String, expected: Double) throws {
        #expect(try JSON(parsing: text, options: .python) == .double(expected))
    }

    @Test("integers beyond 64 bits are kept as doubles", arguments: ["18446744073709551616", "-9223372036854775809"])
    func bigIntegers(text: String) throws {
        let value = try JSON(parsing: text, options: .python)
        #expect(value.int64Value == nil)
        #expect(value.doubleValue.map { abs($0) > 9e18 } == true)
    }

    @Test("a lone surrogate becomes U+FFFD instead of an error")
    func loneSurrogate() throws {
        #expect(try JSON(parsing: #"["\ud800x"]"#, options: .python) == ["\u{FFFD}x"])
        #expect(throws: JSONError.self) { try JSON(parsing: #"["\ud800x"]"#) }
    }

    @Test("a repeated key keeps its last value, as Python's dict does")
    func duplicateKeys() throws {
        #expect(try JSON(parsing: #"{"k": 1, "k": 2}"#, options: .python) == ["k": 2])
    }

    @Test("tokens that only look like the Python constants are still errors", arguments: ["Nan", "Inf", "-Inf", "NaNa", "Infinityy", "-", "+Infinity"])
    func nearMisses(text: String) {
        #expect(throws: JSONError.self) { try JSON(parsing: text, options: .python) }
    }

    @Test("what the Python style writes, the Python options read back")
    func roundTrip() throws {
        let value: JSON = ["x": .double(.infinity), "y": [.double(-.infinity), 1, "s"]]
        let text = try value.python()
        #expect(text == #"{"x": Infinity, "y": [-Infinity, 1, "s"]}"#)
        #expect(try JSON(parsing: text, options: .python) == value)
    }
}
