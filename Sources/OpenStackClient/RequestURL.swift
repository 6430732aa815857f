/// Building the URL of a call from an endpoint, a path and a query.
enum RequestURL {
    /// `endpoint` + `path` + the encoded `query`. The path may already carry
    /// a query (Glance's `next` links); the parameters are then appended
    /// with `&`. Characters a URL can never hold (spaces, quotes, non-ASCII)
    /// are percent-encoded in the path; everything else is kept as given.
    static func make(endpoint: String, path: String, query: [(name: String, value: String)]) -> String {
        var url = endpoint
        if !path.isEmpty {
            if !path.hasPrefix("/") && !path.hasPrefix("?") { url += "/" }
            url += encodeIllegalCharacters(path)
        }
        guard !query.isEmpty else { return url }
        let encoded = encodeQuery(query)
        if let questionMark = url.firstIndex(of: "?") {
            let existing = url[url.index(after: questionMark)...]
            if !existing.isEmpty && !existing.hasSuffix("&") { url += "&" }
        } else {
            url += "?"
        }
        return url + encoded
    }

    /// `a=1&b=x%20y`, names and values percent-encoded outside RFC 3986's
    /// unreserved set.
    static func encodeQuery(_ query: [(name: String, value: String)]) -> String {
        query.map { "\(percentEncode($0.name))=\(percentEncode($0.value))" }.joined(separator: "&")
    }

    /// Percent-encodes every byte outside `A-Z a-z 0-9 - . _ ~`.
    static func percentEncode(_ text: String) -> String {
        encode(text) { isUnreserved($0) }
    }

    private static func encodeIllegalCharacters(_ path: String) -> String {
        // Reserved characters (`/?&=:@!$'()*+,;`) and `%` (already encoded
        // text) keep their meaning; only what no URL may contain is encoded.
        encode(path) { byte in
            isUnreserved(byte) || "%/?#[]@!$&'()*+,;=:".utf8.contains(byte)
        }
    }

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
            UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    private static func encode(_ text: String, keeping keep: (UInt8) -> Bool) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if keep(byte) {
                bytes.append(byte)
            } else {
                bytes.append(UInt8(ascii: "%"))
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `host:port` of an absolute URL (default ports filled in), for the
    /// per-service request limit and for messages.
    static func hostAndPort(of url: String) -> String {
        guard let schemeEnd = url.firstRange(of: "://") else { return url }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        let rest = url[schemeEnd.upperBound...]
        var authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if let at = authority.lastIndex(of: "@") {
            authority = authority[authority.index(after: at)...]
        }
        let hasPort: Bool
        if authority.hasPrefix("[") {
            hasPort = authority.contains("]:")
        } else {
            hasPort = authority.contains(":")
        }
        if hasPort { return String(authority) }
        return "\(authority):\(scheme == "https" ? 443 : 80)"
    }
}

/// Keystone URLs from a configured auth URL.
enum IdentityURL {
    /// `{auth}/v3/{path}` for an auth URL with or without `/v3` and
    /// trailing slashes: `http://h:5000`, `http://h:5000/`, `http://h:5000/v3`,
    /// `http://h/identity/v3` all work.
    static func make(authURL: String, path: String) -> String {
        var base = authURL.trimmingWhitespace()
        while base.hasSuffix("/") { base.removeLast() }
        if !base.hasSuffix("/v3") { base += "/v3" }
        return base + "/" + path.drop { $0 == "/" }
    }
}
