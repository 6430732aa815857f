import CheckedNumbers
import Testing

@Suite("Numbers from outside never trap")
struct CheckedNumbersTests {
    @Test("seconds in range become a Duration exact to the millisecond", arguments: [
        (0.0, Duration.zero), (-0.0, .zero), (0.0004, .zero), (0.0005, .milliseconds(1)),
        (1.5, .milliseconds(1500)), (Seconds.maximum, .seconds(31_622_400)),
    ])
    func secondsInRange(seconds: Double, expected: Duration) throws {
        #expect(try Seconds.duration(seconds, name: "seconds") == expected)
    }

    @Test("NaN, infinities, negatives and numbers past the maximum are errors naming the value", arguments: [
        (Double.nan, "nan"), (.infinity, "inf"), (-.infinity, "-inf"), (-1, "-1"), (1e300, "1e+300"),
        (Seconds.maximum + 1, "31622401"), (Double.greatestFiniteMagnitude, "1.7976931348623157e+308"),
    ])
    func secondsOutOfRange(seconds: Double, shown: String) {
        #expect {
            try Seconds.duration(seconds, name: "wait_timeout")
        } throws: { error in
            let error = error as? NumberOutOfRange
            return error?.name == "wait_timeout" && error?.description.hasSuffix("got \(shown)") == true
        }
    }

    @Test("a smaller maximum is honoured and named in the message")
    func smallerMaximum() throws {
        #expect(try Seconds.duration(10, name: "timeout", maximum: 10) == .seconds(10))
        #expect(throws: NumberOutOfRange.self) { try Seconds.duration(10.001, name: "timeout", maximum: 10) }
        do {
            _ = try Seconds.duration(11, name: "timeout", maximum: 10)
            Issue.record("11 s accepted with a maximum of 10 s")
        } catch {
            #expect(error.description == "timeout must be a number of seconds between 0 and 10, got 11")
        }
    }

    @Test("a clamped wait ignores NaN and negatives and caps everything past the cap", arguments: [
        (Double.nan, nil), (-1, nil), (-.infinity, nil), (0, Duration.zero), (0.0001, .milliseconds(1)),
        (2, .seconds(2)), (30, .seconds(30)), (1e300, .seconds(30)), (.infinity, .seconds(30)),
    ] as [(Double, Duration?)])
    func clamped(seconds: Double, expected: Duration?) {
        #expect(Seconds.clamped(seconds, to: .seconds(30)) == expected)
    }

    @Test("whole numbers convert exactly; fractions, NaN, infinities and values past Int64 do not", arguments: [
        (0.0, Int64(0)), (-0.0, 0), (5, 5), (-5, -5), (9.007199254740992e15, 9_007_199_254_740_992),
        (-9.223372036854775808e18, Int64.min),
    ] as [(Double, Int64)])
    func wholeNumbers(value: Double, expected: Int64) {
        #expect(Int64(wholeNumber: value) == expected)
    }

    @Test("no integer for 1e19, 2^63, 0.5, NaN or infinity", arguments: [1e19, 9.223372036854775808e18, 0.5, .nan, .infinity, -.infinity, -1e300])
    func notWholeNumbers(value: Double) {
        #expect(Int64(wholeNumber: value) == nil)
    }

    @Test("truncation stays within its range and refuses what lies outside")
    func truncation() {
        #expect(Int64(truncating: 2.9, within: 0...10) == 2)
        #expect(Int64(truncating: -0.0, within: 0...10) == 0)
        #expect(Int64(truncating: 10.5, within: 0...10) == 10)
        #expect(Int64(truncating: 11, within: 0...10) == nil)
        #expect(Int64(truncating: 1e300, within: 0...Int64.max) == nil)
        #expect(Int64(truncating: .nan, within: 0...10) == nil)
    }

    @Test("numbers print the way Python prints them")
    func formatting() {
        #expect(NumberOutOfRange.format(5) == "5")
        #expect(NumberOutOfRange.format(0.5) == "0.5")
        #expect(NumberOutOfRange.format(-0.0) == "0")
        #expect(NumberOutOfRange.format(1e300) == "1e+300")
    }
}
