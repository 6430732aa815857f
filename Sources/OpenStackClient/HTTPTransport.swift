import AsyncHTTPClient
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// How to verify the TLS certificates of a call.
package struct TLSOptions: Hashable, Sendable {
    /// No verification at all.
    var insecure: Bool
    /// Trust only the certificates of this PEM file; nil: the system's.
    var caFile: String?

    package init(insecure: Bool, caFile: String?) {
        self.insecure = insecure
        // Without verification a CA file means nothing; one client serves both.
        self.caFile = insecure ? nil : caFile.flatMap { $0.isEmpty ? nil : $0 }
    }

    package static let standard = TLSOptions(insecure: false, caFile: nil)
}

/// One HTTP exchange, ready to send.
package struct HTTPCall: Sendable {
    var service: OpenStackService
    var method: String
    var url: String
    /// The path for messages and logs (no host, no token).
    var path: String
    var headers: [(name: String, value: String)]
    var body: [UInt8]?
    var isIdempotent: Bool
    var tls: TLSOptions
    /// Text to keep out of messages (the tokens of the call).
    var redaction: Redaction
    /// Whose credentials the call carries (logged, never the token itself).
    var credentialSource: CredentialSource? = nil
    /// The token is scoped to a Keystone trust (a cron trigger's request, or
    /// its renewal): logged as `openstack.trust_scoped=true`.
    var trustScoped = false

    package init(
        service: OpenStackService, method: String, url: String, path: String, headers: [(name: String, value: String)],
        body: [UInt8]?, isIdempotent: Bool, tls: TLSOptions, redaction: Redaction,
        credentialSource: CredentialSource? = nil, trustScoped: Bool = false
    ) {
        self.service = service
        self.method = method
        self.url = url
        self.path = path
        self.headers = headers
        self.body = body
        self.isIdempotent = isIdempotent
        self.tls = tls
        self.redaction = redaction
        self.credentialSource = credentialSource
        self.trustScoped = trustScoped
    }
}

/// Whose credentials an OpenStack call carries: the log metadata
/// `openstack.credential_source` of every request line (with
/// `openstack.trust_scoped=true` when the token is a trust's: the request's
/// own token of a cron trigger, or its renewal).
package enum CredentialSource: String, Sendable {
    /// The token Mistral sent with the request.
    case requestToken = "request_token"
    /// A token the worker got for the request's trust after the request's
    /// own trust-scoped token expired (or was about to).
    case refreshedTrustToken = "refreshed_trust_token"
    /// The `[keystone_authtoken]` service user: its password (issuing its
    /// own token, or a trust token as the trustee) or its token.
    case serviceUser = "service_user"
}

/// An answer, whatever its status.
package struct HTTPResult: Sendable {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    package init(status: Int, headers: [(name: String, value: String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return headers.first { $0.name.lowercased() == lowered }?.value
    }
}

/// Why an attempt got no answer.
struct TransportFailure: Error {
    enum Kind: Equatable {
        /// No connection: nothing was sent.
        case connect
        /// The connection broke; the request may have been sent.
        case connection
        /// No answer before the deadline.
        case timeout
        /// Retrying cannot help (TLS verification, session shut down).
        case permanent
    }

    var kind: Kind
    var message: String
}

/// The HTTP clients of a session: one per TLS configuration, created on
/// first use and kept (with their connection pools) until shutdown.
final class HTTPTransport: Sendable {
    /// The most body bytes read from one answer.
    static let maximumBodySize = 64 * 1024 * 1024

    private struct State {
        var clients: [TLSOptions: HTTPClient] = [:]
        var isShutDown = false
    }

    private let state = Mutex(State())
    private let settings: OpenStackSettings
    private let logger: Logger

    init(settings: OpenStackSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    /// Shuts every client down; later calls fail. Safe to call twice.
    func shutdown() async throws {
        let clients = state.withLock { state -> [HTTPClient] in
            guard !state.isShutDown else { return [] }
            state.isShutDown = true
            defer { state.clients.removeAll() }
            return Array(state.clients.values)
        }
        var firstError: (any Error)?
        for client in clients {
            do {
                try await client.shutdown()
            } catch {
                firstError = firstError ?? error
            }
        }
        if let firstError { throw firstError }
    }

    private func client(for tls: TLSOptions) throws(TransportFailure) -> HTTPClient {
        let client = state.withLock { state -> HTTPClient? in
            guard !state.isShutDown else { return nil }
            if let existing = state.clients[tls] { return existing }
            let created = HTTPClient(
                eventLoopGroup: HTTPClient.defaultEventLoopGroup,
                configuration: configuration(for: tls),
                backgroundActivityLogger: logger)
            state.clients[tls] = created
            return created
        }
        guard let client else {
            throw TransportFailure(kind: .permanent, message: "the OpenStack session is shut down")
        }
        return client
    }

    private func configuration(for tls: TLSOptions) -> HTTPClient.Configuration {
        var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
        if tls.insecure {
            tlsConfiguration.certificateVerification = .none
        } else if let caFile = tls.caFile {
            tlsConfiguration.trustRoots = .file(caFile)
        }
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tlsConfiguration,
            // A redirect would carry the token to wherever it points.
            redirectConfiguration: .disallow,
            timeout: .init(connect: TimeAmount(settings.connectTimeout), read: TimeAmount(settings.requestTimeout)),
            proxy: nil,
            ignoreUncleanSSLShutdown: false,
            decompression: .disabled)
        // The per-service limit of the session decides how many requests run
        // at once; the pool should not queue them a second time.
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(
            8, settings.maxConcurrentRequestsPerService)
        return configuration
    }

    /// Sends `call` once and reads the whole answer within the request timeout.
    ///
    /// - Throws: `TransportFailure`, or `CancellationError` when the task is
    ///   cancelled (the request is cancelled with it).
    func perform(_ call: HTTPCall) async throws -> HTTPResult {
        let client = try client(for: call.tls)
        var request = HTTPClientRequest(url: call.url)
        request.method = HTTPMethod(rawValue: call.method)
        for header in call.headers {
            request.headers.add(name: header.name, value: header.value)
        }
        if let body = call.body {
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let timeout = TimeAmount(settings.requestTimeout)
        let deadline = NIODeadline.now() + timeout
        let clockDeadline = ContinuousClock.now + settings.requestTimeout
        do {
            let response = try await client.execute(request, deadline: deadline)
            // The deadline of `execute` ends with the head; the body gets the rest.
            let body = try await Self.collect(response.body, until: clockDeadline)
            return HTTPResult(
                status: Int(response.status.code),
                headers: response.headers.map { (name: $0.name, value: $0.value) },
                body: Array(buffer: body))
        } catch {
            throw Self.classify(error, url: call.url)
        }
    }

    private struct BodyDeadlineExceeded: Error {}

    private static func collect(
        _ body: HTTPClientResponse.Body, until deadline: ContinuousClock.Instant
    ) async throws -> ByteBuffer {
        try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
            group.addTask { try await body.collect(upTo: maximumBodySize) }
            group.addTask {
                try await Task.sleep(until: deadline, clock: .continuous)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let buffer = first else {
                throw BodyDeadlineExceeded()
            }
            return buffer
        }
    }

    /// Sorts an error of AsyncHTTPClient or NIO into what matters for
    /// retrying: was anything sent?
    static func classify(_ error: any Error, url: String) -> any Error {
        if error is CancellationError || Task.isCancelled { return CancellationError() }
        let target = RequestURL.hostAndPort(of: url)
        if error is BodyDeadlineExceeded {
            return TransportFailure(kind: .timeout, message: "no complete answer from \(target) in time")
        }
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .writeTimeout:
                return TransportFailure(kind: .timeout, message: "no answer from \(target) in time")
            case .connectTimeout, .getConnectionFromPoolTimeout:
                return TransportFailure(kind: .connect, message: "could not connect to \(target) in time")
            case .tlsHandshakeTimeout, .socksHandshakeTimeout, .httpProxyHandshakeTimeout:
                return TransportFailure(
                    kind: .connect, message: "could not connect to \(target): handshake timed out")
            case .remoteConnectionClosed:
                return TransportFailure(
                    kind: .connection, message: "\(target) closed the connection before answering")
            case .alreadyShutdown:
                return TransportFailure(kind: .permanent, message: "the OpenStack session is shut down")
            case .invalidURL, .emptyHost, .emptyScheme:
                return TransportFailure(kind: .permanent, message: "invalid URL for \(target)")
            default:
                return TransportFailure(kind: .connection, message: "connection to \(target) failed: \(error)")
            }
        }
        if error is NIOTooManyBytesError {
            return TransportFailure(
                kind: .permanent,
                message: "the answer of \(target) is larger than \(maximumBodySize / 1024 / 1024) MiB")
        }
        if error is NIOSSLError || error is BoringSSLError {
            // Certificate verification fails the same way every time.
            return TransportFailure(kind: .permanent, message: "TLS with \(target) failed: \(error)")
        }
        if let error = error as? ChannelError, case .connectTimeout = error {
            return TransportFailure(kind: .connect, message: "could not connect to \(target) in time")
        }
        if let error = error as? IOError, connectErrnos.contains(error.errnoCode) {
            return TransportFailure(kind: .connect, message: "could not connect to \(target): \(error)")
        }
        if isConnectionEstablishmentError(error) {
            return TransportFailure(kind: .connect, message: "could not connect to \(target): \(error)")
        }
        return TransportFailure(kind: .connection, message: "connection to \(target) failed: \(error)")
    }

    private static let connectErrnos: Set<CInt> = [ECONNREFUSED, ENETUNREACH, EHOSTUNREACH]

    /// NIO reports a failed connect (refused, unreachable, DNS) as
    /// `NIOConnectionError`.
    private static func isConnectionEstablishmentError(_ error: any Error) -> Bool {
        error is NIOConnectionError
    }
}
