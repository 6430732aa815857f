/// Formats doubles exactly like Python's `repr(float)` (which `json.dumps` uses).
///
/// Python prints the shortest digit string that round-trips (David Gay's
/// algorithm, mode 0) — the same digits Swift's `description` produces — but
/// lays them out differently: with `decpt` the position of the decimal point
/// relative to the digits (value = 0.d₁d₂… × 10^decpt), it uses exponent
/// notation when `decpt <= -4 || decpt > 16`, with at least two exponent
/// digits and an explicit sign (`1e-05`, `1e+16`, `1.5e+300`), and otherwise
/// fixed notation with at least one digit after the point (`0.0001`,
/// `100.0`, `1000000000000000.0`).
enum PythonFloatFormat {
    /// Appends the Python repr of a finite `value`.
    static func append(_ value: Double, to output: inout [UInt8]) {
        if value == 0 {
            if value.sign == .minus { output.append(UInt8(ascii: "-")) }
            output.append(contentsOf: [UInt8(ascii: "0"), UInt8(ascii: "."), UInt8(ascii: "0")])
            return
        }
        var digits: [UInt8] = []
        digits.reserveCapacity(17)
        let decimalPointPosition = shortestDigits(of: value.magnitude, into: &digits)
        if value.sign == .minus { output.append(UInt8(ascii: "-")) }
        layOut(digits: digits, decimalPointPosition: decimalPointPosition, into: &output)
    }

    /// The repr as a `String`.
    static func string(_ value: Double) -> String {
        var output: [UInt8] = []
        append(value, to: &output)
        return String(decoding: output, as: UTF8.self)
    }

    /// Extracts the shortest round-trip digits of a positive finite `value`
    /// (no leading or trailing zeros) and returns `decpt`.
    private static func shortestDigits(of value: Double, into digits: inout [UInt8]) -> Int {
        // Swift's description is shortest-round-trip; its layout varies
        // ("0.001", "1e-05", "1.0", "1e+16"), so read digits and exponent generically.
        let text = value.description
        var integerDigitCount = 0  // digits before '.' (among all mantissa digits)
        var sawPoint = false
        var exponent = 0
        var exponentIsNegative = false
        var inExponent = false
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                if inExponent {
                    exponent = exponent * 10 + Int(byte - UInt8(ascii: "0"))
                } else {
                    digits.append(byte)
                    if !sawPoint { integerDigitCount += 1 }
                }
            case UInt8(ascii: "."):
                sawPoint = true
            case UInt8(ascii: "e"), UInt8(ascii: "E"):
                inExponent = true
            case UInt8(ascii: "-"):
                if inExponent { exponentIsNegative = true }
            default:
                break  // '+'
            }
        }
        if exponentIsNegative { exponent = -exponent }
        // Strip leading zeros ("0.001" -> "1", each one moves the point left).
        var leadingZeros = 0
        while leadingZeros < digits.count - 1 && digits[leadingZeros] == UInt8(ascii: "0") {
            leadingZeros += 1
        }
        if leadingZeros > 0 {
            digits.removeFirst(leadingZeros)
        }
        while digits.count > 1 && digits.last == UInt8(ascii: "0") {
            digits.removeLast()
        }
        return integerDigitCount - leadingZeros + exponent
    }

    private static func layOut(digits: [UInt8], decimalPointPosition decpt: Int, into output: inout [UInt8]) {
        let zero = UInt8(ascii: "0")
        if decpt <= -4 || decpt > 16 {
            output.append(digits[0])
            if digits.count > 1 {
                output.append(UInt8(ascii: "."))
                output.append(contentsOf: digits[1...])
            }
            let exponent = decpt - 1
            output.append(UInt8(ascii: "e"))
            output.append(exponent < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+"))
            let magnitude = exponent.magnitude
            if magnitude < 10 { output.append(zero) }
            output.append(contentsOf: String(magnitude).utf8)
        } else if decpt <= 0 {
            output.append(zero)
            output.append(UInt8(ascii: "."))
            output.append(contentsOf: repeatElement(zero, count: -decpt))
            output.append(contentsOf: digits)
        } else if decpt >= digits.count {
            output.append(contentsOf: digits)
            output.append(contentsOf: repeatElement(zero, count: decpt - digits.count))
            output.append(UInt8(ascii: "."))
            output.append(zero)
        } else {
            output.append(contentsOf: digits[..<decpt])
            output.append(UInt8(ascii: "."))
            output.append(contentsOf: digits[decpt...])
        }
    }
}
