import PostgresClient

/// Where a worker records that it starts an action execution, so that a
/// request RabbitMQ delivers again (after an acknowledgement was lost) is not
/// run a second time when it had started, yet still runs when it had not.
public protocol StartClaimStore: Sendable {
    /// Records that these action executions start now (by `worker`). Returns
    /// the ids among them that were claimed before this call (i.e. started
    /// earlier, by any worker). Throws when the store cannot be reached.
    func claim(_ actionExecutionIDs: [String]) async throws -> Set<String>
}

/// Why start claims could not be recorded.
public struct StartClaimsError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is. Extensible: switch with a `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case invalidActionExecutionID = "invalid action execution id"
            case invalidConfiguration = "invalid configuration"
            case unavailable = "store unavailable"
            case notRunning = "not running"
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// An id the store refuses (empty, a NUL character, too long); nothing was recorded for that call.
        public static let invalidActionExecutionID = Code(.invalidActionExecutionID)
        /// A setting cannot be used (a schema name PostgreSQL cannot hold).
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// The database could not be reached or refused the statement. Whether
        /// the claims of that call were recorded is unknown when the connection
        /// broke while the statement ran.
        public static let unavailable = Code(.unavailable)
        /// The store's `run()` has ended (or is shutting down): no claim is taken.
        public static let notRunning = Code(.notRunning)

        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String
    /// The database error behind an `.unavailable` error.
    public var underlying: PostgresError?

    public init(code: Code, message: String, underlying: PostgresError? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String {
        guard let underlying else { return "start claims: \(message)" }
        return "start claims: \(message): \(underlying)"
    }
}

/// The ids every store accepts: Mistral's are 36-character UUIDs, and the
/// column is text, so anything else is hostile or broken input.
public enum StartClaimIDs {
    /// The longest id accepted, in UTF-8 bytes.
    public static let maximumUTF8Length = 255

    /// Throws `.invalidActionExecutionID` for an id that is empty, holds a NUL
    /// character (PostgreSQL text cannot) or is longer than ``maximumUTF8Length``.
    public static func validate(_ ids: [String]) throws(StartClaimsError) {
        for id in ids {
            let length = id.utf8.count
            if length == 0 {
                throw StartClaimsError(code: .invalidActionExecutionID, message: "an empty action execution id cannot be claimed")
            }
            if length > maximumUTF8Length {
                throw StartClaimsError(
                    code: .invalidActionExecutionID,
                    message: "an action execution id of \(length) bytes cannot be claimed (at most \(maximumUTF8Length)); "
                        + "it begins \(String(decoding: id.utf8.prefix(32), as: UTF8.self).debugDescription)"
                )
            }
            if id.utf8.contains(0) {
                throw StartClaimsError(
                    code: .invalidActionExecutionID,
                    message: "the action execution id \(id.debugDescription) contains a NUL character, which PostgreSQL text cannot store"
                )
            }
        }
    }
}
