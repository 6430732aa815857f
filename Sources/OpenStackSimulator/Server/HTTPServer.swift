import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Turns a complete request into the simulator's answer. Runs on an event loop, so it must not block.
typealias HTTPResponder = @Sendable (HTTPRequestData) -> HTTPResponseData

/// A plain HTTP/1.1 server on SwiftNIO: one handler per connection that aggregates each
/// request, asks the responder, and writes the answer (keep-alive aware).
final class HTTPServer: Sendable {
    private let serverChannel: any Channel
    private let connections: ConnectionRegistry
    /// The port actually bound (the ephemeral one when 0 was asked for).
    let port: Int

    private init(serverChannel: any Channel, connections: ConnectionRegistry, port: Int) {
        self.serverChannel = serverChannel
        self.connections = connections
        self.port = port
    }

    static func start(host: String, port: Int, responder: @escaping HTTPResponder) async throws -> HTTPServer {
        let connections = ConnectionRegistry()
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                connections.add(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(SimulatorHTTPHandler(responder: responder))
                }
            }
            .childChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.maxMessagesPerRead, value: 16)
        let channel = try await bootstrap.bind(host: host, port: port).get()
        let boundPort = channel.localAddress?.port ?? port
        return HTTPServer(serverChannel: channel, connections: connections, port: boundPort)
    }

    /// Stops accepting and closes every open connection (keep-alive clients included).
    func shutdown() async {
        try? await serverChannel.close()
        for connection in connections.all() {
            try? await connection.close()
        }
    }

    /// Returns when the listening socket has closed.
    func waitUntilClosed() async {
        try? await serverChannel.closeFuture.get()
    }
}

/// The open connections, so that shutdown can close keep-alive ones.
private final class ConnectionRegistry: Sendable {
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

/// Aggregates one request at a time (the pipelining handler in front orders them) and answers it.
private final class SimulatorHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let responder: HTTPResponder
    private var head: HTTPRequestHead?
    private var body: ByteBuffer?
    private var scheduledReply: Scheduled<Void>?
    private var isActive = true

    init(responder: @escaping HTTPResponder) {
        self.responder = responder
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let requestHead):
            head = requestHead
            body = context.channel.allocator.buffer(capacity: 0)
        case .body(var chunk):
            body?.writeBuffer(&chunk)
        case .end:
            guard let requestHead = head else { return }
            let bytes = body.map { Array($0.readableBytesView) } ?? []
            head = nil
            body = nil
            let request = HTTPRequestData(
                method: requestHead.method.rawValue, target: requestHead.uri,
                headers: requestHead.headers.map { ($0.name, $0.value) }, body: bytes)
            let reply = responder(request)
            if reply.delay > 0 {
                // At most an hour: a rule's delay is outside input.
                let nanoseconds = Timestamp.microseconds(min(reply.delay, 3600)) * 1000
                scheduledReply = context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(nanoseconds)) {
                    self.scheduledReply = nil
                    self.send(reply, for: requestHead, context: context)
                }
            } else {
                send(reply, for: requestHead, context: context)
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        isActive = false
        scheduledReply?.cancel()
        scheduledReply = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        isActive = false
        scheduledReply?.cancel()
        scheduledReply = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func send(_ reply: HTTPResponseData, for requestHead: HTTPRequestHead, context: ChannelHandlerContext) {
        guard isActive else { return }
        if reply.resetConnection {
            resetConnection(context: context)
            return
        }
        let keepAlive = requestHead.isKeepAlive
        var headers = HTTPHeaders()
        for (name, value) in reply.headers {
            headers.add(name: name, value: value)
        }
        let sendsBody = requestHead.method != .HEAD && !reply.body.isEmpty
        headers.replaceOrAdd(name: "Content-Length", value: String(sendsBody ? reply.body.count : 0))
        headers.replaceOrAdd(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        let responseHead = HTTPResponseHead(
            version: requestHead.version, status: HTTPResponseStatus(statusCode: reply.status), headers: headers)
        context.write(wrapOutboundOut(.head(responseHead)), promise: nil)
        if sendsBody {
            var buffer = context.channel.allocator.buffer(capacity: reply.body.count)
            buffer.writeBytes(reply.body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            written.assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        }
    }

    /// Closes with SO_LINGER 0 so that the peer sees a reset, not an orderly end of stream.
    private func resetConnection(context: ChannelHandlerContext) {
        guard let provider = context.channel as? any SocketOptionProvider else {
            context.close(promise: nil)
            return
        }
        provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}
