/// The one error type of `AMQPClient`.
///
/// It carries what is known about a failure: an extensible ``Code``, a
/// sentence saying what was being done, the broker's reply when the broker
/// closed a channel or the connection (reply code, reply text, class and
/// method), librabbitmq's own message, and the endpoint (never with its
/// password). ``description`` renders all of it as one readable line, e.g.
///
///     channel closed by server: declaring queue 'jobs': 406 PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'jobs' in vhost '/': received 'true' but current is 'false' (queue.declare) [amqp://guest@127.0.0.1:5672/%2F]
public struct AMQPError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is. New codes may be added; switch with a
    /// `default` branch.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case invalidURL = "invalid transport URL"
            case invalidConfiguration = "invalid configuration"
            case invalidArgument = "invalid argument"
            case connectionFailed = "connection failed"
            case tlsFailed = "TLS failed"
            case authenticationFailed = "authentication failed"
            case connectionClosedByServer = "connection closed by server"
            case connectionLost = "connection lost"
            case channelClosedByServer = "channel closed by server"
            case timeout = "timed out"
            case notConnected = "not connected"
            case publishNacked = "publish not confirmed (nack)"
            case libraryError = "librabbitmq error"
            case consumerCancelled = "consumer cancelled"
            case shutDown = "connection shut down"
            case alreadyRunning = "already running"
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// A transport URL could not be parsed.
        public static let invalidURL = Code(.invalidURL)
        /// The configuration cannot work (no endpoint, a TLS file that cannot be read, ...).
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// An argument was refused before anything was sent (e.g. a consumer tag already in use).
        public static let invalidArgument = Code(.invalidArgument)
        /// The TCP connection or the AMQP handshake failed.
        public static let connectionFailed = Code(.connectionFailed)
        /// The TLS handshake or certificate verification failed.
        public static let tlsFailed = Code(.tlsFailed)
        /// The broker refused the user name or password (403 ACCESS_REFUSED at login).
        public static let authenticationFailed = Code(.authenticationFailed)
        /// The broker closed the connection (connection.close), e.g. 320 CONNECTION_FORCED.
        public static let connectionClosedByServer = Code(.connectionClosedByServer)
        /// The connection broke (socket error, missed heartbeats) while the operation was in flight.
        public static let connectionLost = Code(.connectionLost)
        /// The broker closed the channel the operation ran on (channel.close), e.g. 404 or 406.
        public static let channelClosedByServer = Code(.channelClosedByServer)
        /// A wait had a deadline and it passed.
        public static let timeout = Code(.timeout)
        /// No connection was available within the time an operation may wait for one.
        public static let notConnected = Code(.notConnected)
        /// The broker answered a publish with basic.nack: the message was not taken.
        public static let publishNacked = Code(.publishNacked)
        /// librabbitmq reported an error that fits no other code.
        public static let libraryError = Code(.libraryError)
        /// The broker cancelled a consumer (basic.cancel), e.g. because its queue was deleted.
        public static let consumerCancelled = Code(.consumerCancelled)
        /// The connection's `run()` ended (or was never started and is gone).
        public static let shutDown = Code(.shutDown)
        /// `run()` was called on a connection that already runs or ran.
        public static let alreadyRunning = Code(.alreadyRunning)

        public var description: String { base.rawValue }
    }

    /// The reply the broker sent when it closed a channel or the connection.
    public struct ServerReply: Hashable, Sendable, CustomStringConvertible {
        /// Whether the broker closed one channel or the whole connection.
        public enum Scope: Hashable, Sendable {
            case channel
            case connection
        }

        public var scope: Scope
        /// AMQP reply code, e.g. 404 (NOT_FOUND), 406 (PRECONDITION_FAILED), 320 (CONNECTION_FORCED).
        public var replyCode: UInt16
        /// The broker's text, e.g. "NOT_FOUND - no queue 'x' in vhost '/'".
        public var replyText: String
        /// Class of the method that caused the close (0 when none did).
        public var classID: UInt16
        /// Method (within `classID`) that caused the close.
        public var methodID: UInt16

        public init(scope: Scope, replyCode: UInt16, replyText: String, classID: UInt16, methodID: UInt16) {
            self.scope = scope
            self.replyCode = replyCode
            self.replyText = replyText
            self.classID = classID
            self.methodID = methodID
        }

        /// The AMQP name of the method that caused the close, e.g. "queue.declare".
        public var methodName: String? {
            AMQPMethodName.name(classID: classID, methodID: methodID)
        }

        public var description: String {
            var text = "\(replyCode) \(replyText)"
            if let methodName {
                text += " (\(methodName))"
            } else if classID != 0 || methodID != 0 {
                text += " (class \(classID), method \(methodID))"
            }
            return text
        }
    }

    public var code: Code
    /// What was being done, e.g. "declaring queue 'jobs'". Never contains a password.
    public var message: String
    /// Set when the broker closed a channel or the connection.
    public var serverReply: ServerReply?
    /// librabbitmq's status code (an `amqp_status_enum` value), when it reported the failure.
    public var libraryStatus: Int32?
    /// librabbitmq's text for ``libraryStatus`` (`amqp_error_string2`), plus the OS error when useful.
    public var libraryMessage: String?
    /// The endpoint involved, written without its password.
    public var endpoint: String?
    /// An earlier error that explains this one (e.g. the last connection failure behind a `notConnected`).
    public var underlying: (any Error)?

    public init(
        code: Code,
        message: String,
        serverReply: ServerReply? = nil,
        libraryStatus: Int32? = nil,
        libraryMessage: String? = nil,
        endpoint: String? = nil,
        underlying: (any Error)? = nil
    ) {
        self.code = code
        self.message = message
        self.serverReply = serverReply
        self.libraryStatus = libraryStatus
        self.libraryMessage = libraryMessage
        self.endpoint = endpoint
        self.underlying = underlying
    }

    /// The broker's reply code, when the broker closed a channel or the connection.
    public var replyCode: UInt16? { serverReply?.replyCode }

    /// The broker's reply text, when the broker closed a channel or the connection.
    public var replyText: String? { serverReply?.replyText }

    public var description: String {
        var text = code.description
        if !message.isEmpty {
            text += ": " + message
        }
        if let serverReply {
            text += ": " + serverReply.description
        }
        if let libraryMessage {
            text += ": " + libraryMessage
        }
        if let endpoint {
            text += " [\(endpoint)]"
        }
        if let underlying {
            text += "; caused by: \(underlying)"
        }
        return text
    }
}

/// Names of the AMQP 0-9-1 methods a broker may blame in a close, for readable errors.
enum AMQPMethodName {
    static func name(classID: UInt16, methodID: UInt16) -> String? {
        switch (classID, methodID) {
        case (10, 40): "connection.open"
        case (20, 10): "channel.open"
        case (40, 10): "exchange.declare"
        case (40, 20): "exchange.delete"
        case (40, 30): "exchange.bind"
        case (40, 40): "exchange.unbind"
        case (50, 10): "queue.declare"
        case (50, 20): "queue.bind"
        case (50, 30): "queue.purge"
        case (50, 40): "queue.delete"
        case (50, 50): "queue.unbind"
        case (60, 10): "basic.qos"
        case (60, 20): "basic.consume"
        case (60, 30): "basic.cancel"
        case (60, 40): "basic.publish"
        case (60, 70): "basic.get"
        case (60, 80): "basic.ack"
        case (60, 90): "basic.reject"
        case (60, 100): "basic.recover-async"
        case (60, 110): "basic.recover"
        case (60, 120): "basic.nack"
        case (85, 10): "confirm.select"
        default: nil
        }
    }
}
