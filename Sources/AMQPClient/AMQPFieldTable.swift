/// An AMQP 0-9-1 decimal: `value` × 10^-`scale`.
public struct AMQPDecimal: Hashable, Sendable {
    public var scale: UInt8
    public var value: UInt32

    public init(scale: UInt8, value: UInt32) {
        self.scale = scale
        self.value = value
    }
}

/// A value in an AMQP field table or field array, with the field types
/// RabbitMQ uses (its 0-9-1 dialect: `s` is a signed 16-bit integer).
///
/// Literals pick the usual types: integers become ``int64(_:)`` (what
/// RabbitMQ expects for `x-expires`, `x-message-ttl`, ...), strings
/// ``string(_:)``, booleans ``boolean(_:)``, floating point ``double(_:)``.
public enum AMQPFieldValue: Hashable, Sendable {
    case boolean(Bool)
    case int8(Int8)
    case uint8(UInt8)
    case int16(Int16)
    case uint16(UInt16)
    case int32(Int32)
    case uint32(UInt32)
    case int64(Int64)
    case uint64(UInt64)
    case float(Float)
    case double(Double)
    case decimal(AMQPDecimal)
    /// A long string (`S`) holding UTF-8 text. A received long string that is
    /// not valid UTF-8 arrives as ``bytes(_:)``.
    case string(String)
    /// A byte array (`x`).
    case bytes([UInt8])
    /// Seconds since the Unix epoch (`T`).
    case timestamp(UInt64)
    case table(AMQPFieldTable)
    case array([AMQPFieldValue])
    /// No value (`V`).
    case void

    /// The value as a signed integer, whatever its integer width.
    public var integerValue: Int64? {
        switch self {
        case .int8(let value): Int64(value)
        case .uint8(let value): Int64(value)
        case .int16(let value): Int64(value)
        case .uint16(let value): Int64(value)
        case .int32(let value): Int64(value)
        case .uint32(let value): Int64(value)
        case .int64(let value): value
        case .uint64(let value): Int64(exactly: value)
        default: nil
        }
    }

    /// The value as text, when it is a string (or UTF-8 bytes).
    public var stringValue: String? {
        switch self {
        case .string(let value): value
        case .bytes(let value): String(validating: value, as: UTF8.self)
        default: nil
        }
    }
}

extension AMQPFieldValue: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) {
        self = .string(value)
    }
}

extension AMQPFieldValue: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: Int64) {
        self = .int64(value)
    }
}

extension AMQPFieldValue: ExpressibleByBooleanLiteral {
    public init(booleanLiteral value: Bool) {
        self = .boolean(value)
    }
}

extension AMQPFieldValue: ExpressibleByFloatLiteral {
    public init(floatLiteral value: Double) {
        self = .double(value)
    }
}

extension AMQPFieldValue: ExpressibleByArrayLiteral {
    public init(arrayLiteral elements: AMQPFieldValue...) {
        self = .array(elements)
    }
}

extension AMQPFieldValue: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, AMQPFieldValue)...) {
        self = .table(AMQPFieldTable(elements.map { AMQPFieldTable.Entry(key: $0.0, value: $0.1) }))
    }
}

/// An AMQP field table: ordered entries of a short-string key and a value.
/// Used for queue, exchange, binding and consumer arguments and for message
/// headers. Keys are unique in practice; ``subscript(_:)`` uses the first
/// entry with a key and replaces or appends on assignment.
public struct AMQPFieldTable: Hashable, Sendable, ExpressibleByDictionaryLiteral, RandomAccessCollection {
    public struct Entry: Hashable, Sendable {
        public var key: String
        public var value: AMQPFieldValue

        public init(key: String, value: AMQPFieldValue) {
            self.key = key
            self.value = value
        }
    }

    public private(set) var entries: [Entry]

    public init() {
        entries = []
    }

    public init(_ entries: [Entry]) {
        self.entries = entries
    }

    public init(dictionaryLiteral elements: (String, AMQPFieldValue)...) {
        entries = elements.map { Entry(key: $0.0, value: $0.1) }
    }

    public var startIndex: Int { entries.startIndex }
    public var endIndex: Int { entries.endIndex }

    public subscript(position: Int) -> Entry {
        entries[position]
    }

    /// The value of the first entry named `key`; assigning `nil` removes all entries named `key`.
    public subscript(key: String) -> AMQPFieldValue? {
        get {
            entries.first { $0.key == key }?.value
        }
        set {
            if let newValue {
                if let index = entries.firstIndex(where: { $0.key == key }) {
                    entries[index].value = newValue
                } else {
                    entries.append(Entry(key: key, value: newValue))
                }
            } else {
                entries.removeAll { $0.key == key }
            }
        }
    }
}
