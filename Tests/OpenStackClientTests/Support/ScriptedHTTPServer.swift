import MistralActionsTestSupport
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization
import Testing

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
/// what arrived, the highest number of requests answered at once, and
/// answers held back until the test releases them (``hold(_:_:)``).
final class ScriptedHTTPServer: Sendable {
    private struct State {
        var scripts: [String: [ScriptedResponse]] = [:]
        var fallbacks: [String: ScriptedResponse] = [:]
        var received: [ReceivedRequest] = []
        var inFlight = 0
        var maxInFlight = 0
        var connections: [ObjectIdentifier: any Channel] = [:]
        /// Keys whose answers wait for ``release(_:_:count:)``.
        var heldKeys: Set<String> = []
        /// Held requests in arrival order, per key.
        var held: [String: [EventLoopPromise<Void>]] = [:]
        /// Releases asked for before the requests arrived.
        var releaseCredits: [String: Int] = [:]
    }

    private let state = Mutex(State())
    /// Moves with every request received: waits for requests wake on it.
    private let arrivals = AsyncCounter()
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

    /// Requests received and not answered yet.
    var requestsInFlight: Int { state.withLock { $0.inFlight } }

    /// From now on, requests to `method path` are received (logged, counted
    /// in flight) but not answered until ``release(_:_:count:)`` lets them
    /// go: a test can then see exactly which requests are in flight at
    /// once, whatever the machine's speed.
    func hold(_ method: String, _ path: String) {
        state.withLock { _ = $0.heldKeys.insert("\(method) \(path)") }
    }

    /// Lets `count` held requests to `method path` be answered, oldest
    /// first; releases beyond those waiting apply to the next arrivals.
    func release(_ method: String, _ path: String, count: Int = 1) {
        let key = "\(method) \(path)"
        let released = state.withLock { state -> [EventLoopPromise<Void>] in
            var waiting = state.held[key, default: []]
            let now = Array(waiting.prefix(count))
            waiting.removeFirst(now.count)
            state.held[key] = waiting
            state.releaseCredits[key, default: 0] += count - now.count
            return now
        }
        released.forEach { $0.succeed() }
    }

    /// Stops holding `method path` and answers every request held there.
    func releaseAll(_ method: String, _ path: String) {
        let key = "\(method) \(path)"
        let released = state.withLock { state -> [EventLoopPromise<Void>] in
            state.heldKeys.remove(key)
            state.releaseCredits[key] = nil
            return state.held.removeValue(forKey: key) ?? []
        }
        released.forEach { $0.succeed() }
    }

    /// Waits until at least `count` requests to `method path` arrived.
    /// `limit` only guards against a hang: it is not a timing assumption.
    func waitForRequests(
        _ method: String, _ path: String, count: Int, limit: Duration = .seconds(60),
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        do {
            try await arrivals.waitUntil("\(count) requests to \(method) \(path)", limit: limit) {
                self.requests(method, path).count >= count
            }
        } catch is TestTimeout {
            let seen = requests(method, path).count
            Issue.record("\(count) requests to \(method) \(path) expected, \(seen) arrived", sourceLocation: sourceLocation)
            throw CancellationError()
        }
    }

    func stop() async throws {
        let connections = state.withLock { Array($0.connections.values) }
        for connection in connections {
            try? await connection.close()
        }
        // Held answers go nowhere now (their connections are closed), but
        // every promise must be completed.
        let held = state.withLock { state in
            defer { state.held = [:] }
            return state.held.values.flatMap { $0 }
        }
        held.forEach { $0.succeed() }
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
        defer { arrivals.increment() }
        return state.withLock { state in
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

    /// Whether the answer to `request` must wait for a release; if so,
    /// `makePromise()` is called (under the lock, so that no release is
    /// lost) and its promise completes at the release.
    fileprivate func mustHold(_ request: ReceivedRequest, makePromise: () -> EventLoopPromise<Void>) -> EventLoopFuture<Void>? {
        let key = "\(request.method) \(request.path)"
        return state.withLock { state in
            guard state.heldKeys.contains(key) else { return nil }
            if let credits = state.releaseCredits[key], credits > 0 {
                state.releaseCredits[key] = credits - 1
                return nil
            }
            let promise = makePromise()
            state.held[key, default: []].append(promise)
            return promise.futureResult
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
            let eventLoop = context.eventLoop
            if let release = server.mustHold(request, makePromise: { eventLoop.makePromise() }) {
                release.assumeIsolated().whenSuccess {
                    self.respond(context: context, response, keepAlive: keepAlive)
                }
            } else {
                respond(context: context, response, keepAlive: keepAlive)
            }
        }
    }

    private func respond(context: ChannelHandlerContext, _ response: ScriptedResponse, keepAlive: Bool) {
        if response.delay == .zero {
            answer(context: context, response, keepAlive: keepAlive)
        } else {
            context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(response.delay)) {
                self.answer(context: context, response, keepAlive: keepAlive)
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
