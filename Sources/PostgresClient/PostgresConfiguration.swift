#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SystemSupport

/// Where and how to connect: the parts of a PostgreSQL URL, as libpq
/// connection parameters.
///
/// Build one from the SQLAlchemy URL of Mistral's `[database] connection`
/// with ``init(url:)``, or field by field. ``description`` shows the
/// configuration as a URL with the password replaced by `***`.
public struct PostgresConfiguration: Sendable, Equatable, CustomStringConvertible {
    /// Host name, IP address, or the directory of a Unix-domain socket (starts
    /// with `/`). nil: libpq's default (the local socket directory).
    public var host: String?
    /// TCP port (also the socket file's suffix). nil: libpq's default, 5432.
    public var port: Int?
    /// Role name. nil: libpq's default (the operating-system user).
    public var user: String?
    /// Password. Never logged and never part of an error.
    public var password: String?
    /// Database name. nil: libpq's default (the role's name).
    public var database: String?
    /// Further libpq connection parameters (`sslmode`, `sslrootcert`,
    /// `connect_timeout`, `application_name`, ...), passed as they are.
    /// `client_encoding` is always UTF8 and cannot be changed here.
    public var options: [String: String]
    /// What ``init(url:)`` ignored or changed, one sentence each (for debug logs).
    public var notes: [String]

    /// The `connect_timeout` used when the options set none: libpq's own
    /// default is to wait as long as the operating system does.
    public static let defaultConnectTimeoutSeconds = 10

    public init(
        host: String? = nil,
        port: Int? = nil,
        user: String? = nil,
        password: String? = nil,
        database: String? = nil,
        options: [String: String] = [:]
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.options = options
        self.notes = []
    }

    /// `host:port` (or the socket directory and port) for messages.
    public var serverAddress: String {
        let host = host ?? "(default socket directory)"
        let port = port.map(String.init) ?? "5432"
        if host.hasPrefix("/") {
            return "\(host) (Unix socket, port \(port))"
        }
        if host.contains(":") && !host.contains(",") {
            return "[\(host)]:\(port)"
        }
        return "\(host):\(port)"
    }

    /// The configuration as a URL whose password is `***`.
    public var description: String {
        var text = "postgresql://"
        if let user {
            text += Self.escapeURLComponent(user)
            if password != nil { text += ":***" }
            text += "@"
        }
        if let host, !host.hasPrefix("/") {
            text += host.contains(":") ? "[\(host)]" : host
        }
        if let port { text += ":\(port)" }
        text += "/"
        if let database { text += Self.escapeURLComponent(database) }
        var query: [String] = []
        if let host, host.hasPrefix("/") { query.append("host=\(host)") }
        for key in options.keys.sorted() {
            let value = key == "password" || key == "sslpassword" ? "***" : options[key] ?? ""
            query.append("\(key)=\(value)")
        }
        if !query.isEmpty { text += "?" + query.joined(separator: "&") }
        return text
    }

    public static func == (lhs: PostgresConfiguration, rhs: PostgresConfiguration) -> Bool {
        lhs.host == rhs.host && lhs.port == rhs.port && lhs.user == rhs.user
            && lhs.password == rhs.password && lhs.database == rhs.database && lhs.options == rhs.options
    }

    /// Percent-escapes every byte of the UTF-8 form but ASCII letters, digits and `-._~`.
    private static func escapeURLComponent(_ text: String) -> String {
        let hex: [UInt8] = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                bytes.append(byte)
            default:
                bytes += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

// MARK: - URL parsing

extension PostgresConfiguration {
    /// The dialect names accepted before `://` (and before `+driver`).
    static let acceptedDialects: Set<String> = ["postgresql", "postgres"]

    /// Options SQLAlchemy or its drivers take from the URL that mean nothing to libpq.
    private static let sqlalchemyOnlyOptionReasons: [String: String] = [
        "charset": "a MySQL/SQLAlchemy option; PostgresClient always talks UTF-8",
        "encoding": "a SQLAlchemy option; PostgresClient always talks UTF-8",
        "use_native_unicode": "a psycopg2-dialect option",
        "executemany_mode": "a psycopg2-dialect option",
        "executemany_batch_page_size": "a psycopg2-dialect option",
        "executemany_values_page_size": "a psycopg2-dialect option",
        "async_fallback": "a SQLAlchemy asyncio option",
        "prepared_statement_cache_size": "an asyncpg-dialect option",
        "plugin": "a SQLAlchemy engine-plugin option",
    ]

    /// Parses a SQLAlchemy database URL as Mistral's `[database] connection` holds it:
    ///
    ///     postgresql://user:pass@host:5432/mistral
    ///     postgresql+psycopg2://user:p%40ss@db.example/mistral?sslmode=verify-full&sslrootcert=/etc/ca.pem
    ///     postgres://user@/mistral?host=/var/run/postgresql
    ///
    /// User, password, host and database may be percent-escaped. Query options
    /// that are libpq connection parameters are kept in ``options`` (`host`,
    /// `port`, `user`, `password` and `dbname` fill the fields instead); the
    /// others — SQLAlchemy's and its drivers' — are dropped, with a line in
    /// ``notes`` each. `client_encoding` is noted and ignored: the client
    /// always uses UTF8.
    ///
    /// - Throws: `PostgresError` with code `.invalidURL` for URLs that are not
    ///   PostgreSQL URLs (`mysql+pymysql://`, `sqlite://`) or cannot be parsed.
    ///   The message shows the URL with its password replaced by `***`.
    public init(url: String) throws {
        self.init()
        let redacted = Self.redactingPassword(in: url)
        func invalid(_ reason: String) -> PostgresError {
            PostgresError(code: .invalidURL, message: "\(reason) in database URL \(redacted)")
        }

        guard let schemeEnd = url.firstRange(of: "://") else {
            throw invalid("missing \"scheme://\" (expected postgresql://user:password@host:port/database)")
        }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        let dialect = scheme.split(separator: "+", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        guard Self.acceptedDialects.contains(dialect) else {
            throw PostgresError(
                code: .invalidURL,
                message: "unsupported database URL scheme \"\(scheme)\" in \(redacted): PostgresClient speaks only PostgreSQL "
                    + "(postgresql://, postgresql+psycopg2://, postgres://)"
            )
        }
        if scheme.contains("+") {
            let driver = scheme.dropFirst(dialect.count + 1)
            guard !driver.isEmpty, driver.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                throw invalid("invalid driver name \"\(driver)\" in scheme \"\(scheme)\"")
            }
            notes.append("driver \"\(driver)\" in the URL scheme is ignored: PostgresClient uses libpq")
        }

        var rest = url[schemeEnd.upperBound...]

        // User information, read the way SQLAlchemy does: the user name has no
        // ':' or '/', the password runs to the first '@' and may hold ':', '/'
        // and '?' unescaped.
        if let at = rest.firstIndex(of: "@") {
            let userInformation = rest[..<at]
            let userPart = userInformation.prefix(while: { $0 != ":" })
            if !userPart.contains("/") {
                user = try Self.percentDecoded(userPart, what: "user name", in: redacted)
                if user?.isEmpty == true { user = nil }
                if userPart.endIndex < userInformation.endIndex {
                    let passwordPart = userInformation[userInformation.index(after: userPart.endIndex)...]
                    password = try Self.percentDecoded(passwordPart, what: "password", in: redacted)
                }
                rest = rest[rest.index(after: at)...]
            }
        }

        // Host and port, up to the database path or the query.
        let locationEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        var location = rest[..<locationEnd]
        rest = rest[locationEnd...]
        if location.hasPrefix("[") {
            guard let close = location.firstIndex(of: "]") else {
                throw invalid("unclosed '[' in the IPv6 host")
            }
            host = String(location[location.index(after: location.startIndex)..<close])
            location = location[location.index(after: close)...]
            if !location.isEmpty && !location.hasPrefix(":") {
                throw invalid("unexpected text after the IPv6 host")
            }
        } else {
            let hostPart = location.prefix(while: { $0 != ":" })
            if !hostPart.isEmpty {
                host = try Self.percentDecoded(hostPart, what: "host", in: redacted)
            }
            location = location[hostPart.endIndex...]
        }
        if location.hasPrefix(":") {
            port = try Self.parsePort(location.dropFirst(), in: redacted)
        }

        // Database path.
        if rest.hasPrefix("/") {
            let pathEnd = rest.firstIndex(of: "?") ?? rest.endIndex
            let path = rest[rest.index(after: rest.startIndex)..<pathEnd]
            if !path.isEmpty {
                database = try Self.percentDecoded(path, what: "database name", in: redacted)
            }
            rest = rest[pathEnd...]
        }

        // Query options.
        if rest.hasPrefix("?") {
            try applyQuery(rest.dropFirst(), redactedURL: redacted)
        }
    }

    private mutating func applyQuery(_ query: Substring, redactedURL redacted: String) throws {
        var seen: Set<String> = []
        for item in query.split(separator: "&", omittingEmptySubsequences: true) {
            let pair = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = try Self.formDecoded(pair[0], what: "option name", in: redacted)
            let value = pair.count > 1 ? try Self.formDecoded(pair[1], what: "value of option \"\(key)\"", in: redacted) : ""
            if key.isEmpty { continue }
            if seen.contains(key) {
                if key == "host" {
                    throw PostgresError(
                        code: .invalidURL,
                        message: "several \"host\" options in database URL \(redacted): PostgresClient connects to one server"
                    )
                }
                notes.append("option \"\(key)\" appears more than once; the last value is used")
            }
            seen.insert(key)

            switch key {
            case "host":
                if host != nil { notes.append("option \"host\" replaces the host in the URL") }
                host = value.isEmpty ? nil : value
            case "port":
                port = try Self.parsePort(Substring(value), in: redacted)
            case "user":
                user = value.isEmpty ? nil : value
            case "password":
                password = value
            case "dbname", "database":
                database = value.isEmpty ? nil : value
            case "client_encoding":
                let normalized = value.lowercased().filter { $0 != "-" && $0 != "_" }
                if normalized != "utf8" && normalized != "unicode" {
                    notes.append("option \"client_encoding=\(value)\" is ignored: PostgresClient always uses UTF8")
                }
            default:
                if let reason = Self.sqlalchemyOnlyOptionReasons[key] {
                    notes.append("option \"\(key)\" is dropped: \(reason)")
                } else if LibPQ.connectionKeywords.contains(key) {
                    options[key] = value
                } else {
                    notes.append("option \"\(key)\" is dropped: not a libpq connection parameter (SQLAlchemy-only?)")
                }
            }
        }
    }

    private static func parsePort(_ text: Substring, in redacted: String) throws -> Int {
        guard let port = Int(text), (1...65535).contains(port) else {
            throw PostgresError(code: .invalidURL, message: "invalid port \"\(text)\" in database URL \(redacted)")
        }
        return port
    }

    /// Percent-decoding for user, password, host and database (a '+' stays a '+').
    private static func percentDecoded(_ text: Substring, what: String, in redacted: String) throws -> String {
        guard let decoded = removingPercentEscapes(text) else {
            throw PostgresError(code: .invalidURL, message: "invalid percent-escape in the \(what) of database URL \(redacted)")
        }
        return decoded
    }

    /// `text` with its `%XX` escapes decoded; nil when an escape is not two
    /// hex digits or the decoded bytes are not UTF-8.
    static func removingPercentEscapes(_ text: Substring) -> String? {
        func hexValue(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        let input = Array(text.utf8)
        var output: [UInt8] = []
        output.reserveCapacity(input.count)
        var index = 0
        while index < input.count {
            let byte = input[index]
            guard byte == UInt8(ascii: "%") else {
                output.append(byte)
                index += 1
                continue
            }
            guard input.count - index >= 3, let high = hexValue(input[index + 1]), let low = hexValue(input[index + 2]) else {
                return nil
            }
            output.append(high << 4 | low)
            index += 3
        }
        return String(validating: output, as: UTF8.self)
    }

    /// Query-string decoding: '+' is a space, then percent-escapes.
    private static func formDecoded(_ text: Substring, what: String, in redacted: String) throws -> String {
        try percentDecoded(Substring(replacingLiterally(String(text), "+", with: " ")), what: what, in: redacted)
    }

    /// The URL with the password (user information and `password=` options)
    /// replaced by `***`, for messages about URLs that may not even parse.
    public static func redactingPassword(in url: String) -> String {
        var text = url
        if let schemeEnd = text.firstRange(of: "://") {
            let afterScheme = text[schemeEnd.upperBound...]
            // Over-redact rather than leak: from the first ':' to the last '@'.
            if let at = afterScheme.lastIndex(of: "@"),
               let colon = afterScheme[..<at].firstIndex(of: ":"),
               !afterScheme[..<colon].contains("/")
            {
                text.replaceSubrange(text.index(after: colon)..<at, with: "***")
            }
        }
        if let queryStart = text.firstIndex(of: "?") {
            let items = text[text.index(after: queryStart)...].split(separator: "&", omittingEmptySubsequences: false)
            let redactedItems = items.map { item -> String in
                let key = item.split(separator: "=", maxSplits: 1).first.map { $0.lowercased() } ?? ""
                return key == "password" || key == "sslpassword" ? "\(key)=***" : String(item)
            }
            text = text[...queryStart] + redactedItems.joined(separator: "&")
        }
        return text
    }
}
