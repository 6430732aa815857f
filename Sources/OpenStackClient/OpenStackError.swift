/// A failed OpenStack call, with what the service said.
///
/// The description reads like
/// `Cinder GET /backups/42: 404 itemNotFound: Backup 42 could not be found.`
/// and never contains a token.
public struct OpenStackError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong.
    public enum Kind: Sendable, Equatable {
        /// The service answered with an error status. `fault` is the fault
        /// name of the error envelope (`itemNotFound`, `badRequest`,
        /// `overLimit`, Keystone's `title`, ...), when there was one.
        case http(status: Int, fault: String?, message: String)
        /// No usable credentials: no token and no service credentials, or
        /// an expired token.
        case unauthenticated(String)
        /// The catalog has no endpoint for the service in that region and
        /// interface.
        case noEndpoint(String)
        /// The request never got an answer (connection refused or reset,
        /// TLS failure, DNS).
        case transport(String)
        /// No answer within the request timeout.
        case timeout
        /// The answer could not be understood (not JSON where JSON was due,
        /// a missing field).
        case invalidResponse(String)
    }

    /// What went wrong.
    public var kind: Kind
    /// The service called, when known.
    public var service: OpenStackService?
    /// `GET`, `POST`, ...
    public var method: String
    /// The path below the service's endpoint (no host, no token), e.g. `/backups/42`.
    public var path: String
    /// `Retry-After` of the last answer, in seconds, when it had one.
    public var retryAfterSeconds: Double?

    /// An error of a call.
    public init(
        kind: Kind, service: OpenStackService?, method: String, path: String, retryAfterSeconds: Double? = nil
    ) {
        self.kind = kind
        self.service = service
        self.method = method
        self.path = path
        self.retryAfterSeconds = retryAfterSeconds
    }

    /// The HTTP status, for `.http` errors.
    public var status: Int? {
        if case .http(let status, _, _) = kind { return status }
        return nil
    }

    /// True for a 404.
    public var isNotFound: Bool { status == 404 }

    /// The service's message (or what went wrong), without the request line.
    public var message: String {
        switch kind {
        case .http(let status, let fault, let message):
            let name = fault.map { " \($0)" } ?? ""
            return message.isEmpty ? "\(status)\(name)" : "\(status)\(name): \(message)"
        case .unauthenticated(let message): return message
        case .noEndpoint(let message): return message
        case .transport(let message): return message
        case .timeout: return "no answer within the request timeout"
        case .invalidResponse(let message): return "unexpected answer: \(message)"
        }
    }

    /// One line: service, method, path and what went wrong (never a token).
    public var description: String {
        let who = service.map(\.projectName)
        // Errors that precede any request (no endpoint, no credentials)
        // may have no request line.
        let request = [method, path].filter { !$0.isEmpty }.joined(separator: " ")
        let prefix = [who ?? "", request].filter { !$0.isEmpty }.joined(separator: " ")
        return prefix.isEmpty ? message : "\(prefix): \(message)"
    }
}
