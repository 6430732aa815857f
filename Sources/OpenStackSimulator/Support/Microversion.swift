/// A `major.minor` API microversion (Nova `2.x`, Cinder `3.x`).
struct Microversion: Comparable, Hashable, Sendable, CustomStringConvertible {
    var major: Int
    var minor: Int

    init(_ major: Int, _ minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// Parses `X.Y` strictly, as the services do (`^([1-9]\d*)\.([1-9]\d*|0)$`).
    init?(parsing text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let major = Int(parts[0]), let minor = Int(parts[1]), major >= 1, minor >= 0,
            !parts[0].hasPrefix("0"), parts[1] == "0" || !parts[1].hasPrefix("0"),
            parts.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) })
        else { return nil }
        self.init(major, minor)
    }

    static func < (lhs: Microversion, rhs: Microversion) -> Bool {
        (lhs.major, lhs.minor) < (rhs.major, rhs.minor)
    }

    var description: String { "\(major).\(minor)" }
}

/// The microversion rules of one service: its header names, range and error wording.
struct MicroversionPolicy: Sendable {
    /// Service names accepted in `OpenStack-API-Version` (Cinder answers as `volume`).
    var acceptedServiceNames: [String]
    /// The name echoed in the response header.
    var echoedServiceName: String
    var minimum: Microversion
    var maximum: Microversion
    /// Nova also honours `X-OpenStack-Nova-API-Version` and echoes it.
    var legacyHeader: String?

    static let compute = MicroversionPolicy(
        acceptedServiceNames: ["compute"], echoedServiceName: "compute",
        minimum: Microversion(2, 1), maximum: Microversion(2, 104), legacyHeader: "X-OpenStack-Nova-API-Version")
    static let blockStorage = MicroversionPolicy(
        acceptedServiceNames: ["volume", "block-storage"], echoedServiceName: "volume",
        minimum: Microversion(3, 0), maximum: Microversion(3, 71), legacyHeader: nil)

    /// The outcome of reading a request's headers.
    enum Resolution {
        case version(Microversion)
        /// 400: the string is not `X.Y` or `latest`.
        case malformed(String)
        /// 406: well formed but outside the range.
        case unsupported(String)
    }

    /// Resolves the requested version: the `OpenStack-API-Version` entry for this service,
    /// else the legacy header, else the minimum.
    func resolve(headerValue: String?, legacyValue: String?) -> Resolution {
        var requested: String?
        if let headerValue {
            for entry in headerValue.split(separator: ",") {
                let words = entry.split(whereSeparator: { $0 == " " || $0 == "\t" })
                if words.count == 2, acceptedServiceNames.contains(words[0].lowercased()) {
                    requested = String(words[1])
                }
            }
        }
        if requested == nil, legacyHeader != nil, let legacyValue {
            requested = legacyValue.trimmingSpaces
        }
        guard let requested else { return .version(minimum) }
        if requested.lowercased() == "latest" { return .version(maximum) }
        guard let version = Microversion(parsing: requested) else { return .malformed(requested) }
        guard version >= minimum, version <= maximum else { return .unsupported(requested) }
        return .version(version)
    }

    /// The headers every answer carries once the version is known.
    func responseHeaders(for version: Microversion) -> [(String, String)] {
        if let legacyHeader {
            return [
                ("OpenStack-API-Version", "\(echoedServiceName) \(version)"),
                (legacyHeader, version.description),
                ("Vary", "OpenStack-API-Version, \(legacyHeader)"),
            ]
        }
        return [("OpenStack-API-Version", "\(echoedServiceName) \(version)"), ("Vary", "OpenStack-API-Version")]
    }

    func malformedMessage(_ text: String) -> String {
        "API Version String \(text) is of invalid format. Must be of format MajorNum.MinorNum."
    }

    func unsupportedMessage(_ text: String) -> String {
        "Version \(text) is not supported by the API. Minimum is \(minimum) and maximum is \(maximum)."
    }
}

extension String {
    /// The text without leading and trailing spaces and tabs.
    var trimmingSpaces: String {
        var view = Substring(self)
        while let first = view.first, first == " " || first == "\t" { view.removeFirst() }
        while let last = view.last, last == " " || last == "\t" { view.removeLast() }
        return String(view)
    }
}
