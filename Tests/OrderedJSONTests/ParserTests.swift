import OrderedJSON
import Testing

@Suite struct ParserTests {
    @Test func scalars() throws {
        #expect(try JSON(parsing: "null") == .null)
        #expect(try JSON(parsing: "true") == .bool(true))
        #expect(try JSON(parsing: "false") == .bool(false))
        #expect(try JSON(parsing: "0") == .integer(0))
        #expect(try JSON(parsing: "-12") == .integer(-12))
        #expect(try JSON(parsing: "1.5") == .double(1.5))
        #expect(try JSON(parsing: "\"x\"") == .string("x"))
        #expect(try JSON(parsing: " \t\r\n[ ] \n") == .array([]))
        #expect(try JSON(parsing: "{}") == .object([:]))
    }

    @Test func nestedStructuresKeepKeyOrder() throws {
        let value = try JSON(parsing: #"{"z": 1, "a": [true, {"y": null, "b": "s"}], "m": {}}"#)
        let object = try #require(value.objectValue)
        #expect(object.keys == ["z", "a", "m"])
        #expect(value["a"]?[1]?.objectValue?.keys == ["y", "b"])
        #expect(value["a"]?[1]?["b"] == "s")
        #expect(value["a"]?[2] == nil)
        #expect(value["missing"] == nil)
        #expect(try value.python() == #"{"z": 1, "a": [true, {"y": null, "b": "s"}], "m": {}}"#)
    }

    @Test func duplicateKeysKeepFirstPositionAndLastValue() throws {
        let value = try JSON(parsing: #"{"a": 1, "b": 2, "a": 3}"#)
        #expect(try value.python() == #"{"a": 3, "b": 2}"#)
    }

    @Test func parsesFromEveryInputKind() throws {
        let text = #"{"k": [1, "v"]}"#
        let expected = try JSON(parsing: text)
        #expect(try JSON(parsing: Array(text.utf8)) == expected)
        #expect(try JSON(parsing: ArraySlice(text.utf8)) == expected)
        #expect(try JSON(parsing: text.utf8) == expected)
        // A non-contiguous collection goes through a copy.
        #expect(try JSON(parsing: text.utf8.lazy.map { $0 }) == expected)
        try Array(text.utf8).withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws in
            #expect(try JSON(parsing: raw) == expected)
        }
        #expect(throws: JSONError.self) { try JSON(parsing: UnsafeRawBufferPointer(start: nil, count: 0)) }
        #expect(throws: JSONError.self) { try JSON(parsing: [UInt8]()) }
    }

    // MARK: Strings

    @Test func stringEscapes() throws {
        #expect(try JSON(parsing: #""\" \\ \/ \b \f \n \r \t""#) == .string("\" \\ / \u{08} \u{0C} \n \r \t"))
        #expect(try JSON(parsing: #""\u0041\u00e9\u20AC\u0000""#) == .string("Aé€\u{0}"))
        #expect(try JSON(parsing: #""\ud83d\ude00""#) == .string("😀"))
        #expect(try JSON(parsing: #""\uDBFF\uDFFF""#) == .string("\u{10FFFF}"))
        #expect(try JSON(parsing: #""x\ud83d\ude00y\n""#) == .string("x😀y\n"))
        // Raw UTF-8 is passed through.
        #expect(try JSON(parsing: "\"café 中文 😀\"") == .string("café 中文 😀"))
        #expect(try JSON(parsing: "\"é\\n😀\"") == .string("é\n😀"))
    }

    @Test func loneSurrogatesAreRejectedByDefault() throws {
        for text in [#""\ud83d""#, #""\ude00""#, #""\ud83dx""#, #""\ud83d\u0041""#, #""\ud83d\ud83d""#, #""a\udc00b""#] {
            let error = try #require(parseError(text), "\(text)")
            #expect(error.code == .loneSurrogate, "\(text)")
        }
        #expect(parseError(#""x\ud83d""#)?.offset == 2)
    }

    @Test func loneSurrogatesCanBeReplaced() throws {
        let options = JSONParsingOptions(loneSurrogates: .replace)
        #expect(try JSON(parsing: #""\ud83d""#, options: options) == .string("\u{FFFD}"))
        #expect(try JSON(parsing: #""\ud83d\u0041""#, options: options) == .string("\u{FFFD}A"))
        #expect(try JSON(parsing: #""\ud83d\ud83d\ude00""#, options: options) == .string("\u{FFFD}😀"))
        #expect(try JSON(parsing: #""\ude00x""#, options: options) == .string("\u{FFFD}x"))
    }

    @Test(arguments: [
        (#""\x""#, JSONError.Code.invalidEscape, 2),
        (#""\'""#, .invalidEscape, 2),
        (#""\u12""#, .invalidUnicodeEscape, 5),
        (#""\u12G4""#, .invalidUnicodeEscape, 5),
        (#""\u"#, .unexpectedEndOfInput, 3),
        (#""\"#, .unexpectedEndOfInput, 2),
        (#""abc"#, .unexpectedEndOfInput, 4),
        ("\"a\u{01}b\"", .controlCharacterInString, 2),
        ("\"tab\there\"", .controlCharacterInString, 4),
        ("\"new\nline\"", .controlCharacterInString, 4),
    ])
    func badStrings(text: String, code: JSONError.Code, offset: Int) {
        let error = parseError(text)
        #expect(error?.code == code, "\(text): \(String(describing: error))")
        #expect(error?.offset == offset, "\(text): \(String(describing: error))")
    }

    @Test(arguments: [
        ([0x22, 0x80, 0x22], 1),  // stray continuation byte
        ([0x22, 0xC0, 0x80, 0x22], 1),  // overlong NUL
        ([0x22, 0xC1, 0xBF, 0x22], 1),  // overlong
        ([0x22, 0xE0, 0x80, 0x80, 0x22], 2),  // overlong 3-byte
        ([0x22, 0xED, 0xA0, 0x80, 0x22], 2),  // encoded surrogate U+D800
        ([0x22, 0xF0, 0x80, 0x80, 0x80, 0x22], 2),  // overlong 4-byte
        ([0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], 2),  // above U+10FFFF
        ([0x22, 0xF5, 0x80, 0x80, 0x80, 0x22], 1),  // invalid lead
        ([0x22, 0xFF, 0x22], 1),
        ([0x22, 0xC3, 0x22], 2),  // truncated 2-byte sequence
        ([0x22, 0xE2, 0x82, 0x22], 3),  // truncated 3-byte sequence
        ([0x22, 0xE2, 0x82], 1),  // truncated at end of input
        ([0x22, 0x5C, 0x6E, 0xC3, 0x28, 0x22], 4),  // after an escape (slow path)
        ([0x5B, 0xC3, 0xA9, 0x5D], 1),  // outside a string
    ] as [([UInt8], Int)])
    func invalidUTF8(bytes: [UInt8], offset: Int) {
        let error = parseError(bytes)
        #expect(error?.code == (bytes.first == 0x5B ? .unexpectedCharacter : .invalidUTF8), "\(bytes): \(String(describing: error))")
        #expect(error?.offset == offset, "\(bytes): \(String(describing: error))")
    }

    @Test func validMultibyteBoundaries() throws {
        let scalars: [Unicode.Scalar] = ["\u{80}", "\u{7FF}", "\u{800}", "\u{D7FF}", "\u{E000}", "\u{FFFD}", "\u{FFFF}", "\u{10000}", "\u{10FFFF}"]
        for scalar in scalars {
            let string = String(Character(scalar))
            #expect(try JSON(parsing: "\"\(string)\"") == .string(string))
        }
    }

    @Test func hugeString() throws {
        let payload = String(repeating: "abcdefghij", count: 1_000_000)  // 10 MB
        let value = try JSON(parsing: "[\"" + payload + "\"]")
        #expect(value[0]?.stringValue?.utf8.count == 10_000_000)
        let escaped = String(repeating: "a\\n", count: 1_000_000)
        #expect(try JSON(parsing: "\"" + escaped + "\"").stringValue?.utf8.count == 2_000_000)
    }

    // MARK: Structure errors

    @Test(arguments: [
        ("", JSONError.Code.unexpectedEndOfInput, 0),
        ("   ", .unexpectedEndOfInput, 3),
        ("[1, 2,]", .unexpectedCharacter, 6),
        (#"{"a": 1,}"#, .unexpectedCharacter, 8),
        ("[1 2]", .unexpectedCharacter, 3),
        (#"{"a" 1}"#, .unexpectedCharacter, 5),
        (#"{"a": 1 "b": 2}"#, .unexpectedCharacter, 8),
        ("{a: 1}", .unexpectedCharacter, 1),
        ("{'a': 1}", .unexpectedCharacter, 1),
        ("['a']", .unexpectedCharacter, 1),
        ("[1] // comment", .trailingData, 4),
        ("/* c */ 1", .unexpectedCharacter, 0),
        ("NaN", .unexpectedCharacter, 0),
        ("Infinity", .unexpectedCharacter, 0),
        ("-Infinity", .invalidNumber, 1),
        ("tru", .unexpectedEndOfInput, 3),
        ("trux", .unexpectedCharacter, 3),
        ("nul", .unexpectedEndOfInput, 3),
        ("True", .unexpectedCharacter, 0),
        ("[", .unexpectedEndOfInput, 1),
        ("[1", .unexpectedEndOfInput, 2),
        ("{", .unexpectedEndOfInput, 1),
        (#"{"a""#, .unexpectedEndOfInput, 4),
        (#"{"a":"#, .unexpectedEndOfInput, 5),
        (#"{"a":1"#, .unexpectedEndOfInput, 6),
        ("]", .unexpectedCharacter, 0),
        ("[}", .unexpectedCharacter, 1),
        (#"{"a": 1]"#, .unexpectedCharacter, 7),
        ("1 2", .trailingData, 2),
        ("{} x", .trailingData, 3),
        ("\"a\" \"b\"", .trailingData, 4),
        ("\u{FEFF}1", .unexpectedCharacter, 0),
        ("[1,,2]", .unexpectedCharacter, 3),
    ])
    func structureErrors(text: String, code: JSONError.Code, offset: Int) {
        let error = parseError(text)
        #expect(error?.code == code, "\(text): \(String(describing: error))")
        #expect(error?.offset == offset, "\(text): \(String(describing: error))")
    }

    @Test func errorDescriptionsAreHelpful() {
        let error = parseError(#"{"a": 1,}"#)
        #expect(error?.description == "unexpected character at byte 8: found '}', expected a string (object key)")
        #expect(parseError("[1")?.description == "unexpected end of input at byte 2: found end of input, expected ',' or ']'")
        #expect(parseError([0x22, 0xFF, 0x22])?.description == "invalid UTF-8 at byte 1: found byte 0xFF, expected a UTF-8 lead byte")
    }

    @Test func whitespaceOnlyFromRFC() {
        // Only space, tab, LF, CR are whitespace.
        #expect(parseError("\u{0B}1")?.code == .unexpectedCharacter)
        #expect(parseError("1\u{0C}")?.code == .trailingData)
        #expect(parseError("\u{A0}1")?.code == .unexpectedCharacter)
    }

    // MARK: Depth

    @Test func deepNestingIsAnErrorNotACrash() {
        let deepArrays = [UInt8](repeating: UInt8(ascii: "["), count: 100_000)
        let error = parseError(deepArrays)
        #expect(error?.code == .nestingTooDeep)
        #expect(error?.offset == 512)

        let deepObjects = String(repeating: #"{"a":"#, count: 100_000)
        #expect(parseError(deepObjects)?.code == .nestingTooDeep)

        let closedDeep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(parseError(closedDeep)?.code == .nestingTooDeep)
    }

    @Test func depthLimitIsExact() throws {
        let limit = JSONParsingOptions.defaultMaximumDepth
        let atLimit = String(repeating: "[", count: limit) + String(repeating: "]", count: limit)
        #expect(parseError(atLimit) == nil)
        let overLimit = "[" + atLimit + "]"
        #expect(parseError(overLimit)?.code == .nestingTooDeep)
        #expect(parseError(overLimit, options: JSONParsingOptions(maximumDepth: limit + 1)) == nil)
        #expect(parseError("1", options: JSONParsingOptions(maximumDepth: 0)) == nil)
        #expect(parseError("[]", options: JSONParsingOptions(maximumDepth: 0))?.code == .nestingTooDeep)
        #expect(parseError("{}", options: JSONParsingOptions(maximumDepth: 0))?.code == .nestingTooDeep)
        #expect(parseError("[[], {}]", options: JSONParsingOptions(maximumDepth: 1))?.code == .nestingTooDeep)
        #expect(parseError("[[], {}]", options: JSONParsingOptions(maximumDepth: 2)) == nil)
    }

    // MARK: Robustness

    @Test func everyPrefixOfAValidDocumentFailsCleanly() throws {
        let text = #"{"a": [1, -2.5e+3, "x\"\u00e9\ud83d\ude00", true, false, null], "b": {"c": {}}, "d": []}"#
        let bytes = Array(text.utf8)
        #expect(parseError(bytes) == nil)
        for length in 0..<bytes.count {
            let error = parseError(Array(bytes[..<length]))
            #expect(error != nil, "prefix of length \(length) parsed")
            // An incomplete document either ends early or (for a cut number) is still an error.
            if let error, let offset = error.offset {
                #expect(offset <= length)
            }
        }
    }

    @Test func randomMutationsNeverCrash() throws {
        let text = #"{"oslo.version": "2.0", "oslo.message": "{\"method\": \"run_action\", \"args\": {\"x\": \"[1, 2.5, null]\"}}", "n": [1e5, -0, 0.25]}"#
        let original = Array(text.utf8)
        var generator = SeededGenerator(seed: 42)
        let interesting: [UInt8] = Array("{}[]\",:\\u0123456789eE+-.tfnl ".utf8) + [0x00, 0x7F, 0x80, 0xC3, 0xED, 0xF4, 0xFF]
        for _ in 0..<5_000 {
            var bytes = original
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let position = Int.random(in: 0..<bytes.count, using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: bytes[position] = interesting.randomElement(using: &generator)!
                case 1: bytes.remove(at: position)
                default: bytes.insert(interesting.randomElement(using: &generator)!, at: position)
                }
            }
            // Must return or throw; a successful parse must re-encode and re-parse to the same value.
            if let value = try? JSON(parsing: bytes) {
                let reparsed = try JSON(parsing: value.encoded(style: .python))
                #expect(reparsed.isIdentical(to: value))
            }
        }
    }
}
