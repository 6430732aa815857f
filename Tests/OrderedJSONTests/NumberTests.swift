import OrderedJSON
import Testing

@Suite struct NumberTests {
    @Test func integersThatFitStayIntegers() throws {
        #expect(try JSON(parsing: "9223372036854775807") == .integer(.max))
        #expect(try JSON(parsing: "-9223372036854775808") == .integer(.min))
        #expect(try JSON(parsing: "-0") == .integer(0))
        #expect(try JSON(parsing: "1000000000000000000") == .integer(1_000_000_000_000_000_000))
        #expect(try JSON(parsing: "[0, 7, -7, 42]") == [0, 7, -7, 42])
    }

    @Test func integersBeyondInt64BecomeDoubles() throws {
        #expect(try JSON(parsing: "9223372036854775808") == .double(9_223_372_036_854_775_808.0))
        #expect(try JSON(parsing: "-9223372036854775809") == .double(-9_223_372_036_854_775_809.0))
        #expect(try JSON(parsing: "18446744073709551616") == .double(18_446_744_073_709_551_616.0))
        #expect(try JSON(parsing: "123456789012345678901234567890") == .double(1.2345678901234568e29))
    }

    @Test func fractionsAndExponentsAreDoubles() throws {
        #expect(try JSON(parsing: "1.0") == .double(1.0))
        #expect(try JSON(parsing: "1e2") == .double(100))
        #expect(try JSON(parsing: "1E+2") == .double(100))
        #expect(try JSON(parsing: "-1.5e-3") == .double(-0.0015))
        #expect(try JSON(parsing: "0.1") == .double(0.1))
        #expect(try JSON(parsing: "0e0") == .double(0))
        #expect(try JSON(parsing: "-0.0").doubleValue?.sign == .minus)
        #expect(try JSON(parsing: "0.000001") == .double(0.000001))
        #expect(try JSON(parsing: "1e-400") == .double(0))
        #expect(try JSON(parsing: "2.2250738585072011e-308") == .double(Double.leastNormalMagnitude.nextDown))
        #expect(try JSON(parsing: "1.7976931348623157e308") == .double(.greatestFiniteMagnitude))
        #expect(try JSON(parsing: "4.9406564584124654e-324") == .double(.leastNonzeroMagnitude))
        #expect(try JSON(parsing: "0.30000000000000004") == .double(0.1 + 0.2))
        #expect(try JSON(parsing: "9007199254740993") == .integer(9_007_199_254_740_993))
        #expect(try JSON(parsing: "9007199254740993.0") == .double(9_007_199_254_740_992))
        #expect(try JSON(parsing: "1" + String(repeating: "0", count: 400) + "e-400") == .double(1))
        #expect(try JSON(parsing: "0." + String(repeating: "0", count: 400) + "1e400") == .double(0.1))
    }

    @Test func outOfRangeIsAnError() throws {
        #expect(parseError("1e400")?.code == .numberOutOfRange)
        #expect(parseError("-1e309")?.code == .numberOutOfRange)
        #expect(parseError("1" + String(repeating: "0", count: 400))?.code == .numberOutOfRange)
        #expect(parseError("1e99999999999999999999")?.code == .numberOutOfRange)
        #expect(try JSON(parsing: "1e-99999999999999999999") == .double(0))
    }

    @Test(arguments: [
        ("01", 1), ("-01", 2), ("00", 1), ("1.", 2), (".5", 0), ("-", 1), ("-a", 1), ("1e", 2), ("1e+", 3),
        ("1.e3", 2), ("+1", 0), ("0x10", 1), ("1.5.2", 3), ("--1", 1), ("[1.]", 3),
    ])
    func malformedNumbers(text: String, offset: Int) {
        let error = parseError(text)
        #expect(error != nil, "\(text)")
        #expect(error?.offset == offset, "\(text): \(String(describing: error))")
    }

    /// The fast path (exact mantissa × exact power of ten) and the fallback
    /// must agree with the C library's correctly rounded conversion.
    @Test func parsingAgreesWithCorrectlyRoundedConversion() throws {
        var generator = SeededGenerator(seed: 7)
        for _ in 0..<20_000 {
            let integerDigits = Int.random(in: 1...20, using: &generator)
            var text = Bool.random(using: &generator) ? "-" : ""
            text += String(Int.random(in: 1...9, using: &generator))
            for _ in 1..<integerDigits { text += String(Int.random(in: 0...9, using: &generator)) }
            if Bool.random(using: &generator) {
                text += "."
                for _ in 0..<Int.random(in: 1...20, using: &generator) { text += String(Int.random(in: 0...9, using: &generator)) }
            }
            if Int.random(in: 0..<3, using: &generator) == 0 {
                text += "e" + String(Int.random(in: -320...300, using: &generator))
            }
            let expected = try #require(Double(text))
            guard expected.isFinite else {
                #expect(parseError(text)?.code == .numberOutOfRange, "\(text)")
                continue
            }
            let parsed = try JSON(parsing: text)
            switch parsed {
            case .integer(let value):
                #expect(Int64(text) == value, "\(text)")
            case .double(let value):
                #expect(value.bitPattern == expected.bitPattern, "\(text): \(value) != \(expected)")
            default:
                Issue.record("\(text) parsed as \(parsed)")
            }
        }
    }
}
