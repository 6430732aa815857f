/// An error from PostgresClient: a failed connection, a server error, a value
/// that cannot be decoded, a URL that cannot be parsed.
///
/// Server errors carry the server's SQLSTATE and its primary message, detail
/// and hint; connection errors carry libpq's own message. Passwords never
/// appear in any field, and queries appear without their parameter values.
public struct PostgresError: Error, CustomStringConvertible, CustomDebugStringConvertible, Sendable {
    /// What kind of failure this is. Extensible: switch with a `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case invalidURL = "invalid URL"
            case connectionFailed = "connection failed"
            case authenticationFailed = "authentication failed"
            case connectionLost = "connection lost"
            case connectionClosed = "connection closed"
            case server = "server error"
            case decoding = "decoding error"
            case invalidParameter = "invalid parameter"
            case transactionAborted = "transaction aborted"
            case invalidUse = "invalid use"
            case unsupported = "unsupported"
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// The URL is not a PostgreSQL URL, or cannot be parsed.
        public static let invalidURL = Code(.invalidURL)
        /// The server could not be reached or refused the connection.
        public static let connectionFailed = Code(.connectionFailed)
        /// The server rejected the credentials (wrong or missing password, unknown user).
        public static let authenticationFailed = Code(.authenticationFailed)
        /// The connection broke while in use (server restart, terminated backend, network).
        public static let connectionLost = Code(.connectionLost)
        /// The connection was closed with `close()`.
        public static let connectionClosed = Code(.connectionClosed)
        /// The server reported an error for a statement; see `sqlState`.
        public static let server = Code(.server)
        /// A column value cannot be decoded as the requested Swift type.
        public static let decoding = Code(.decoding)
        /// A parameter value cannot be sent (a NUL byte in text, a date out of range).
        public static let invalidParameter = Code(.invalidParameter)
        /// A statement in the transaction failed and the error was caught inside
        /// `withTransaction`, so PostgreSQL rolled the transaction back at COMMIT.
        public static let transactionAborted = Code(.transactionAborted)
        /// The API was used in a way it does not support (for example an advisory
        /// transaction lock outside a transaction).
        public static let invalidUse = Code(.invalidUse)
        /// The server asked for something PostgresClient does not do (COPY).
        public static let unsupported = Code(.unsupported)

        public var description: String { base.rawValue }
    }

    /// What kind of failure this is.
    public var code: Code
    /// The primary message: the server's for server errors, otherwise PostgresClient's.
    public var message: String
    /// The five-character SQLSTATE the server reported, if any (`23505`).
    public var sqlState: String?
    /// The server's severity (`ERROR`, `FATAL`), if any.
    public var severity: String?
    /// The server's detail line, if any.
    public var detail: String?
    /// The server's hint, if any.
    public var hint: String?
    /// The schema, table, column and constraint the server named, if any.
    public var schemaName: String?
    public var tableName: String?
    public var columnName: String?
    public var constraintName: String?
    /// The SQL text of the failed statement (never its parameter values).
    public var query: String?
    /// libpq's own message, for errors libpq detected or reported (connection errors).
    public var libpqMessage: String?

    public init(
        code: Code,
        message: String,
        sqlState: String? = nil,
        detail: String? = nil,
        hint: String? = nil,
        query: String? = nil,
        libpqMessage: String? = nil
    ) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.detail = detail
        self.hint = hint
        self.query = query
        self.libpqMessage = libpqMessage
    }

    /// The condition name of `sqlState` (`unique_violation`), if it is a common one.
    public var sqlStateName: String? {
        sqlState.flatMap(PostgresError.sqlStateName(for:))
    }

    /// One readable line, for example
    /// `PostgreSQL error 23505 (unique_violation): duplicate key value violates
    /// unique constraint "x" — Key (name)=(y) already exists.`
    public var description: String {
        var text: String
        if code == .server, let sqlState {
            text = "PostgreSQL error \(sqlState) (\(sqlStateName ?? "unknown condition")): \(Self.oneLine(message))"
        } else {
            text = "PostgreSQL \(code): \(Self.oneLine(message))"
            if let sqlState {
                text += " [SQLSTATE \(sqlState)\(sqlStateName.map { " \($0)" } ?? "")]"
            }
        }
        if let detail, !detail.isEmpty {
            text += " — \(Self.oneLine(detail))"
        }
        if let hint, !hint.isEmpty {
            text += " Hint: \(Self.oneLine(hint))"
        }
        if let libpqMessage, !libpqMessage.isEmpty, !message.contains(libpqMessage) {
            text += " (libpq: \(Self.oneLine(libpqMessage)))"
        }
        return text
    }

    /// The description followed by the query text, for logs and test failures.
    public var debugDescription: String {
        guard let query else { return description }
        return "\(description) [query: \(Self.oneLine(query))]"
    }

    /// Collapses the newlines and tabs of multi-line messages (libpq's in particular).
    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: { $0.isWhitespace })
            .joined(separator: " ")
    }
}

// MARK: - SQLSTATE names

extension PostgresError {
    /// The condition name of a SQLSTATE (`23505` → `unique_violation`) for the
    /// states an application commonly meets; nil for the others.
    public static func sqlStateName(for sqlState: String) -> String? {
        sqlStateNames[sqlState.uppercased()]
    }

    private static let sqlStateNames: [String: String] = [
        "00000": "successful_completion",
        "01000": "warning",
        "08000": "connection_exception",
        "08001": "sqlclient_unable_to_establish_sqlconnection",
        "08003": "connection_does_not_exist",
        "08004": "sqlserver_rejected_establishment_of_sqlconnection",
        "08006": "connection_failure",
        "08P01": "protocol_violation",
        "0A000": "feature_not_supported",
        "21000": "cardinality_violation",
        "22001": "string_data_right_truncation",
        "22003": "numeric_value_out_of_range",
        "22004": "null_value_not_allowed",
        "22007": "invalid_datetime_format",
        "22008": "datetime_field_overflow",
        "22012": "division_by_zero",
        "22021": "character_not_in_repertoire",
        "22023": "invalid_parameter_value",
        "22P02": "invalid_text_representation",
        "22P05": "untranslatable_character",
        "23000": "integrity_constraint_violation",
        "23001": "restrict_violation",
        "23502": "not_null_violation",
        "23503": "foreign_key_violation",
        "23505": "unique_violation",
        "23514": "check_violation",
        "23P01": "exclusion_violation",
        "25001": "active_sql_transaction",
        "25006": "read_only_sql_transaction",
        "25P01": "no_active_sql_transaction",
        "25P02": "in_failed_sql_transaction",
        "28000": "invalid_authorization_specification",
        "28P01": "invalid_password",
        "3D000": "invalid_catalog_name",
        "3F000": "invalid_schema_name",
        "40000": "transaction_rollback",
        "40001": "serialization_failure",
        "40P01": "deadlock_detected",
        "42000": "syntax_error_or_access_rule_violation",
        "42501": "insufficient_privilege",
        "42601": "syntax_error",
        "42701": "duplicate_column",
        "42703": "undefined_column",
        "42704": "undefined_object",
        "42710": "duplicate_object",
        "42804": "datatype_mismatch",
        "42846": "cannot_coerce",
        "42883": "undefined_function",
        "42P01": "undefined_table",
        "42P02": "undefined_parameter",
        "42P07": "duplicate_table",
        "42P18": "indeterminate_datatype",
        "53000": "insufficient_resources",
        "53100": "disk_full",
        "53200": "out_of_memory",
        "53300": "too_many_connections",
        "54000": "program_limit_exceeded",
        "55000": "object_not_in_prerequisite_state",
        "55006": "object_in_use",
        "55P03": "lock_not_available",
        "57014": "query_canceled",
        "57P01": "admin_shutdown",
        "57P02": "crash_shutdown",
        "57P03": "cannot_connect_now",
        "57P04": "database_dropped",
        "58000": "system_error",
        "58030": "io_error",
        "P0001": "raise_exception",
        "XX000": "internal_error",
        "XX001": "data_corrupted",
    ]
}
