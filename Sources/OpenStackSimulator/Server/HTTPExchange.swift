import OrderedJSON

/// One complete HTTP request as the server hands it to the simulator.
struct HTTPRequestData: Sendable {
    var method: String
    /// The path without the query, still percent-encoded.
    var path: String
    /// The raw query string (after `?`), if any.
    var query: String?
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    init(method: String, target: String, headers: [(name: String, value: String)], body: [UInt8]) {
        self.method = method.uppercased()
        if let questionMark = target.firstIndex(of: "?") {
            path = String(target[..<questionMark])
            query = String(target[target.index(after: questionMark)...])
        } else {
            path = target
            query = nil
        }
        self.headers = headers
        self.body = body
    }

    /// The first value of header `name` (case-insensitive).
    func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return headers.first { $0.name.lowercased() == lowered }?.value
    }

    /// The path split into decoded segments, empty segments dropped.
    var segments: [String] {
        path.split(separator: "/", omittingEmptySubsequences: true).map { percentDecode(String($0)) }
    }

    /// `true` when the client asked for JSON (Glance's error bodies depend on it).
    var acceptsJSON: Bool {
        header("Accept")?.lowercased().contains("json") ?? false
    }

    /// The body as JSON: `nil` when empty, `.failure` when it is not valid JSON.
    var jsonBody: Result<JSON?, JSONError> {
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return .success(nil) }
        do throws(JSONError) {
            return .success(try JSON(parsing: body))
        } catch {
            return .failure(error)
        }
    }
}

/// The simulator's answer, plus what the connection should do before sending it.
struct HTTPResponseData: Sendable {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]
    /// Seconds to wait before answering (fault injection).
    var delay: Double = 0
    /// Close the connection without answering (fault injection).
    var resetConnection = false

    init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    static func json(_ status: Int, _ value: JSON, headers: [(String, String)] = []) -> HTTPResponseData {
        HTTPResponseData(
            status: status, headers: [("Content-Type", "application/json")] + headers,
            body: ErrorEnvelope.encode(value))
    }

    static func empty(_ status: Int, headers: [(String, String)] = []) -> HTTPResponseData {
        HTTPResponseData(status: status, headers: headers)
    }

    func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return headers.first { $0.0.lowercased() == lowered }?.1
    }
}
