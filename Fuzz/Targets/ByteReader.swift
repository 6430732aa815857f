import OrderedJSON

/// Reads fuzzer bytes as a stream of small decisions, so that a mutated
/// byte changes one choice of a structured value rather than breaking JSON
/// syntax. Running out of bytes yields zeros: every input is a valid program.
struct ByteReader {
    private var bytes: ArraySlice<UInt8>

    init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }

    var isAtEnd: Bool { bytes.isEmpty }

    mutating func byte() -> UInt8 { bytes.popFirst() ?? 0 }

    /// A number in `0..<count` (`count` > 0).
    mutating func choose(_ count: Int) -> Int { Int(byte()) % count }

    mutating func choose<Element>(from elements: [Element]) -> Element {
        elements[choose(elements.count)]
    }

    mutating func uint64() -> UInt64 {
        var value: UInt64 = 0
        for _ in 0..<8 { value = value << 8 | UInt64(byte()) }
        return value
    }

    /// Up to 255 bytes, length first.
    mutating func chunk() -> [UInt8] {
        let length = Int(byte())
        let taken = bytes.prefix(length)
        bytes = bytes.dropFirst(taken.count)
        return Array(taken)
    }

    /// A JSON value; `depth` bounds nesting (the parser's own limit is
    /// exercised by the JSON-text form of the inputs).
    mutating func json(depth: Int = 0) -> JSON {
        switch choose(12) {
        case 0: return .null
        case 1: return .bool(byte() & 1 == 1)
        case 2: return .integer(Int64(bitPattern: uint64()))
        case 3: return .integer(Int64(Int8(bitPattern: byte())))
        case 4: return .double(Double(bitPattern: uint64()))
        case 5: return .double(choose(from: Self.interestingNumbers))
        case 6: return .string(String(decoding: chunk(), as: UTF8.self))
        case 7: return .string(choose(from: Self.interestingStrings))
        case 8: return .string(String(choose(from: Self.interestingNumbers)))
        case 9, 10:
            guard depth < 6 else { return .null }
            var elements: [JSON] = []
            for _ in 0..<choose(5) { elements.append(json(depth: depth + 1)) }
            return .array(elements)
        default:
            guard depth < 6 else { return .null }
            var object = JSONObject()
            for _ in 0..<choose(5) {
                let key = choose(3) == 0 ? String(decoding: chunk(), as: UTF8.self) : choose(from: Self.interestingKeys)
                object.updateValue(json(depth: depth + 1), forKey: key)
            }
            return .object(object)
        }
    }

    /// Numbers that have broken conversions before: out of Int64's range,
    /// non-finite, negative zero, tiny, just around powers of two.
    static let interestingNumbers: [Double] = [
        0, -0.0, 1, -1, 0.5, 0.001, 1e-300, .leastNonzeroMagnitude, 1e300, -1e300, 1e19, -1e19, 9.2e18, 9_223_372_036_854_775_808,
        18_446_744_073_709_551_616, 4_294_967_296, 2_147_483_648, 1e15, 1e16, 86_400, 3600, 1e308, .greatestFiniteMagnitude,
        .nan, .infinity, -.infinity, 0.1, 59.999, 1e6,
    ]

    /// Strings the actions and the simulator give meaning to.
    static let interestingStrings: [String] = [
        "", " ", "available", "in-use", "error", "creating", "ACTIVE", "SHUTOFF", "COMPLETED", "active", "queued",
        "running", "shutdown", "start", "stop", "reboot", "RegionOne", "RegionTwo", "public", "snapshot",
        "11111111-2222-3333-4444-555555555555", "22222222-3333-4444-5555-666666666666",
        "33333333-4444-5555-6666-777777777777", "44444444-5555-6666-7777-888888888888",
        "55555555-6666-7777-8888-999999999999", "22222222-3333-4444-5555-777777777777",
        "6c1f9a54-7d2e-4b8a-9f3c-0e1d2c3b4a01", "../../etc/passwd", "a/b?c=d#e", "%00", "in:a,b", "gte:2020-01-01T00:00:00Z",
        "2026-01-01T00:00:00Z", "2026-13-45T99:99:99Z", "1e300", "NaN", "-Infinity", "\u{0}", "\u{1F600}", "\n\r\t",
        String(repeating: "x", count: 5000),
    ]

    /// Keys the actions read besides their declared parameters (Glance's
    /// filters through `**kwargs`, Mistral's own names).
    static let interestingKeys: [String] = [
        "id", "name", "status", "container_format", "disk_format", "visibility", "owner", "tag", "size_min", "size_max",
        "created_at", "updated_at", "instance_uuid", "image_type", "kwargs", "action_region", "wait_timeout", "interval",
        "__serial_key", "__serial_data", "",
    ]
}
