import CRabbitMQ

// Conversions between the public Swift values and librabbitmq's C structs.
// C → Swift copies everything (the C memory belongs to librabbitmq's pools
// and is recycled after each frame); Swift → C allocates in a scratch pool.

extension AMQPFieldTable {
    init(_ table: amqp_table_t) {
        var entries: [Entry] = []
        let count = Int(table.num_entries)
        if count > 0, let base = table.entries {
            entries.reserveCapacity(count)
            for index in 0..<count {
                let entry = base[index]
                entries.append(Entry(key: entry.key.string, value: AMQPFieldValue(entry.value)))
            }
        }
        self.init(entries)
    }

    /// The C form, allocated in `pool` (valid until the pool is recycled).
    func cTable(in pool: RabbitMQScratchPool) -> amqp_table_t {
        guard !entries.isEmpty else {
            return amqp_table_t(num_entries: 0, entries: nil)
        }
        let base = pool.allocate(amqp_table_entry_t.self, count: entries.count)
        for (index, entry) in entries.enumerated() {
            (base + index).initialize(to: amqp_table_entry_t(key: pool.bytes(entry.key), value: entry.value.cValue(in: pool)))
        }
        return amqp_table_t(num_entries: Int32(entries.count), entries: base)
    }
}

extension AMQPFieldValue {
    private static func kind(_ kind: amqp_field_value_kind_t) -> UInt8 {
        UInt8(kind.rawValue)
    }

    init(_ value: amqp_field_value_t) {
        let payload = value.value
        switch UInt32(value.kind) {
        case AMQP_FIELD_KIND_BOOLEAN.rawValue: self = .boolean(payload.boolean != 0)
        case AMQP_FIELD_KIND_I8.rawValue: self = .int8(payload.i8)
        case AMQP_FIELD_KIND_U8.rawValue: self = .uint8(payload.u8)
        case AMQP_FIELD_KIND_I16.rawValue: self = .int16(payload.i16)
        case AMQP_FIELD_KIND_U16.rawValue: self = .uint16(payload.u16)
        case AMQP_FIELD_KIND_I32.rawValue: self = .int32(payload.i32)
        case AMQP_FIELD_KIND_U32.rawValue: self = .uint32(payload.u32)
        case AMQP_FIELD_KIND_I64.rawValue: self = .int64(payload.i64)
        case AMQP_FIELD_KIND_U64.rawValue: self = .uint64(payload.u64)
        case AMQP_FIELD_KIND_F32.rawValue: self = .float(payload.f32)
        case AMQP_FIELD_KIND_F64.rawValue: self = .double(payload.f64)
        case AMQP_FIELD_KIND_DECIMAL.rawValue:
            self = .decimal(AMQPDecimal(scale: payload.decimal.decimals, value: payload.decimal.value))
        case AMQP_FIELD_KIND_UTF8.rawValue:
            let buffer = payload.bytes.rawBuffer
            if let text = String(validating: buffer, as: UTF8.self) {
                self = .string(text)
            } else {
                self = .bytes([UInt8](buffer))
            }
        case AMQP_FIELD_KIND_BYTES.rawValue: self = .bytes(payload.bytes.byteArray)
        case AMQP_FIELD_KIND_TIMESTAMP.rawValue: self = .timestamp(payload.u64)
        case AMQP_FIELD_KIND_TABLE.rawValue: self = .table(AMQPFieldTable(payload.table))
        case AMQP_FIELD_KIND_ARRAY.rawValue:
            let array = payload.array
            var elements: [AMQPFieldValue] = []
            if array.num_entries > 0, let base = array.entries {
                elements.reserveCapacity(Int(array.num_entries))
                for index in 0..<Int(array.num_entries) {
                    elements.append(AMQPFieldValue(base[index]))
                }
            }
            self = .array(elements)
        default:
            // AMQP_FIELD_KIND_VOID, and kinds librabbitmq cannot decode anyway.
            self = .void
        }
    }

    /// The C form, allocated in `pool` (valid until the pool is recycled).
    func cValue(in pool: RabbitMQScratchPool) -> amqp_field_value_t {
        typealias Payload = amqp_field_value_t.__Unnamed_union_value
        let kind: amqp_field_value_kind_t
        var payload = Payload()
        switch self {
        case .boolean(let value): kind = AMQP_FIELD_KIND_BOOLEAN; payload.boolean = value.amqpBoolean
        case .int8(let value): kind = AMQP_FIELD_KIND_I8; payload.i8 = value
        case .uint8(let value): kind = AMQP_FIELD_KIND_U8; payload.u8 = value
        case .int16(let value): kind = AMQP_FIELD_KIND_I16; payload.i16 = value
        case .uint16(let value): kind = AMQP_FIELD_KIND_U16; payload.u16 = value
        case .int32(let value): kind = AMQP_FIELD_KIND_I32; payload.i32 = value
        case .uint32(let value): kind = AMQP_FIELD_KIND_U32; payload.u32 = value
        case .int64(let value): kind = AMQP_FIELD_KIND_I64; payload.i64 = value
        case .uint64(let value): kind = AMQP_FIELD_KIND_U64; payload.u64 = value
        case .float(let value): kind = AMQP_FIELD_KIND_F32; payload.f32 = value
        case .double(let value): kind = AMQP_FIELD_KIND_F64; payload.f64 = value
        case .decimal(let value):
            kind = AMQP_FIELD_KIND_DECIMAL
            payload.decimal = amqp_decimal_t(decimals: value.scale, value: value.value)
        case .string(let value): kind = AMQP_FIELD_KIND_UTF8; payload.bytes = pool.bytes(value)
        case .bytes(let value): kind = AMQP_FIELD_KIND_BYTES; payload.bytes = pool.bytes(value)
        case .timestamp(let value): kind = AMQP_FIELD_KIND_TIMESTAMP; payload.u64 = value
        case .table(let value): kind = AMQP_FIELD_KIND_TABLE; payload.table = value.cTable(in: pool)
        case .array(let elements):
            kind = AMQP_FIELD_KIND_ARRAY
            if elements.isEmpty {
                payload.array = amqp_array_t(num_entries: 0, entries: nil)
            } else {
                let base = pool.allocate(amqp_field_value_t.self, count: elements.count)
                for (index, element) in elements.enumerated() {
                    (base + index).initialize(to: element.cValue(in: pool))
                }
                payload.array = amqp_array_t(num_entries: Int32(elements.count), entries: base)
            }
        case .void: kind = AMQP_FIELD_KIND_VOID
        }
        return amqp_field_value_t(kind: Self.kind(kind), value: payload)
    }
}

/// The header a mandatory publish carries so that a basic.return can be
/// matched with its publish: the publish sequence number on the confirm channel.
let publishSequenceHeader = "x-mistral-actions-seq"

extension AMQPMessageProperties {
    init(_ properties: amqp_basic_properties_t) {
        let flags = properties._flags
        func has(_ flag: Int32) -> Bool {
            flags & amqp_flags_t(flag) != 0
        }
        self.init()
        if has(AMQP_BASIC_CONTENT_TYPE_FLAG) { contentType = properties.content_type.string }
        if has(AMQP_BASIC_CONTENT_ENCODING_FLAG) { contentEncoding = properties.content_encoding.string }
        if has(AMQP_BASIC_HEADERS_FLAG) { headers = AMQPFieldTable(properties.headers) }
        if has(AMQP_BASIC_DELIVERY_MODE_FLAG) { deliveryMode = DeliveryMode(rawValue: properties.delivery_mode) }
        if has(AMQP_BASIC_PRIORITY_FLAG) { priority = properties.priority }
        if has(AMQP_BASIC_CORRELATION_ID_FLAG) { correlationID = properties.correlation_id.string }
        if has(AMQP_BASIC_REPLY_TO_FLAG) { replyTo = properties.reply_to.string }
        if has(AMQP_BASIC_EXPIRATION_FLAG) { expiration = properties.expiration.string }
        if has(AMQP_BASIC_MESSAGE_ID_FLAG) { messageID = properties.message_id.string }
        if has(AMQP_BASIC_TIMESTAMP_FLAG) { timestamp = properties.timestamp }
        if has(AMQP_BASIC_TYPE_FLAG) { type = properties.type.string }
        if has(AMQP_BASIC_USER_ID_FLAG) { userID = properties.user_id.string }
        if has(AMQP_BASIC_APP_ID_FLAG) { appID = properties.app_id.string }
    }

    /// The C form, allocated in `pool`. With `sequence`, the headers also
    /// carry ``publishSequenceHeader``.
    func cProperties(in pool: RabbitMQScratchPool, sequence: UInt64?) -> amqp_basic_properties_t {
        var properties = amqp_basic_properties_t()
        var flags: Int32 = 0
        if let contentType { properties.content_type = pool.bytes(contentType); flags |= AMQP_BASIC_CONTENT_TYPE_FLAG }
        if let contentEncoding { properties.content_encoding = pool.bytes(contentEncoding); flags |= AMQP_BASIC_CONTENT_ENCODING_FLAG }
        if let sequence {
            var table = headers ?? AMQPFieldTable()
            table[publishSequenceHeader] = .int64(Int64(truncatingIfNeeded: sequence))
            properties.headers = table.cTable(in: pool)
            flags |= AMQP_BASIC_HEADERS_FLAG
        } else if let headers {
            properties.headers = headers.cTable(in: pool)
            flags |= AMQP_BASIC_HEADERS_FLAG
        }
        if let deliveryMode { properties.delivery_mode = deliveryMode.rawValue; flags |= AMQP_BASIC_DELIVERY_MODE_FLAG }
        if let priority { properties.priority = priority; flags |= AMQP_BASIC_PRIORITY_FLAG }
        if let correlationID { properties.correlation_id = pool.bytes(correlationID); flags |= AMQP_BASIC_CORRELATION_ID_FLAG }
        if let replyTo { properties.reply_to = pool.bytes(replyTo); flags |= AMQP_BASIC_REPLY_TO_FLAG }
        if let expiration { properties.expiration = pool.bytes(expiration); flags |= AMQP_BASIC_EXPIRATION_FLAG }
        if let messageID { properties.message_id = pool.bytes(messageID); flags |= AMQP_BASIC_MESSAGE_ID_FLAG }
        if let timestamp { properties.timestamp = timestamp; flags |= AMQP_BASIC_TIMESTAMP_FLAG }
        if let type { properties.type = pool.bytes(type); flags |= AMQP_BASIC_TYPE_FLAG }
        if let userID { properties.user_id = pool.bytes(userID); flags |= AMQP_BASIC_USER_ID_FLAG }
        if let appID { properties.app_id = pool.bytes(appID); flags |= AMQP_BASIC_APP_ID_FLAG }
        properties._flags = amqp_flags_t(flags)
        return properties
    }
}

extension amqp_basic_properties_t {
    /// The value of ``publishSequenceHeader``, read straight from the C table.
    var publishSequence: UInt64? {
        guard _flags & amqp_flags_t(AMQP_BASIC_HEADERS_FLAG) != 0, headers.num_entries > 0, let base = headers.entries else {
            return nil
        }
        for index in 0..<Int(headers.num_entries) where base[index].key.equals("x-mistral-actions-seq") {
            guard let value = AMQPFieldValue(base[index].value).integerValue, value >= 0 else {
                return nil
            }
            return UInt64(value)
        }
        return nil
    }
}

extension AMQPFieldTable {
    /// The table after a trip through librabbitmq: converted to
    /// `amqp_table_t`, encoded to AMQP wire format (`amqp_encode_table`),
    /// decoded again (`amqp_decode_table`) and converted back. For tests.
    func roundTripThroughLibrabbitmq() throws -> AMQPFieldTable {
        let pool = RabbitMQScratchPool()
        var table = cTable(in: pool)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        return try buffer.withUnsafeMutableBytes { raw in
            var offset = 0
            let encoded = amqp_bytes_t(len: raw.count, bytes: raw.baseAddress)
            var status = amqp_encode_table(encoded, &table, &offset)
            guard status == RabbitMQStatus.ok else {
                throw AMQPError(code: .libraryError, message: "amqp_encode_table", libraryStatus: status, libraryMessage: RabbitMQStatus.message(status))
            }
            let length = offset
            offset = 0
            var decoded = amqp_table_t()
            status = amqp_decode_table(amqp_bytes_t(len: length, bytes: raw.baseAddress), pool.pointer, &decoded, &offset)
            guard status == RabbitMQStatus.ok, offset == length else {
                throw AMQPError(code: .libraryError, message: "amqp_decode_table", libraryStatus: status, libraryMessage: RabbitMQStatus.message(status))
            }
            return AMQPFieldTable(decoded)
        }
    }
}
