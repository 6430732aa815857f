import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The worker's HTTP endpoint (SwiftNIO, HTTP/1.1):
///
/// - `GET /healthz`: 200 while the process serves;
/// - `GET /readyz`: 200 when ready (see ``Readiness``), otherwise 503 with
///   the reason in the body;
/// - `GET /metrics`: Prometheus' text format.
///
/// ``bind(host:port:readiness:metrics:logger:)`` listens at once, so that a
/// port in use is a startup error; as a service it serves until graceful
/// shutdown (or cancellation), then closes the port and its connections.
/// Put it first in the ServiceGroup: it then stops last, and `/readyz`
/// says "draining" while the worker drains.
public final class StatusServer: Service, Sendable {
    public enum Readiness: Sendable, Equatable {
        case ready
        case notReady(reason: String)
    }

    private let serverChannel: any Channel
    private let connections: Connections
    private let logger: Logger
    /// The port bound (the one the system chose when 0 was asked for).
    public let port: Int

    private init(serverChannel: any Channel, connections: Connections, port: Int, logger: Logger) {
        self.serverChannel = serverChannel
        self.connections = connections
        self.port = port
        self.logger = logger
    }

    /// Listens on `host:port`. Throws when it cannot (the port is in use,
    /// the address is not on this host).
    public static func bind(
        host: String, port: Int,
        readiness: @escaping @Sendable () -> Readiness,
        metrics: @escaping @Sendable () -> [UInt8],
        logger: Logger
    ) async throws -> StatusServer {
        let connections = Connections()
        let routes = Routes(readiness: readiness, metrics: metrics)
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.backlog, value: 64)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                connections.add(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(StatusHTTPHandler(routes: routes))
                }
            }
            .childChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
        let channel = try await bootstrap.bind(host: host, port: port).get()
        let bound = channel.localAddress?.port ?? port
        logger.info("serving /healthz, /readyz and /metrics", metadata: ["http.listen": "\(host):\(bound)"])
        return StatusServer(serverChannel: channel, connections: connections, port: bound, logger: logger)
    }

    public func run() async throws {
        // Returns on graceful shutdown; throws on cancellation: either way, close.
        try? await gracefulShutdown()
        await close()
    }

    /// Stops listening and closes the open connections.
    public func close() async {
        try? await serverChannel.close()
        for connection in connections.all() {
            try? await connection.close()
        }
    }
}

/// What each path answers.
struct Routes: Sendable {
    let readiness: @Sendable () -> StatusServer.Readiness
    let metrics: @Sendable () -> [UInt8]

    struct Answer {
        var status: HTTPResponseStatus
        var contentType = "text/plain; charset=utf-8"
        var body: [UInt8]
    }

    func answer(method: HTTPMethod, uri: String) -> Answer {
        let path = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? uri
        guard method == .GET || method == .HEAD else {
            return Answer(status: .methodNotAllowed, body: Array("only GET and HEAD\n".utf8))
        }
        switch path {
        case "/healthz":
            return Answer(status: .ok, body: Array("ok\n".utf8))
        case "/readyz":
            switch readiness() {
            case .ready: return Answer(status: .ok, body: Array("ready\n".utf8))
            case .notReady(let reason): return Answer(status: .serviceUnavailable, body: Array("not ready: \(reason)\n".utf8))
            }
        case "/metrics":
            return Answer(status: .ok, contentType: PrometheusExposition.contentType, body: metrics())
        default:
            return Answer(status: .notFound, body: Array("not found: try /healthz, /readyz or /metrics\n".utf8))
        }
    }
}

/// The open connections, so that closing the server closes keep-alive ones.
private final class Connections: Sendable {
    private let channels = Mutex<[ObjectIdentifier: any Channel]>([:])

    func add(_ channel: any Channel) {
        let key = ObjectIdentifier(channel)
        channels.withLock { $0[key] = channel }
        channel.closeFuture.whenComplete { [self] _ in
            _ = channels.withLock { $0.removeValue(forKey: key) }
        }
    }

    func all() -> [any Channel] {
        channels.withLock { Array($0.values) }
    }
}

/// Answers each request once its end arrives (request bodies are ignored).
private final class StatusHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let routes: Routes
    private var head: HTTPRequestHead?

    init(routes: Routes) {
        self.routes = routes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let requestHead):
            head = requestHead
        case .body:
            break
        case .end:
            guard let requestHead = head else { return }
            head = nil
            respond(to: requestHead, context: context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func respond(to requestHead: HTTPRequestHead, context: ChannelHandlerContext) {
        let answer = routes.answer(method: requestHead.method, uri: requestHead.uri)
        let keepAlive = requestHead.isKeepAlive
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: answer.contentType)
        headers.add(name: "Content-Length", value: String(answer.body.count))
        headers.add(name: "Cache-Control", value: "no-store")
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        let responseHead = HTTPResponseHead(version: requestHead.version, status: answer.status, headers: headers)
        context.write(wrapOutboundOut(.head(responseHead)), promise: nil)
        if requestHead.method != .HEAD && !answer.body.isEmpty {
            var buffer = context.channel.allocator.buffer(capacity: answer.body.count)
            buffer.writeBytes(answer.body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }
}
