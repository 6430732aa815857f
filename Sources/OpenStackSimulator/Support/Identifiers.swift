import Foundation

/// Identifier shapes the real services use, so clients that validate them are exercised.
enum Identifiers {
    /// A Nova/Cinder/Glance/Trove id: a lowercase UUID with dashes.
    static func uuid() -> String {
        UUID().uuidString.lowercased()
    }

    /// A Keystone id: 32 lowercase hex digits.
    static func keystoneID() -> String {
        UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
    }

    /// A token id shaped like a Fernet token (`gAAAAAB…`, URL-safe base64, ~180 characters).
    static func token() -> String {
        "gAAAAAB" + urlSafeBase64(randomBytes(128))
    }

    /// A Keystone audit id: 22 characters of URL-safe base64.
    static func auditID() -> String {
        String(urlSafeBase64(randomBytes(16)).prefix(22))
    }

    /// A stable 32-hex id derived from `text` (catalog service and endpoint ids stay the
    /// same across restarts, which keeps logs and README output reproducible).
    static func stableKeystoneID(_ text: String) -> String {
        var first: UInt64 = 0xcbf2_9ce4_8422_2325
        var second: UInt64 = 0x8422_2325_cbf2_9ce4
        for byte in text.utf8 {
            first = (first ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
            second = (second ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 &+ 0x9e37_79b9
        }
        return hex(first) + hex(second)
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    private static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    private static func urlSafeBase64(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
