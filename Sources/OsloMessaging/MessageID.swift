import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Cryptographically secure random bytes taken 4 KiB at a time:
/// `SystemRandomNumberGenerator` makes one `getrandom` call per 8 bytes,
/// and a worker makes several ids for every action it runs. (A forked child
/// would share the unread bytes; the worker's children exec at once.)
struct BufferedSystemRandom: RandomNumberGenerator {
    private static let pool = Mutex(Pool())

    private struct Pool {
        var bytes = [UInt8](repeating: 0, count: 4096)
        var used = 4096

        mutating func next() -> UInt64 {
            if used + 8 > bytes.count {
                refill()
            }
            var value: UInt64 = 0
            for index in used..<(used + 8) {
                value = value << 8 | UInt64(bytes[index])
            }
            used += 8
            return value
        }

        private mutating func refill() {
            var filled = 0
            #if canImport(Glibc)
            // glibc's arc4random_buf reads getrandom's source (a CSPRNG seeded by the kernel).
            bytes.withUnsafeMutableBytes { buffer in
                guard let base = buffer.baseAddress else { return }
                arc4random_buf(base, buffer.count)
                filled = buffer.count
            }
            #endif
            // Elsewhere the standard generator (the same system source) fills it.
            var system = SystemRandomNumberGenerator()
            while filled < bytes.count {
                let word = system.next() as UInt64
                for shift in stride(from: 0, to: 64, by: 8) where filled < bytes.count {
                    bytes[filled] = UInt8(truncatingIfNeeded: word >> shift)
                    filled += 1
                }
            }
            used = 0
        }
    }

    mutating func next() -> UInt64 {
        Self.pool.withLock { $0.next() }
    }
}

/// Identifiers in the formats oslo.messaging and Mistral use.
public enum MessageID {
    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// A random UUID (version 4) as 32 lowercase hex digits without dashes,
    /// like Python's `uuid.uuid4().hex`: the form of `_msg_id`, `_unique_id`
    /// and the suffix of `reply_<id>` queue names.
    public static func generate() -> String {
        var generator = BufferedSystemRandom()
        return generate(using: &generator)
    }

    /// ``generate()`` with a caller-supplied random source (for tests).
    public static func generate(using generator: inout some RandomNumberGenerator) -> String {
        let bytes = uuid4Bytes(using: &generator)
        return String(unsafeUninitializedCapacity: 32) { buffer in
            for (index, byte) in bytes.enumerated() {
                buffer[2 * index] = hexDigits[Int(byte >> 4)]
                buffer[2 * index + 1] = hexDigits[Int(byte & 0x0F)]
            }
            return 32
        }
    }

    /// A random UUID in the canonical dashed form (`8-4-4-4-12`), like `str(uuid.uuid4())`.
    public static func generateUUIDString() -> String {
        let hex = Array(generate().utf8)
        var text: [UInt8] = []
        text.reserveCapacity(36)
        for (index, digit) in hex.enumerated() {
            if index == 8 || index == 12 || index == 16 || index == 20 {
                text.append(UInt8(ascii: "-"))
            }
            text.append(digit)
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// A new oslo.context request id: `req-<uuid4>`.
    public static func generateRequestID() -> String {
        "req-" + generateUUIDString()
    }

    /// `true` for 32 lowercase hex digits (the shape of ``generate()``'s output).
    public static func isHexIdentifier(_ text: String) -> Bool {
        text.utf8.count == 32 && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    private static func uuid4Bytes(using generator: inout some RandomNumberGenerator) -> [UInt8] {
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<8 {
            bytes[index] = UInt8(truncatingIfNeeded: high >> (56 - 8 * index))
            bytes[8 + index] = UInt8(truncatingIfNeeded: low >> (56 - 8 * index))
        }
        bytes[6] = (bytes[6] & 0x0F) | 0x40  // version 4
        bytes[8] = (bytes[8] & 0x3F) | 0x80  // RFC 4122 variant
        return bytes
    }
}
