#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A Swift type a column value decodes to. Non-optional types reject NULL;
/// `Optional` decodes NULL as nil.
public protocol PostgresDecodable {
    static func decode(from cell: PostgresCell) throws(PostgresError) -> Self
}

extension PostgresCell {
    /// The text of a non-NULL value whose column type is one of `accepted`
    /// (empty: any type), or a decoding error naming the column.
    func requireText(as swiftType: Any.Type, accepting accepted: Set<PostgresDataType> = []) throws(PostgresError) -> String {
        guard let text else {
            throw decodingError(swiftType, reason: "the value is NULL (decode as \(swiftType)? to accept NULL)")
        }
        guard accepted.isEmpty || accepted.contains(column.dataType) else {
            throw decodingError(swiftType, reason: "the column's type does not convert to \(swiftType)")
        }
        return text
    }

    /// Decodes a json, jsonb or text value into a `Decodable` type.
    public func decodeJSON<Value: Decodable>(_ type: Value.Type, decoder: JSONDecoder = JSONDecoder()) throws(PostgresError) -> Value {
        let text = try requireText(as: type, accepting: PostgresCell.jsonTypes)
        do {
            return try decoder.decode(type, from: Data(text.utf8))
        } catch {
            throw decodingError(type, reason: "invalid JSON for this type: \(error)")
        }
    }

    static let jsonTypes: Set<PostgresDataType> = [.json, .jsonb, .text, .varchar, .unknown]
    static let integerTypes: Set<PostgresDataType> = [.int2, .int4, .int8, .oidType, .numeric]
    static let dateTypes: Set<PostgresDataType> = [.timestamp, .timestamptz, .date]
    /// Types whose text form is not a string value: decoding them as `String`
    /// is a mistake worth an error. (Enums, domains and extension types have
    /// other OIDs and decode as `String`; so does `numeric`, to keep its digits.)
    static let nonStringTypes: Set<PostgresDataType> = [
        .bool, .bytea, .int2, .int4, .int8, .float4, .float8, .date, .time, .timestamp, .timestamptz, .interval,
    ]
}

extension String: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws(PostgresError) -> String {
        let text = try cell.requireText(as: String.self)
        guard !PostgresCell.nonStringTypes.contains(cell.column.dataType) else {
            throw cell.decodingError(String.self, reason: "the column's type does not convert to String")
        }
        return text
    }
}

extension Int64: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws(PostgresError) -> Int64 {
        let text = try cell.requireText(as: Int64.self, accepting: PostgresCell.integerTypes)
        guard let value = Int64(text) else {
            throw cell.decodingError(Int64.self, reason: "\"\(text)\" is not a 64-bit integer")
        }
        return value
    }
}

extension Int: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws(PostgresError) -> Int {
        let value = try Int64.decode(from: cell)
        guard let result = Int(exactly: value) else {
            throw cell.decodingError(Int.self, reason: "\(value) is out of range")
        }
        return result
    }
}

extension Int32: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws(PostgresError) -> Int32 {
        let value = try Int64.decode(from: cell)
        guard let result = Int32(exactly: value) else {
            throw cell.decodingError(Int32.self, reason: "\(value) is out of range")
        }
        return result
    }
}

extension Bool: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws(PostgresError) -> Bool {
        switch try cell.requireText(as: Bool.self, accepting: [.bool]) {
        case "t", "true": return true
        case "f", "false": return false
        case let text: throw cell.decodingError(Bool.self, reason: "\"\(text)\" is not a boolean")
        }
    }
}

extension Double: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws(PostgresError) -> Double {
        let text = try cell.requireText(as: Double.self, accepting: [.float4, .float8, .numeric, .int2, .int4, .int8])
        // float8 prints "Infinity", "-Infinity" and "NaN", which Double(_:) reads.
        guard let value = Double(text) else {
            throw cell.decodingError(Double.self, reason: "\"\(text)\" is not a number")
        }
        return value
    }
}

extension Decimal: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws(PostgresError) -> Decimal {
        let text = try cell.requireText(as: Decimal.self, accepting: [.numeric, .int2, .int4, .int8])
        guard let value = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")) else {
            throw cell.decodingError(Decimal.self, reason: "\"\(text)\" is not a decimal number")
        }
        return value
    }
}

extension Date: PostgresDecodable {
    /// `timestamp without time zone` is read as UTC (Mistral stores naive UTC);
    /// `timestamptz` by its offset; `date` as midnight UTC. `infinity` is an error.
    public static func decode(from cell: PostgresCell) throws(PostgresError) -> Date {
        let text = try cell.requireText(as: Date.self, accepting: PostgresCell.dateTypes)
        guard let date = PostgresTimestamp.parse(text) else {
            throw cell.decodingError(Date.self, reason: "\"\(text)\" is not an ISO timestamp Date can hold")
        }
        return date
    }
}

extension UUID: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws(PostgresError) -> UUID {
        let text = try cell.requireText(as: UUID.self, accepting: [.uuid, .text, .varchar, .bpchar])
        guard let uuid = UUID(uuidString: text) else {
            throw cell.decodingError(UUID.self, reason: "\"\(text)\" is not a UUID")
        }
        return uuid
    }
}

extension Array: PostgresDecodable where Element == UInt8 {
    public static func decode(from cell: PostgresCell) throws(PostgresError) -> [UInt8] {
        let text = try cell.requireText(as: [UInt8].self, accepting: [.bytea])
        guard let bytes = PostgresBytea.bytes(fromHexText: text) else {
            throw cell.decodingError([UInt8].self, reason: "not bytea hex output (is bytea_output 'escape'?)")
        }
        return bytes
    }
}

extension Data: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws(PostgresError) -> Data {
        Data(try [UInt8].decode(from: cell))
    }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws(PostgresError) -> Wrapped? {
        cell.isNull ? nil : try Wrapped.decode(from: cell)
    }
}
