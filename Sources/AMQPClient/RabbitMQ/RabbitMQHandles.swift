import CRabbitMQ

/// Owns one librabbitmq connection (`amqp_connection_state_t`, and through
/// it the socket) and destroys it exactly once, in deinit. Used only on the
/// connection thread; librabbitmq forbids sharing a connection across threads.
final class RabbitMQConnectionHandle {
    let state: amqp_connection_state_t

    init() throws {
        guard let state = amqp_new_connection() else {
            throw AMQPError(code: .libraryError, message: "amqp_new_connection failed (out of memory)")
        }
        self.state = state
    }

    deinit {
        amqp_destroy_connection(state)
    }
}

/// Owns an `amqp_pool_t` used to build the C values of outgoing methods
/// (names, field tables, message properties) without per-call malloc: the
/// pool keeps its pages across `recycle()`. Connection thread only.
final class RabbitMQScratchPool {
    private let pool: UnsafeMutablePointer<amqp_pool_t>

    init(pageSize: Int = 16_384) {
        pool = .allocate(capacity: 1)
        init_amqp_pool(pool, pageSize)
    }

    deinit {
        empty_amqp_pool(pool)
        pool.deallocate()
    }

    /// The pool, for librabbitmq calls that allocate their results in it.
    var pointer: UnsafeMutablePointer<amqp_pool_t> { pool }

    /// Frees everything allocated since the last recycle (pages are kept).
    func recycle() {
        recycle_amqp_pool(pool)
    }

    func allocate<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        precondition(MemoryLayout<T>.alignment <= 8, "amqp_pool_alloc aligns to 8 bytes")
        guard let raw = amqp_pool_alloc(pool, MemoryLayout<T>.stride * count) else {
            fatalError("amqp_pool_alloc: out of memory")
        }
        return raw.bindMemory(to: T.self, capacity: count)
    }

    /// A copy of `text` (UTF-8, not NUL-terminated) valid until `recycle()`.
    func bytes(_ text: String) -> amqp_bytes_t {
        var text = text
        return text.withUTF8 { bytes(UnsafeRawBufferPointer($0)) }
    }

    /// A copy of `source` valid until `recycle()`.
    func bytes(_ source: UnsafeRawBufferPointer) -> amqp_bytes_t {
        guard source.count > 0, let base = source.baseAddress else {
            return amqp_bytes_t(len: 0, bytes: nil)
        }
        let destination = allocate(UInt8.self, count: source.count)
        destination.update(from: base.assumingMemoryBound(to: UInt8.self), count: source.count)
        return amqp_bytes_t(len: source.count, bytes: UnsafeMutableRawPointer(destination))
    }

    func bytes(_ source: [UInt8]) -> amqp_bytes_t {
        source.withUnsafeBytes { bytes($0) }
    }
}

extension amqp_bytes_t {
    /// The bytes as text (invalid UTF-8 is repaired, never trapped on).
    var string: String {
        guard len > 0, let bytes else {
            return ""
        }
        return String(decoding: UnsafeRawBufferPointer(start: bytes, count: len), as: UTF8.self)
    }

    var rawBuffer: UnsafeRawBufferPointer {
        guard len > 0, let bytes else {
            return UnsafeRawBufferPointer(start: nil, count: 0)
        }
        return UnsafeRawBufferPointer(start: bytes, count: len)
    }

    var byteArray: [UInt8] {
        [UInt8](rawBuffer)
    }

    /// Whether the bytes equal `text` (without building a String).
    func equals(_ text: StaticString) -> Bool {
        let buffer = rawBuffer
        guard buffer.count == text.utf8CodeUnitCount else {
            return false
        }
        return buffer.elementsEqual(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }
}

extension Bool {
    var amqpBoolean: amqp_boolean_t { self ? 1 : 0 }
}

/// librabbitmq status codes as readable text.
enum RabbitMQStatus {
    static func message(_ status: Int32) -> String {
        String(cString: amqp_error_string2(status))
    }

    static let ok = AMQP_STATUS_OK.rawValue
    static let timeout = AMQP_STATUS_TIMEOUT.rawValue
}
