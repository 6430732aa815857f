/// How ``JSONWriter`` formats JSON text.
public enum JSONStyle: Sendable, Hashable {
    /// Byte for byte what Python's `json.dumps(value)` produces with default
    /// arguments: separators `", "` and `": "`, `ensure_ascii=True` (every
    /// non-ASCII character and DEL as a lowercase `\uXXXX` escape, astral
    /// characters as surrogate pairs), floats as Python's `repr(float)`. Use it
    /// for everything a Python peer might compare or re-serialize (oslo
    /// envelopes, Mistral arguments).
    case python
    /// No spaces, UTF-8 passed through unescaped (only `"`, `\` and control
    /// characters are escaped). For our own output where byte identity with
    /// Python does not matter.
    case compact
}

extension JSON {
    /// The JSON text of the value as UTF-8 bytes.
    ///
    /// In the ``JSONStyle/python`` style a NaN or infinite double is written
    /// as Python writes it (`NaN`, `Infinity`, `-Infinity`: not JSON, but what
    /// a Python peer sends and reads; parse it back with
    /// ``JSONParsingOptions/python``); in the compact style it throws
    /// ``JSONError/Code/nonFiniteNumber``. Throws
    /// ``JSONError/Code/nestingTooDeep`` beyond
    /// ``JSONParsingOptions/defaultMaximumDepth`` levels, so that anything
    /// written can be parsed back with default options.
    public func encoded(style: JSONStyle = .compact) throws(JSONError) -> [UInt8] {
        var writer = JSONWriter(style: style)
        try writer.write(self)
        return writer.bytes
    }

    /// The JSON text of the value. See ``encoded(style:)``.
    public func encodedString(style: JSONStyle = .compact) throws(JSONError) -> String {
        String(decoding: try encoded(style: style), as: UTF8.self)
    }
}

/// Writes JSON text into a byte buffer.
///
/// Besides whole values it can write a string literal from raw UTF-8 bytes,
/// which avoids a `String` round trip when embedding already encoded JSON as a
/// string (JSON-in-JSON, as in oslo envelopes), and raw bytes for hand-built
/// framing.
public struct JSONWriter: Sendable {
    /// The text written so far.
    public private(set) var bytes: [UInt8]
    /// The style in use.
    public let style: JSONStyle
    /// Values nested deeper than this fail with ``JSONError/Code/nestingTooDeep``.
    public var maximumDepth = JSONParsingOptions.defaultMaximumDepth
    /// For objects written member by member: whether each open one has a member yet.
    private var openObjectHasMembers: [Bool] = []

    /// A writer of `style` with room for `capacity` bytes.
    public init(style: JSONStyle, reservingCapacity capacity: Int = 256) {
        self.style = style
        self.bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Writes `value`.
    public mutating func write(_ value: JSON) throws(JSONError) {
        try write(value, depth: 0)
    }

    /// Writes `string` as a JSON string literal.
    public mutating func writeString(_ string: String) {
        let handled: Void? = string.utf8.withContiguousStorageIfAvailable { utf8 in
            writeStringLiteral(utf8: utf8)
        }
        if handled == nil {
            let copy = Array(string.utf8)
            copy.withUnsafeBufferPointer { writeStringLiteral(utf8: $0) }
        }
    }

    /// Writes UTF-8 text (e.g. the output of another writer) as a JSON string
    /// literal. The text must be well-formed UTF-8: `.python` writes an
    /// ill-formed byte as `\ufffd`, `.compact` copies it.
    public mutating func writeString(utf8 text: some Collection<UInt8>) {
        let handled: Void? = text.withContiguousStorageIfAvailable { utf8 in
            writeStringLiteral(utf8: utf8)
        }
        if handled == nil {
            let copy = Array(text)
            copy.withUnsafeBufferPointer { writeStringLiteral(utf8: $0) }
        }
    }

    // MARK: Objects member by member

    /// Starts an object written member by member: call ``writeKey(_:)`` then
    /// write one value (``write(_:)``, ``writeString(_:)``, ...) per member,
    /// and finish with ``endObject()``. Separators follow the style.
    public mutating func beginObject() {
        bytes.append(UInt8(ascii: "{"))
        openObjectHasMembers.append(false)
    }

    /// Writes the separator (if needed), `key` and the colon of the next member.
    public mutating func writeKey(_ key: String) {
        if openObjectHasMembers.last == true {
            writeElementSeparator()
        }
        if !openObjectHasMembers.isEmpty {
            openObjectHasMembers[openObjectHasMembers.count - 1] = true
        }
        writeString(key)
        if style == .python { writeRaw(": ") } else { bytes.append(UInt8(ascii: ":")) }
    }

    /// Closes the object started by the matching ``beginObject()``.
    public mutating func endObject() {
        if !openObjectHasMembers.isEmpty {
            openObjectHasMembers.removeLast()
        }
        bytes.append(UInt8(ascii: "}"))
    }

    // MARK: Raw text

    /// Appends bytes verbatim. The caller is responsible for the result being valid JSON.
    public mutating func writeRaw(_ text: some Sequence<UInt8>) {
        bytes.append(contentsOf: text)
    }

    /// Appends ASCII text verbatim. The caller is responsible for the result being valid JSON.
    public mutating func writeRaw(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    // MARK: Values

    private mutating func write(_ value: JSON, depth: Int) throws(JSONError) {
        switch value {
        case .null:
            writeRaw("null")
        case .bool(let flag):
            if flag { writeRaw("true") } else { writeRaw("false") }
        case .integer(let number):
            writeInteger(number)
        case .double(let number):
            guard number.isFinite else {
                // Python's json.dumps writes these tokens (allow_nan=True, its
                // default) and its json.loads reads them back.
                guard style == .python else {
                    throw JSONError(code: .nonFiniteNumber, expected: "a finite number (JSON has no NaN or Infinity)")
                }
                if number.isNaN {
                    writeRaw("NaN")
                } else if number < 0 {
                    writeRaw("-Infinity")
                } else {
                    writeRaw("Infinity")
                }
                return
            }
            PythonFloatFormat.append(number, to: &bytes)
        case .string(let string):
            writeString(string)
        case .array(let elements):
            guard depth < maximumDepth else { throw tooDeep() }
            bytes.append(UInt8(ascii: "["))
            var first = true
            for element in elements {
                if !first { writeElementSeparator() }
                first = false
                try write(element, depth: depth + 1)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let object):
            guard depth < maximumDepth else { throw tooDeep() }
            bytes.append(UInt8(ascii: "{"))
            var first = true
            for (key, member) in object {
                if !first { writeElementSeparator() }
                first = false
                writeString(key)
                if style == .python { writeRaw(": ") } else { bytes.append(UInt8(ascii: ":")) }
                try write(member, depth: depth + 1)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    private func tooDeep() -> JSONError {
        JSONError(code: .nestingTooDeep, expected: "at most \(maximumDepth) nested arrays/objects")
    }

    @inline(__always)
    private mutating func writeElementSeparator() {
        if style == .python { writeRaw(", ") } else { bytes.append(UInt8(ascii: ",")) }
    }

    private mutating func writeInteger(_ number: Int64) {
        if number >= 0 && number < 10 {
            bytes.append(UInt8(ascii: "0") + UInt8(number))
            return
        }
        var magnitude = number.magnitude
        if number < 0 { bytes.append(UInt8(ascii: "-")) }
        // 20 digits hold any UInt64.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var index = 20
            repeat {
                index -= 1
                digits[index] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: digits[index..<20]))
        }
    }

    // MARK: Strings

    /// For each byte, whether it is copied verbatim into a string literal:
    /// printable ASCII except `"` and `\`; in `.compact` also DEL and every
    /// byte of a multi-byte UTF-8 sequence.
    private static let verbatimInPython: [Bool] = (0...255).map { byte in
        byte >= 0x20 && byte < 0x7F && byte != 0x22 && byte != 0x5C
    }
    private static let verbatimInCompact: [Bool] = (0...255).map { byte in
        byte >= 0x20 && byte != 0x22 && byte != 0x5C
    }

    private mutating func writeStringLiteral(utf8 text: UnsafeBufferPointer<UInt8>) {
        let verbatim = style == .python ? Self.verbatimInPython : Self.verbatimInCompact
        bytes.reserveCapacity(bytes.count + text.count + 2)
        bytes.append(UInt8(ascii: "\""))
        var runStart = 0
        var index = 0
        while index < text.count {
            let byte = text[index]
            if verbatim[Int(byte)] {
                index += 1
                continue
            }
            if runStart < index {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: text[runStart..<index]))
            }
            if byte < 0x80 {
                writeEscape(forASCII: byte)
                index += 1
            } else {
                let (scalar, length) = decodeScalar(text, at: index)
                if scalar < 0x10000 {
                    writeUnicodeEscape(UInt16(scalar))
                } else {
                    let offset = scalar - 0x10000
                    writeUnicodeEscape(UInt16(0xD800 + (offset >> 10)))
                    writeUnicodeEscape(UInt16(0xDC00 + (offset & 0x3FF)))
                }
                index += length
            }
            runStart = index
        }
        if runStart < index {
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: text[runStart..<index]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func writeEscape(forASCII byte: UInt8) {
        let escaped: UInt8
        switch byte {
        case 0x22: escaped = UInt8(ascii: "\"")
        case 0x5C: escaped = UInt8(ascii: "\\")
        case 0x0A: escaped = UInt8(ascii: "n")
        case 0x0D: escaped = UInt8(ascii: "r")
        case 0x09: escaped = UInt8(ascii: "t")
        case 0x08: escaped = UInt8(ascii: "b")
        case 0x0C: escaped = UInt8(ascii: "f")
        default:
            writeUnicodeEscape(UInt16(byte))
            return
        }
        bytes.append(UInt8(ascii: "\\"))
        bytes.append(escaped)
    }

    private static let lowercaseHexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    private mutating func writeUnicodeEscape(_ unit: UInt16) {
        let hex = Self.lowercaseHexDigits
        bytes.append(UInt8(ascii: "\\"))
        bytes.append(UInt8(ascii: "u"))
        bytes.append(hex[Int(unit >> 12)])
        bytes.append(hex[Int((unit >> 8) & 0xF)])
        bytes.append(hex[Int((unit >> 4) & 0xF)])
        bytes.append(hex[Int(unit & 0xF)])
    }

    /// Decodes the scalar starting at the non-ASCII byte `text[index]`;
    /// ill-formed input yields U+FFFD for one byte.
    private func decodeScalar(_ text: UnsafeBufferPointer<UInt8>, at index: Int) -> (scalar: UInt32, length: Int) {
        let lead = text[index]
        let length: Int
        var scalar: UInt32
        switch lead {
        case 0xC2...0xDF: length = 2; scalar = UInt32(lead & 0x1F)
        case 0xE0...0xEF: length = 3; scalar = UInt32(lead & 0x0F)
        case 0xF0...0xF4: length = 4; scalar = UInt32(lead & 0x07)
        default: return (0xFFFD, 1)
        }
        guard index + length <= text.count else { return (0xFFFD, 1) }
        for offset in 1..<length {
            let continuation = text[index + offset]
            guard continuation & 0xC0 == 0x80 else { return (0xFFFD, 1) }
            scalar = scalar << 6 | UInt32(continuation & 0x3F)
        }
        let minimum: UInt32 = length == 2 ? 0x80 : (length == 3 ? 0x800 : 0x10000)
        guard scalar >= minimum, scalar <= 0x10FFFF, !(0xD800...0xDFFF).contains(scalar) else { return (0xFFFD, 1) }
        return (scalar, length)
    }
}
