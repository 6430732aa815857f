#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A statement parameter: sent separately from the SQL text (`$1`, `$2`, ...),
/// so no value is ever spliced into SQL.
///
/// Values travel in PostgreSQL's text format. Text and NULL go untyped, the
/// way a quoted literal does, so the server takes the type from the context
/// (`INSERT INTO t(j) VALUES ($1)` works for a json column; write `$1::text`
/// where the context gives no type, as in `$1 IS NULL`). The other cases carry
/// their type: int8, bool, float8, timestamptz (UTC), json, jsonb, bytea, uuid.
public enum PostgresValue: Sendable, Hashable {
    case null
    case text(String)
    case int(Int64)
    case bool(Bool)
    case double(Double)
    /// A point in time, sent as UTC. Stored into `timestamp without time zone`
    /// it becomes the naive UTC wall-clock time Mistral uses (the session time
    /// zone is UTC).
    case timestamp(Date)
    /// JSON text, typed `json` (assignable to `jsonb` columns too).
    case json(String)
    /// JSON text, typed `jsonb`.
    case jsonb(String)
    case bytes([UInt8])
    case uuid(UUID)

    /// An `Encodable` value as JSON text, typed `json`.
    public static func json(encoding value: some Encodable, encoder: JSONEncoder = JSONEncoder()) throws -> PostgresValue {
        let data: Data
        do {
            data = try encoder.encode(value)
        } catch {
            throw PostgresError(code: .invalidParameter, message: "cannot encode a \(type(of: value)) as JSON: \(error)")
        }
        return .json(String(decoding: data, as: UTF8.self))
    }

    /// A Swift value as a parameter; nil optionals become `.null`.
    public init(_ value: some PostgresEncodable) {
        self = value.postgresValue
    }
}

extension PostgresValue: ExpressibleByNilLiteral, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByFloatLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(stringLiteral value: String) { self = .text(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
}

extension PostgresValue {
    /// The parameter's type OID (0: let the server infer it) and text form
    /// (nil: SQL NULL).
    func encodedForLibPQ(position: Int) throws -> (typeOID: UInt32, text: String?) {
        func checked(_ text: String) throws -> String {
            // libpq takes C strings; PostgreSQL text cannot hold NUL either.
            guard !text.utf8.contains(0) else {
                throw PostgresError(
                    code: .invalidParameter,
                    message: "parameter $\(position) contains a NUL character, which PostgreSQL text cannot store"
                )
            }
            return text
        }
        switch self {
        case .null:
            return (0, nil)
        case .text(let text):
            return (0, try checked(text))
        case .int(let value):
            return (PostgresDataType.int8.oid, String(value))
        case .bool(let value):
            return (PostgresDataType.bool.oid, value ? "t" : "f")
        case .double(let value):
            let text: String
            if value.isNaN {
                text = "NaN"
            } else if value.isInfinite {
                text = value < 0 ? "-Infinity" : "Infinity"
            } else {
                text = "\(value)"  // shortest text that reads back as the same Double
            }
            return (PostgresDataType.float8.oid, text)
        case .timestamp(let date):
            guard let text = PostgresTimestamp.format(date) else {
                throw PostgresError(code: .invalidParameter, message: "parameter $\(position): date \(date) is out of PostgreSQL's range")
            }
            return (PostgresDataType.timestamptz.oid, text)
        case .json(let text):
            return (PostgresDataType.json.oid, try checked(text))
        case .jsonb(let text):
            return (PostgresDataType.jsonb.oid, try checked(text))
        case .bytes(let bytes):
            return (PostgresDataType.bytea.oid, PostgresBytea.hexText(bytes))
        case .uuid(let uuid):
            return (PostgresDataType.uuid.oid, uuid.uuidString.lowercased())
        }
    }
}

/// A Swift type that converts to a statement parameter.
public protocol PostgresEncodable {
    var postgresValue: PostgresValue { get }
}

extension String: PostgresEncodable {
    public var postgresValue: PostgresValue { .text(self) }
}

extension Substring: PostgresEncodable {
    public var postgresValue: PostgresValue { .text(String(self)) }
}

extension Int: PostgresEncodable {
    public var postgresValue: PostgresValue { .int(Int64(self)) }
}

extension Int64: PostgresEncodable {
    public var postgresValue: PostgresValue { .int(self) }
}

extension Int32: PostgresEncodable {
    public var postgresValue: PostgresValue { .int(Int64(self)) }
}

extension Bool: PostgresEncodable {
    public var postgresValue: PostgresValue { .bool(self) }
}

extension Double: PostgresEncodable {
    public var postgresValue: PostgresValue { .double(self) }
}

extension Date: PostgresEncodable {
    public var postgresValue: PostgresValue { .timestamp(self) }
}

extension UUID: PostgresEncodable {
    public var postgresValue: PostgresValue { .uuid(self) }
}

extension Data: PostgresEncodable {
    public var postgresValue: PostgresValue { .bytes([UInt8](self)) }
}

extension Array: PostgresEncodable where Element == UInt8 {
    public var postgresValue: PostgresValue { .bytes(self) }
}

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    public var postgresValue: PostgresValue { self?.postgresValue ?? .null }
}

extension PostgresValue: PostgresEncodable {
    public var postgresValue: PostgresValue { self }
}

/// bytea's text form: `\x` and two hex digits a byte.
enum PostgresBytea {
    private static let hexDigits = Array("0123456789abcdef".utf8)

    static func hexText(_ bytes: [UInt8]) -> String {
        var text: [UInt8] = [UInt8(ascii: "\\"), UInt8(ascii: "x")]
        text.reserveCapacity(2 + bytes.count * 2)
        for byte in bytes {
            text.append(hexDigits[Int(byte >> 4)])
            text.append(hexDigits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// Reads the hex form (the server's default `bytea_output`); nil for the
    /// old escape form or malformed text.
    static func bytes(fromHexText text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count >= 2, utf8[0] == UInt8(ascii: "\\"), utf8[1] == UInt8(ascii: "x"), utf8.count % 2 == 0 else {
            return nil
        }
        func nibble(_ character: UInt8) -> UInt8? {
            switch character {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity((utf8.count - 2) / 2)
        var index = 2
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }
}
