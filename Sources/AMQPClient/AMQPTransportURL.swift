/// One broker address with the credentials and virtual host to log in with.
/// Its description and mirror (`dump`, reflection) never show the password.
public struct AMQPEndpoint: Hashable, Sendable, CustomStringConvertible, CustomReflectable {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String
    public var virtualHost: String

    /// The default credentials when a URL names none, as kombu (oslo's driver) uses.
    public static let defaultUser = "guest"
    public static let defaultPassword = "guest"

    public init(
        host: String,
        port: Int = 5672,
        user: String = AMQPEndpoint.defaultUser,
        password: String = AMQPEndpoint.defaultPassword,
        virtualHost: String = "/"
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.virtualHost = virtualHost
    }

    public var customMirror: Mirror {
        Mirror(self, children: [
            "host": host, "port": port, "user": user, "password": "<redacted>", "virtualHost": virtualHost,
        ])
    }

    /// An AMQP URI without the password, e.g. `amqp://guest@127.0.0.1:5672/%2F`; safe to log.
    public var description: String {
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return "amqp://\(PercentEncoding.encode(user))@\(hostPart):\(port)/\(PercentEncoding.encode(virtualHost))"
    }
}

/// An oslo.messaging `transport_url` for RabbitMQ, parsed.
///
/// Accepted forms (oslo's `TransportURL` rules):
///
///     rabbit://user:pass@host:port/vhost
///     rabbit://u1:p1@h1:5672,u2:p2@h2:5673/vhost      several hosts, tried in turn
///     amqp://... and amqps://...                       amqps means TLS
///
/// * User names, passwords and the virtual host are percent-decoded
///   (`%40` is `@`, `%2F` is `/`). Credentials end at the host's last `@`;
///   the password starts after the first `:` of the credentials.
/// * A missing port is 5672 (5671 for `amqps`); missing credentials are
///   guest/guest.
/// * The virtual host is the path after the first `/`; an empty path or `/`
///   alone means the virtual host `/`.
/// * Query options (`?ssl=1&...`) are kept in ``options`` but not acted on.
///
/// Errors say what is wrong and where, and never repeat the password.
public struct AMQPTransportURL: Hashable, Sendable {
    /// The URL scheme, lower-cased: `rabbit`, `amqp` or `amqps`.
    public var scheme: String
    /// The hosts in the order they are to be tried.
    public var endpoints: [AMQPEndpoint]
    /// The virtual host (shared by all endpoints).
    public var virtualHost: String
    /// True for `amqps://`.
    public var usesTLS: Bool
    /// Query options, decoded; not interpreted by this module.
    public var options: [String: String]

    public init(_ string: String) throws {
        let invalid = { (message: String) in AMQPError(code: .invalidURL, message: message) }

        guard let schemeEnd = string.firstRange(of: "://") else {
            throw invalid("missing scheme (expected rabbit://, amqp:// or amqps://)")
        }
        let scheme = string[..<schemeEnd.lowerBound].lowercased()
        let defaultPort: Int
        switch scheme {
        case "rabbit", "amqp":
            defaultPort = 5672
        case "amqps":
            defaultPort = 5671
        case "":
            throw invalid("missing scheme (expected rabbit://, amqp:// or amqps://)")
        default:
            throw invalid("unsupported scheme '\(scheme)' (expected rabbit, amqp or amqps)")
        }

        var rest = string[schemeEnd.upperBound...]
        if let fragment = rest.firstIndex(of: "#") {
            rest = rest[..<fragment]
        }
        var options: [String: String] = [:]
        if let queryStart = rest.firstIndex(of: "?") {
            for item in rest[rest.index(after: queryStart)...].split(separator: "&") where !item.isEmpty {
                let pair = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let key = (try? PercentEncoding.decode(pair[0], plusIsSpace: true)) ?? String(pair[0])
                let value = pair.count > 1 ? ((try? PercentEncoding.decode(pair[1], plusIsSpace: true)) ?? String(pair[1])) : ""
                options[key] = value
            }
            rest = rest[..<queryStart]
        }

        let netloc: Substring
        let path: Substring
        if let slash = rest.firstIndex(of: "/") {
            netloc = rest[..<slash]
            path = rest[rest.index(after: slash)...]
        } else {
            netloc = rest
            path = ""
        }

        let virtualHost: String
        if path.isEmpty {
            virtualHost = "/"
        } else {
            do {
                virtualHost = try PercentEncoding.decode(path, plusIsSpace: false)
            } catch {
                throw invalid("invalid percent escape in the virtual host")
            }
        }

        guard !netloc.isEmpty else {
            throw invalid("no host")
        }
        let hostEntries = netloc.split(separator: ",", omittingEmptySubsequences: false)
        var endpoints: [AMQPEndpoint] = []
        for (index, entry) in hostEntries.enumerated() {
            let position = hostEntries.count == 1 ? "the host" : "host \(index + 1)"
            endpoints.append(try Self.parseHost(entry, position: position, defaultPort: defaultPort, virtualHost: virtualHost))
        }

        self.scheme = scheme
        self.endpoints = endpoints
        self.virtualHost = virtualHost
        self.usesTLS = scheme == "amqps"
        self.options = options
    }

    private static func parseHost(
        _ entry: Substring, position: String, defaultPort: Int, virtualHost: String
    ) throws -> AMQPEndpoint {
        let invalid = { (message: String) in AMQPError(code: .invalidURL, message: message) }
        guard !entry.isEmpty else {
            throw invalid("\(position) is empty")
        }

        var user = AMQPEndpoint.defaultUser
        var password = AMQPEndpoint.defaultPassword
        var hostAndPort = entry
        if let at = entry.lastIndex(of: "@") {
            let credentials = entry[..<at]
            hostAndPort = entry[entry.index(after: at)...]
            let rawUser: Substring
            let rawPassword: Substring
            if let colon = credentials.firstIndex(of: ":") {
                rawUser = credentials[..<colon]
                rawPassword = credentials[credentials.index(after: colon)...]
            } else {
                rawUser = credentials
                rawPassword = ""
            }
            do {
                user = try PercentEncoding.decode(rawUser, plusIsSpace: false)
            } catch {
                throw invalid("invalid percent escape in the user name of \(position)")
            }
            do {
                password = try PercentEncoding.decode(rawPassword, plusIsSpace: false)
            } catch {
                throw invalid("invalid percent escape in the password of \(position)")
            }
            guard !user.isEmpty else {
                throw invalid("empty user name in \(position)")
            }
        }

        var host: Substring
        var portText: Substring?
        if hostAndPort.hasPrefix("[") {
            guard let close = hostAndPort.firstIndex(of: "]") else {
                throw invalid("unterminated '[' in the address of \(position)")
            }
            host = hostAndPort[hostAndPort.index(after: hostAndPort.startIndex)..<close]
            let after = hostAndPort[hostAndPort.index(after: close)...]
            if after.hasPrefix(":") {
                portText = after.dropFirst()
            } else if !after.isEmpty {
                throw invalid("unexpected text after ']' in the address of \(position)")
            }
        } else if let colon = hostAndPort.lastIndex(of: ":") {
            host = hostAndPort[..<colon]
            portText = hostAndPort[hostAndPort.index(after: colon)...]
        } else {
            host = hostAndPort
        }
        guard !host.isEmpty else {
            throw invalid("missing host name in \(position)")
        }
        if host.contains(where: { $0 == " " || $0 == "/" || $0 == "@" }) {
            throw invalid("invalid character in the host name '\(host)' of \(position)")
        }

        var port = defaultPort
        if let portText {
            guard !portText.isEmpty, portText.allSatisfy(\.isASCIIDigitCharacter),
                  let value = Int(portText), (1...65535).contains(value)
            else {
                throw invalid("invalid port '\(portText)' in \(position) (expected 1-65535)")
            }
            port = value
        }

        return AMQPEndpoint(host: String(host), port: port, user: user, password: password, virtualHost: virtualHost)
    }
}

extension Character {
    fileprivate var isASCIIDigitCharacter: Bool {
        isASCII && isNumber
    }
}

/// RFC 3986 percent-encoding of URL components.
enum PercentEncoding {
    struct InvalidEscape: Error {}

    /// Decodes `%XX` escapes (and `+` as a space when asked, for query strings).
    /// Throws on a malformed escape or a result that is not UTF-8.
    static func decode(_ text: Substring, plusIsSpace: Bool) throws -> String {
        guard text.utf8.contains(where: { $0 == UInt8(ascii: "%") || (plusIsSpace && $0 == UInt8(ascii: "+")) }) else {
            return String(text)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    throw InvalidEscape()
                }
                bytes.append(high << 4 | low)
            case UInt8(ascii: "+") where plusIsSpace:
                bytes.append(UInt8(ascii: " "))
            default:
                bytes.append(byte)
            }
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw InvalidEscape()
        }
        return decoded
    }

    /// Encodes everything but RFC 3986 unreserved characters.
    static func encode(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let digits = Array("0123456789ABCDEF".unicodeScalars)
                result.unicodeScalars.append("%")
                result.unicodeScalars.append(digits[Int(byte >> 4)])
                result.unicodeScalars.append(digits[Int(byte & 0x0F)])
            }
        }
        return result
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
