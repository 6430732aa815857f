/// Options for ``JSON/init(parsing:options:)-(String,_)``.
public struct JSONParsingOptions: Sendable, Hashable {
    /// What to do with a `\uD800`–`\uDFFF` escape that is not part of a valid
    /// surrogate pair. Swift strings cannot hold lone surrogates (Python's can,
    /// and `json.dumps` emits them escaped only in pathological cases).
    public enum LoneSurrogatePolicy: Sendable, Hashable {
        /// Fail with ``JSONError/Code/loneSurrogate`` (the default).
        case reject
        /// Decode the lone surrogate as U+FFFD REPLACEMENT CHARACTER.
        case replace
    }

    /// The default nesting limit: arrays and objects nested deeper fail with
    /// ``JSONError/Code/nestingTooDeep``.
    public static let defaultMaximumDepth = 512

    /// How many arrays/objects may be nested (`[[]]` is 2 levels; 0 allows
    /// only scalars). The parser itself is iterative,
    /// but other operations on values (comparison, encoding, deallocation)
    /// recurse, so keep this in the hundreds or low thousands.
    public var maximumDepth: Int
    /// See ``LoneSurrogatePolicy``.
    public var loneSurrogates: LoneSurrogatePolicy
    /// Accept what Python's `json.loads` accepts beyond RFC 8259: the tokens
    /// `NaN`, `Infinity` and `-Infinity`, and numbers past the `Double`
    /// range (Python reads `1e400` as `inf`; its exact big integers become
    /// ±infinity here). Off by default.
    public var allowsNonFiniteNumbers: Bool

    /// Options; the defaults are the strict ones.
    public init(
        maximumDepth: Int = JSONParsingOptions.defaultMaximumDepth,
        loneSurrogates: LoneSurrogatePolicy = .reject,
        allowsNonFiniteNumbers: Bool = false
    ) {
        self.maximumDepth = maximumDepth
        self.loneSurrogates = loneSurrogates
        self.allowsNonFiniteNumbers = allowsNonFiniteNumbers
    }

    /// What a Python peer (oslo.messaging, Mistral) may send: whatever
    /// `json.loads` reads, so a message Python's executor would take is not
    /// refused here. Non-finite numbers are kept as such; lone surrogates
    /// become U+FFFD (Swift strings cannot hold them).
    public static let python = JSONParsingOptions(loneSurrogates: .replace, allowsNonFiniteNumbers: true)
}

extension JSON {
    /// Parses JSON text (RFC 8259, strict).
    ///
    /// Rejects trailing commas, comments, `NaN`/`Infinity`, leading zeros,
    /// unescaped control characters in strings, invalid UTF-8, lone surrogate
    /// escapes (see ``JSONParsingOptions/LoneSurrogatePolicy``) and anything but
    /// whitespace after the value. Numbers without fraction or exponent that
    /// fit in `Int64` become ``JSON/integer(_:)``; all others (including larger
    /// integers, which Python would keep exact) become ``JSON/double(_:)``,
    /// correctly rounded; a number beyond the `Double` range is an error.
    /// A repeated object key keeps its first position and its last value
    /// (like Python's `json.loads`).
    public init(parsing text: String, options: JSONParsingOptions = JSONParsingOptions()) throws(JSONError) {
        try self.init(parsing: text.utf8, options: options)
    }

    /// Parses JSON text given as UTF-8 bytes. See ``init(parsing:options:)-(String,_)``.
    public init<Bytes: Collection<UInt8>>(parsing bytes: Bytes, options: JSONParsingOptions = JSONParsingOptions()) throws(JSONError) {
        let result = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(JSONError) -> JSON in
                var parser = JSONParser(input: buffer, options: options)
                return try parser.parseDocument()
            }
        }
        if let result {
            self = try result.get()
        } else {
            let copy = Array(bytes)
            self = try JSON(parsing: copy, options: options)
        }
    }

    /// Parses JSON text in raw memory. See ``init(parsing:options:)-(String,_)``.
    public init(parsing buffer: UnsafeRawBufferPointer, options: JSONParsingOptions = JSONParsingOptions()) throws(JSONError) {
        var parser = JSONParser(input: buffer.assumingMemoryBound(to: UInt8.self), options: options)
        self = try parser.parseDocument()
    }
}

// MARK: - Parser

private let quote = UInt8(ascii: "\"")
private let backslash = UInt8(ascii: "\\")
private let slash = UInt8(ascii: "/")
private let comma = UInt8(ascii: ",")
private let colon = UInt8(ascii: ":")
private let openBrace = UInt8(ascii: "{")
private let closeBrace = UInt8(ascii: "}")
private let openBracket = UInt8(ascii: "[")
private let closeBracket = UInt8(ascii: "]")
private let minus = UInt8(ascii: "-")
private let plus = UInt8(ascii: "+")
private let dot = UInt8(ascii: ".")
private let zero = UInt8(ascii: "0")
private let nine = UInt8(ascii: "9")

/// One open array or object while parsing (the parser keeps an explicit stack
/// instead of recursing, so deep input cannot overflow the thread's stack).
private struct OpenContainer {
    var isObject: Bool
    var elements: [JSON] = []
    var members = JSONObject()
    var pendingKey = ""
}

/// Powers of ten exactly representable as `Double` (Clinger's fast path).
private let exactPowersOfTen: [Double] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
]

/// Not copyable: it owns the scratch memory it frees when it ends.
struct JSONParser: ~Copyable {
    private let input: UnsafeBufferPointer<UInt8>
    private var position = 0
    private let maximumDepth: Int
    private let replaceLoneSurrogates: Bool
    private let allowsNonFiniteNumbers: Bool
    /// Reused buffer for the unescaped bytes of strings with escapes, grown
    /// as needed and kept for the document's next such string. Raw memory
    /// rather than an array: an oslo message is a string of JSON whose
    /// nested strings are escaped again, hundreds of escapes per message,
    /// and each byte is stored without a uniqueness or capacity check (one
    /// check per escape or run reserves room first).
    private var scratch: UnsafeMutablePointer<UInt8>?
    private var scratchCount = 0
    private var scratchCapacity = 0

    init(input: UnsafeBufferPointer<UInt8>, options: JSONParsingOptions) {
        self.input = input
        self.maximumDepth = max(0, options.maximumDepth)
        self.replaceLoneSurrogates = options.loneSurrogates == .replace
        self.allowsNonFiniteNumbers = options.allowsNonFiniteNumbers
    }

    deinit {
        scratch?.deallocate()
    }

    // MARK: Scratch buffer

    /// Room for `extra` more bytes in the scratch buffer. `extra` is at most
    /// the input's length (a run of it) or 4 (one escape's UTF-8), so the
    /// sums cannot overflow.
    @inline(__always)
    private mutating func reserveScratch(_ extra: Int) -> UnsafeMutablePointer<UInt8> {
        if let scratch, scratchCount + extra <= scratchCapacity {
            return scratch + scratchCount
        }
        return growScratch(extra)
    }

    private mutating func growScratch(_ extra: Int) -> UnsafeMutablePointer<UInt8> {
        let capacity = max(256, 2 * (scratchCount + extra))
        let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        if let scratch {
            grown.update(from: scratch, count: scratchCount)
            scratch.deallocate()
        }
        scratch = grown
        scratchCapacity = capacity
        return grown + scratchCount
    }

    @inline(__always)
    private mutating func appendScratch(_ byte: UInt8) {
        reserveScratch(1).initialize(to: byte)
        scratchCount += 1
    }

    /// Appends `input[from..<to]`.
    private mutating func appendScratch(from start: Int, to end: Int) {
        guard end > start, let source = input.baseAddress else { return }
        reserveScratch(end - start).update(from: source + start, count: end - start)
        scratchCount += end - start
    }

    private var scratchString: String {
        guard let scratch else { return "" }
        return String(decoding: UnsafeBufferPointer(start: scratch, count: scratchCount), as: UTF8.self)
    }

    // MARK: Errors

    private func failure(_ code: JSONError.Code, at offset: Int, expected: String?) -> JSONError {
        JSONError(code: code, offset: offset, expected: expected, found: offset < input.count ? input[offset] : nil)
    }

    /// `.unexpectedEndOfInput` at the end, else `code` (default `.unexpectedCharacter`).
    private func unexpected(at offset: Int, expected: String, code: JSONError.Code = .unexpectedCharacter) -> JSONError {
        failure(offset < input.count ? code : .unexpectedEndOfInput, at: offset, expected: expected)
    }

    // MARK: Structure

    @inline(__always)
    private mutating func skipWhitespace() {
        while position < input.count {
            switch input[position] {
            case 0x20, 0x0A, 0x0D, 0x09: position += 1
            default: return
            }
        }
    }

    mutating func parseDocument() throws(JSONError) -> JSON {
        var stack: [OpenContainer] = []
        var value: JSON
        parsingValues: while true {
            skipWhitespace()
            guard position < input.count else {
                throw unexpected(at: position, expected: "a JSON value")
            }
            switch input[position] {
            case openBrace:
                guard stack.count < maximumDepth else {
                    throw failure(.nestingTooDeep, at: position, expected: "at most \(maximumDepth) nested arrays/objects")
                }
                position += 1
                skipWhitespace()
                if position < input.count, input[position] == closeBrace {
                    position += 1
                    value = .object(JSONObject())
                } else {
                    var container = OpenContainer(isObject: true)
                    container.pendingKey = try parseObjectKey(expected: "a string (object key) or '}'")
                    stack.append(container)
                    continue parsingValues
                }
            case openBracket:
                guard stack.count < maximumDepth else {
                    throw failure(.nestingTooDeep, at: position, expected: "at most \(maximumDepth) nested arrays/objects")
                }
                position += 1
                skipWhitespace()
                if position < input.count, input[position] == closeBracket {
                    position += 1
                    value = .array([])
                } else {
                    stack.append(OpenContainer(isObject: false))
                    continue parsingValues
                }
            case quote:
                value = .string(try parseString())
            case UInt8(ascii: "t"):
                try expectLiteral("true")
                value = .bool(true)
            case UInt8(ascii: "f"):
                try expectLiteral("false")
                value = .bool(false)
            case UInt8(ascii: "n"):
                try expectLiteral("null")
                value = .null
            case minus where allowsNonFiniteNumbers && position + 1 < input.count && input[position + 1] == UInt8(ascii: "I"):
                position += 1
                try expectLiteral("Infinity")
                value = .double(-.infinity)
            case minus, zero...nine:
                value = try parseNumber()
            case UInt8(ascii: "N") where allowsNonFiniteNumbers:
                try expectLiteral("NaN")
                value = .double(.nan)
            case UInt8(ascii: "I") where allowsNonFiniteNumbers:
                try expectLiteral("Infinity")
                value = .double(.infinity)
            default:
                throw failure(.unexpectedCharacter, at: position, expected: "a JSON value")
            }

            // Attach the finished value to the open containers, closing as many as end here.
            while true {
                guard !stack.isEmpty else {
                    skipWhitespace()
                    guard position == input.count else {
                        throw failure(.trailingData, at: position, expected: "end of input")
                    }
                    return value
                }
                let top = stack.count - 1
                let isObject = stack[top].isObject
                if isObject {
                    let key = stack[top].pendingKey
                    stack[top].members.insertParsed(key: key, value: value)
                } else {
                    stack[top].elements.append(value)
                }
                skipWhitespace()
                guard position < input.count else {
                    throw unexpected(at: position, expected: isObject ? "',' or '}'" : "',' or ']'")
                }
                let separator = input[position]
                position += 1
                if separator == comma {
                    if isObject {
                        stack[top].pendingKey = try parseObjectKey(expected: "a string (object key)")
                    }
                    continue parsingValues
                } else if separator == (isObject ? closeBrace : closeBracket) {
                    let container = stack.removeLast()
                    value = isObject ? .object(container.members) : .array(container.elements)
                } else {
                    throw failure(.unexpectedCharacter, at: position - 1, expected: isObject ? "',' or '}'" : "',' or ']'")
                }
            }
        }
    }

    /// Parses `"key"` and the `:` after it.
    private mutating func parseObjectKey(expected: String) throws(JSONError) -> String {
        skipWhitespace()
        guard position < input.count, input[position] == quote else {
            throw unexpected(at: position, expected: expected)
        }
        let key = try parseString()
        skipWhitespace()
        guard position < input.count, input[position] == colon else {
            throw unexpected(at: position, expected: "':' after object key")
        }
        position += 1
        return key
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(JSONError) {
        let length = literal.utf8CodeUnitCount
        let bytes = UnsafeBufferPointer(start: literal.utf8Start, count: length)
        for offset in 0..<length {
            guard position + offset < input.count, input[position + offset] == bytes[offset] else {
                throw unexpected(at: position + offset, expected: "'\(literal)'")
            }
        }
        position += length
    }

    // MARK: Strings

    /// Parses a string starting at the opening quote.
    private mutating func parseString() throws(JSONError) -> String {
        position += 1  // opening quote
        let start = position
        // Fast path: no escapes; validate UTF-8 and find the closing quote.
        position = try endOfPlainRun(from: position)
        while position < input.count {
            let byte = input[position]
            if byte == quote {
                let string = String(decoding: UnsafeBufferPointer(rebasing: input[start..<position]), as: UTF8.self)
                position += 1
                return string
            } else if byte == backslash {
                return try parseStringWithEscapes(start: start)
            } else if byte < 0x20 {
                throw failure(.controlCharacterInString, at: position, expected: "an escaped control character (\\n, \\u0000, ...)")
            } else if byte < 0x80 {
                position += 1
            } else {
                position += try validUTF8SequenceLength(at: position)
            }
        }
        throw failure(.unexpectedEndOfInput, at: position, expected: "'\"' to close the string")
    }

    private mutating func parseStringWithEscapes(start: Int) throws(JSONError) -> String {
        scratchCount = 0
        appendScratch(from: start, to: position)
        while position < input.count {
            let byte = input[position]
            if byte == quote {
                position += 1
                return scratchString
            } else if byte == backslash {
                try parseEscape()
            } else if byte < 0x20 {
                throw failure(.controlCharacterInString, at: position, expected: "an escaped control character (\\n, \\u0000, ...)")
            } else {
                // Copy a run of plain bytes at once.
                let runStart = position
                position = try endOfPlainRun(from: position)
                appendScratch(from: runStart, to: position)
            }
        }
        throw failure(.unexpectedEndOfInput, at: position, expected: "'\"' to close the string")
    }

    /// The offset of the first quote, backslash or control byte at or after
    /// `start` (or the end of the input), checking that the UTF-8 up to it
    /// is well formed. A local index in a tight loop: this scans nearly
    /// every byte of a message.
    @inline(__always)
    private func endOfPlainRun(from start: Int) throws(JSONError) -> Int {
        var index = start
        let end = input.count
        while index < end {
            let byte = input[index]
            if byte >= 0x80 {
                index += try validUTF8SequenceLength(at: index)
            } else if byte == quote || byte == backslash || byte < 0x20 {
                return index
            } else {
                index += 1
            }
        }
        return index
    }

    /// Decodes the escape at `position` (a backslash) into `scratch`.
    private mutating func parseEscape() throws(JSONError) {
        let escapeStart = position
        position += 1
        guard position < input.count else {
            throw failure(.unexpectedEndOfInput, at: position, expected: "an escape character after '\\'")
        }
        let byte = input[position]
        position += 1
        switch byte {
        case quote, backslash, slash: appendScratch(byte)
        case UInt8(ascii: "b"): appendScratch(0x08)
        case UInt8(ascii: "f"): appendScratch(0x0C)
        case UInt8(ascii: "n"): appendScratch(0x0A)
        case UInt8(ascii: "r"): appendScratch(0x0D)
        case UInt8(ascii: "t"): appendScratch(0x09)
        case UInt8(ascii: "u"):
            let unit = try parseHexQuad()
            if unit >= 0xD800 && unit < 0xDC00 {
                // A high surrogate must be followed by an escaped low surrogate.
                if position + 1 < input.count, input[position] == backslash, input[position + 1] == UInt8(ascii: "u") {
                    let lowStart = position
                    position += 2
                    let low = try parseHexQuad()
                    if low >= 0xDC00 && low < 0xE000 {
                        let scalar = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
                        appendUTF8(scalar)
                        return
                    }
                    // Not a pair: handle the high one alone and re-read the second escape.
                    position = lowStart
                }
                try loneSurrogate(at: escapeStart)
            } else if unit >= 0xDC00 && unit < 0xE000 {
                try loneSurrogate(at: escapeStart)
            } else {
                appendUTF8(UInt32(unit))
            }
        default:
            throw failure(.invalidEscape, at: position - 1, expected: "one of \" \\ / b f n r t u after '\\'")
        }
    }

    private mutating func loneSurrogate(at offset: Int) throws(JSONError) {
        guard replaceLoneSurrogates else {
            throw JSONError(code: .loneSurrogate, offset: offset, expected: "a \\uD800-\\uDBFF escape followed by a \\uDC00-\\uDFFF escape")
        }
        appendUTF8(0xFFFD)
    }

    private mutating func parseHexQuad() throws(JSONError) -> UInt16 {
        var value: UInt16 = 0
        for _ in 0..<4 {
            guard position < input.count else {
                throw failure(.unexpectedEndOfInput, at: position, expected: "four hex digits after '\\u'")
            }
            let byte = input[position]
            let digit: UInt8
            switch byte {
            case zero...nine: digit = byte &- zero
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte &- UInt8(ascii: "a") &+ 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte &- UInt8(ascii: "A") &+ 10
            default:
                throw failure(.invalidUnicodeEscape, at: position, expected: "four hex digits after '\\u'")
            }
            value = value << 4 | UInt16(digit)
            position += 1
        }
        return value
    }

    private mutating func appendUTF8(_ scalar: UInt32) {
        switch scalar {
        case 0..<0x80:
            appendScratch(UInt8(scalar))
        case 0x80..<0x800:
            appendScratch(0xC0 | UInt8(scalar >> 6))
            appendScratch(0x80 | UInt8(scalar & 0x3F))
        case 0x800..<0x10000:
            appendScratch(0xE0 | UInt8(scalar >> 12))
            appendScratch(0x80 | UInt8((scalar >> 6) & 0x3F))
            appendScratch(0x80 | UInt8(scalar & 0x3F))
        default:
            appendScratch(0xF0 | UInt8(scalar >> 18))
            appendScratch(0x80 | UInt8((scalar >> 12) & 0x3F))
            appendScratch(0x80 | UInt8((scalar >> 6) & 0x3F))
            appendScratch(0x80 | UInt8(scalar & 0x3F))
        }
    }

    /// Length of the well-formed UTF-8 sequence (Unicode table 3-7: no overlong
    /// forms, no encoded surrogates, nothing above U+10FFFF) starting with a
    /// non-ASCII byte at `offset`.
    @inline(__always)
    private func validUTF8SequenceLength(at offset: Int) throws(JSONError) -> Int {
        let lead = input[offset]
        let length: Int
        var secondRange: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; secondRange = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; secondRange = 0x80...0x9F
        case 0xF0: length = 4; secondRange = 0x90...0xBF
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; secondRange = 0x80...0x8F
        default:
            throw failure(.invalidUTF8, at: offset, expected: "a UTF-8 lead byte")
        }
        guard offset + length <= input.count else {
            throw failure(.invalidUTF8, at: offset, expected: "a complete \(length)-byte UTF-8 sequence")
        }
        guard secondRange.contains(input[offset + 1]) else {
            throw failure(.invalidUTF8, at: offset + 1, expected: "a UTF-8 continuation byte")
        }
        for index in (offset + 2)..<(offset + length) where input[index] & 0xC0 != 0x80 {
            throw failure(.invalidUTF8, at: index, expected: "a UTF-8 continuation byte")
        }
        return length
    }

    // MARK: Numbers

    private mutating func parseNumber() throws(JSONError) -> JSON {
        let start = position
        let isNegative = input[position] == minus
        if isNegative {
            position += 1
        }
        // Up to 19 significant digits, exactly; the rest only shift the exponent.
        var mantissa: UInt64 = 0
        var significantDigits = 0
        var decimalExponent = 0

        guard position < input.count, input[position] >= zero, input[position] <= nine else {
            throw unexpected(at: position, expected: "a digit", code: .invalidNumber)
        }
        if input[position] == zero {
            position += 1
            if position < input.count, input[position] >= zero, input[position] <= nine {
                throw failure(.invalidNumber, at: position, expected: "'.', 'e' or the end of the number (no leading zeros)")
            }
        } else {
            while position < input.count, input[position] >= zero, input[position] <= nine {
                if significantDigits < 19 {
                    mantissa = mantissa &* 10 &+ UInt64(input[position] &- zero)
                } else {
                    decimalExponent += 1
                }
                significantDigits += 1
                position += 1
            }
        }

        var isInteger = true
        if position < input.count, input[position] == dot {
            isInteger = false
            position += 1
            guard position < input.count, input[position] >= zero, input[position] <= nine else {
                throw unexpected(at: position, expected: "a digit after '.'", code: .invalidNumber)
            }
            while position < input.count, input[position] >= zero, input[position] <= nine {
                let digit = input[position] &- zero
                if significantDigits == 0 && digit == 0 {
                    decimalExponent -= 1  // leading zeros of 0.000123
                } else if significantDigits < 19 {
                    mantissa = mantissa &* 10 &+ UInt64(digit)
                    decimalExponent -= 1
                    significantDigits += 1
                } else {
                    significantDigits += 1
                }
                position += 1
            }
        }

        if position < input.count, input[position] == UInt8(ascii: "e") || input[position] == UInt8(ascii: "E") {
            isInteger = false
            position += 1
            var exponentIsNegative = false
            if position < input.count, input[position] == plus || input[position] == minus {
                exponentIsNegative = input[position] == minus
                position += 1
            }
            guard position < input.count, input[position] >= zero, input[position] <= nine else {
                throw unexpected(at: position, expected: "a digit in the exponent", code: .invalidNumber)
            }
            var exponent = 0
            while position < input.count, input[position] >= zero, input[position] <= nine {
                if exponent < 1_000_000 {
                    exponent = exponent * 10 + Int(input[position] &- zero)
                }
                position += 1
            }
            decimalExponent += exponentIsNegative ? -exponent : exponent
        }

        if isInteger && significantDigits <= 19 {
            if isNegative {
                if mantissa <= UInt64(Int64.max) {
                    return .integer(-Int64(mantissa))
                } else if mantissa == UInt64(Int64.max) + 1 {
                    return .integer(Int64.min)
                }
            } else if mantissa <= UInt64(Int64.max) {
                return .integer(Int64(mantissa))
            }
        }

        // Clinger's fast path: exact mantissa and an exactly representable power of ten.
        if significantDigits <= 19 && mantissa <= (1 << 53) && decimalExponent >= -22 && decimalExponent <= 22 {
            var value = Double(mantissa)
            if decimalExponent >= 0 {
                value *= exactPowersOfTen[decimalExponent]
            } else {
                value /= exactPowersOfTen[-decimalExponent]
            }
            return .double(isNegative ? -value : value)
        }
        if mantissa == 0 {
            return .double(isNegative ? -0.0 : 0.0)
        }
        // General case: the C library's correctly rounded conversion.
        let text = String(decoding: UnsafeBufferPointer(rebasing: input[start..<position]), as: UTF8.self)
        guard let value = Double(text), value.isFinite || allowsNonFiniteNumbers else {
            throw JSONError(code: .numberOutOfRange, offset: start, expected: "a number within the range of a 64-bit float")
        }
        return .double(value)
    }
}

extension JSONObject {
    /// Adds a parsed member; a repeated key keeps its first position and takes the new value.
    mutating func insertParsed(key: String, value: JSON) {
        if keyIndex != nil {
            // One hash operation in the common case (a new key).
            let newPosition = entries.count
            if let existing = keyIndex!.updateValue(newPosition, forKey: key) {
                keyIndex![key] = existing
                entries[existing].value = value
            } else {
                entries.append((key: key, value: value))
            }
        } else if let position = index(forKey: key) {
            entries[position].value = value
        } else {
            appendNewMember(key: key, value: value)
        }
    }
}
