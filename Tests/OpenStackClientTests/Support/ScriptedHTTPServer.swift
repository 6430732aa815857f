import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// One scripted answer of ``ScriptedHTTPServer``.
struct ScriptedResponse: Sendable {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: String
    /// Wait this long before answering.
    var delay: Duration = .zero
    /// Never answer.
    var hangs = false

    static func json(
        _ status: Int, _ body: String = "{}", headers: [(name: String, value: String)] = [],
        delay: Duration = .zero
    ) -> ScriptedResponse {
        ScriptedResponse(
            status: status, headers: [(name: "Content-Type", value: "application/json")] + headers, body: body,
            delay: delay)
    }

    static func text(_ status: Int, _ body: String, contentType: String = "text/plain") -> ScriptedResponse {
        ScriptedResponse(status: status, headers: [(name: "Content-Type", value: contentType)], body: body)
    }

    static let hang = ScriptedResponse(status: 0, headers: [], body: "", hangs: true)
}

/// A request the server received.
struct ReceivedRequest: Sendable {
    var method: String
    /// Path and query as sent.
    var uri: String
    var headers: [(name: String, value: String)]
    var body: String
    var receivedAt: ContinuousClock.Instant

    var path: String { String(uri.prefix { $0 != "?" }) }

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

/// A tiny HTTP/1.1 server on 127.0.0.1 (port 0) for integration tests:
/// a queue of scripted answers per `METHOD /path` (query ignored), a log of
/// what arrived and the highest number of requests answered at once.
final class ScriptedHTTPServer: Sendable {
    private struct State {
        var scripts: [String: [ScriptedResponse]] = [:]
        var fallbacks: [String: ScriptedResponse] = [:]
        var received: [ReceivedRequest] = []
        var inFlight = 0
        var maxInFlight = 0
        var connections: [ObjectIdentifier: any Channel] = [:]
    }

    private let state = Mutex(State())
    private let serverChannel = Mutex<(any Channel)?>(nil)
    private let boundPort = Mutex(0)

    private let scheme = Mutex("http")

    var port: Int { boundPort.withLock { $0 } }
    var baseURL: String { "\(scheme.withLock { $0 })://127.0.0.1:\(port)" }

    /// - Parameter tls: serve HTTPS with this server configuration.
    static func start(tls: TLSConfiguration? = nil) async throws -> ScriptedHTTPServer {
        let server = ScriptedHTTPServer()
        let sslContext = try tls.map { try NIOSSLContext(configuration: $0) }
        if sslContext != nil { server.scheme.withLock { $0 = "https" } }
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                server.opened(channel)
                return channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
                    }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(ScriptedHandler(server: server))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        server.serverChannel.withLock { $0 = channel }
        server.boundPort.withLock { $0 = channel.localAddress?.port ?? 0 }
        return server
    }

    /// Answers for `method path`, used in order; after the last one,
    /// the fallback (``always(_:_:_:)``) or a 404 in Nova's envelope.
    func script(_ method: String, _ path: String, _ responses: [ScriptedResponse]) {
        state.withLock { $0.scripts["\(method) \(path)", default: []].append(contentsOf: responses) }
    }

    func always(_ method: String, _ path: String, _ response: ScriptedResponse) {
        state.withLock { $0.fallbacks["\(method) \(path)"] = response }
    }

    var requests: [ReceivedRequest] { state.withLock { $0.received } }

    func requests(_ method: String, _ path: String) -> [ReceivedRequest] {
        requests.filter { $0.method == method && $0.path == path }
    }

    /// The most requests being answered at the same time so far.
    var maxConcurrentRequests: Int { state.withLock { $0.maxInFlight } }

    func stop() async throws {
        let connections = state.withLock { Array($0.connections.values) }
        for connection in connections {
            try? await connection.close()
        }
        try await serverChannel.withLock { $0 }?.close()
    }

    // MARK: Handler callbacks (on the connection's event loop)

    fileprivate func opened(_ channel: any Channel) {
        state.withLock { $0.connections[ObjectIdentifier(channel)] = channel }
        channel.closeFuture.whenComplete { _ in
            self.state.withLock { _ = $0.connections.removeValue(forKey: ObjectIdentifier(channel)) }
        }
    }

    fileprivate func received(_ request: ReceivedRequest) -> ScriptedResponse {
        state.withLock { state in
            state.received.append(request)
            state.inFlight += 1
            state.maxInFlight = max(state.maxInFlight, state.inFlight)
            let key = "\(request.method) \(request.path)"
            if var queue = state.scripts[key], !queue.isEmpty {
                let next = queue.removeFirst()
                state.scripts[key] = queue
                return next
            }
            return state.fallbacks[key]
                ?? .json(404, #"{"itemNotFound": {"code": 404, "message": "nothing scripted for \#(key)"}}"#)
        }
    }

    fileprivate func finished() {
        state.withLock { $0.inFlight -= 1 }
    }
}

private final class ScriptedHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let server: ScriptedHTTPServer
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    /// A request was counted in flight and not yet answered.
    private var answering = false

    init(server: ScriptedHTTPServer) { self.server = server }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.clear()
        case .body(var part):
            body.writeBuffer(&part)
        case .end:
            guard let head else { return }
            let request = ReceivedRequest(
                method: head.method.rawValue, uri: head.uri, headers: head.headers.map { ($0.name, $0.value) },
                body: String(buffer: body), receivedAt: .now)
            answering = true
            let response = server.received(request)
            guard !response.hangs else { return }
            let keepAlive = head.isKeepAlive
            if response.delay == .zero {
                answer(context: context, response, keepAlive: keepAlive)
            } else {
                context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(response.delay)) {
                    self.answer(context: context, response, keepAlive: keepAlive)
                }
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if answering {
            answering = false
            server.finished()
        }
        context.fireChannelInactive()
    }

    private func answer(context: ChannelHandlerContext, _ response: ScriptedResponse, keepAlive: Bool) {
        guard answering else { return }
        answering = false
        server.finished()
        var headers = HTTPHeaders(response.headers.map { ($0.name, $0.value) })
        headers.replaceOrAdd(name: "Content-Length", value: "\(response.body.utf8.count)")
        if !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
        let head = HTTPResponseHead(
            version: .http1_1, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: response.body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }
}
