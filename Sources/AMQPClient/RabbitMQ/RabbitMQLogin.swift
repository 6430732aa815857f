import CRabbitMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Opening a connection: the socket (TCP or TLS with its certificates), the
/// check against a socket connected to itself, and the AMQP login with the
/// client properties. No state of its own; the connection loop decides when
/// and where to connect.
struct RabbitMQLogin {
    /// A logged-in connection.
    struct OpenedConnection {
        var handle: RabbitMQConnectionHandle
        var heartbeatSeconds: Int
        var socket: Int32
    }

    let configuration: AMQPConfiguration
    let scratch: RabbitMQScratchPool

    /// Opens a socket (TCP or TLS) to `endpoint` and logs in.
    func open(_ endpoint: AMQPEndpoint) throws -> OpenedConnection {
        let handle = try RabbitMQConnectionHandle()
        let state = handle.state
        let socket: OpaquePointer?
        if let tls = configuration.tls {
            socket = amqp_ssl_socket_new(state)
            if let socket {
                try configureTLS(socket, tls, endpoint: endpoint)
            }
        } else {
            socket = amqp_tcp_socket_new(state)
        }
        guard let socket else {
            throw AMQPError(code: .libraryError, message: "cannot create a socket", endpoint: endpoint.description)
        }

        var connectTimeout = configuration.connectTimeout.timevalValue
        var rpcTimeout = configuration.rpcTimeout.timevalValue
        _ = amqp_set_handshake_timeout(state, &connectTimeout)
        _ = amqp_set_rpc_timeout(state, &rpcTimeout)

        errno = 0
        let status = amqp_socket_open_noblock(socket, endpoint.host, Int32(endpoint.port), &connectTimeout)
        let systemError = errno
        guard status == RabbitMQStatus.ok else {
            var detail = RabbitMQStatus.message(status)
            // librabbitmq connects without blocking; EINPROGRESS says nothing.
            if status == AMQP_STATUS_SOCKET_ERROR.rawValue || status == AMQP_STATUS_TCP_ERROR.rawValue,
               systemError != 0, systemError != EINPROGRESS, systemError != EAGAIN {
                detail += " (\(String(cString: strerror(systemError))))"
            }
            let isTLS = status <= AMQP_STATUS_SSL_ERROR.rawValue && status > _AMQP_STATUS_SSL_NEXT_VALUE.rawValue
            throw AMQPError(
                code: isTLS ? .tlsFailed : .connectionFailed,
                message: isTLS ? "TLS handshake with the broker" : "opening a connection to the broker",
                libraryStatus: status, libraryMessage: detail, endpoint: endpoint.description
            )
        }

        // With nothing listening on a port of the ephemeral range, the OS may
        // pick that very port as the local one and connect the socket to
        // itself; such a socket would also keep the broker from binding it.
        if Self.isConnectedToItself(amqp_get_sockfd(state)) {
            throw AMQPError(
                code: .connectionFailed,
                message: "the socket connected to itself (nothing listens on the port, which is in the ephemeral range)",
                endpoint: endpoint.description
            )
        }

        try login(state, endpoint)
        return OpenedConnection(handle: handle, heartbeatSeconds: Int(amqp_get_heartbeat(state)), socket: amqp_get_sockfd(state))
    }

    static func isConnectedToItself(_ descriptor: Int32) -> Bool {
        var local = sockaddr_storage()
        var peer = sockaddr_storage()
        var localLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        var peerLength = localLength
        let gotLocal = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &localLength) }
        }
        let gotPeer = withUnsafeMutablePointer(to: &peer) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(descriptor, $0, &peerLength) }
        }
        guard gotLocal == 0, gotPeer == 0, localLength == peerLength else {
            return false
        }
        return withUnsafeBytes(of: &local) { localBytes in
            withUnsafeBytes(of: &peer) { peerBytes in
                localBytes.prefix(Int(localLength)).elementsEqual(peerBytes.prefix(Int(peerLength)))
            }
        }
    }

    private func configureTLS(_ socket: OpaquePointer, _ tls: AMQPConfiguration.TLS, endpoint: AMQPEndpoint) throws {
        if let caFile = tls.caCertificateFile {
            let status = amqp_ssl_socket_set_cacert(socket, caFile)
            guard status == RabbitMQStatus.ok else {
                throw AMQPError(
                    code: .invalidConfiguration, message: "cannot load the CA certificate file '\(caFile)'",
                    libraryStatus: status, libraryMessage: RabbitMQStatus.message(status), endpoint: endpoint.description
                )
            }
        }
        switch (tls.clientCertificateFile, tls.clientKeyFile) {
        case (let certificateFile?, let keyFile?):
            let status = amqp_ssl_socket_set_key(socket, certificateFile, keyFile)
            guard status == RabbitMQStatus.ok else {
                throw AMQPError(
                    code: .invalidConfiguration,
                    message: "cannot load the client certificate '\(certificateFile)' with key '\(keyFile)'",
                    libraryStatus: status, libraryMessage: RabbitMQStatus.message(status), endpoint: endpoint.description
                )
            }
        case (nil, nil):
            break
        default:
            throw AMQPError(code: .invalidConfiguration, message: "a TLS client certificate needs both a certificate file and a key file")
        }
        amqp_ssl_socket_set_verify_peer(socket, tls.verifyPeer.amqpBoolean)
        amqp_ssl_socket_set_verify_hostname(socket, tls.verifyHostname.amqpBoolean)
    }

    private func login(_ state: amqp_connection_state_t, _ endpoint: AMQPEndpoint) throws {
        // Merged by librabbitmq with its defaults (capabilities included).
        let clientProperties: AMQPFieldTable = [
            "product": "mistral-actions",
            "platform": "Swift",
            "information": .string("AMQPClient over librabbitmq \(String(cString: amqp_version()))"),
            "connection_name": .string(configuration.connectionName),
            "capabilities": [
                "publisher_confirms": true,
                "consumer_cancel_notify": true,
                "basic.nack": true,
                "connection.blocked": true,
                "authentication_failure_close": true,
                "per_consumer_qos": true,
            ],
        ]
        var table = clientProperties.cTable(in: scratch)
        defer { scratch.recycle() }
        let reply = CRabbitMQ_login_plain(
            state, endpoint.virtualHost, 0, Int32(clamping: configuration.frameMax),
            Int32(configuration.heartbeatSeconds), &table, endpoint.user, endpoint.password
        )
        let what = "logging in as '\(endpoint.user)' to virtual host '\(endpoint.virtualHost)'"
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            return
        case AMQP_RESPONSE_SERVER_EXCEPTION where reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD && reply.reply.decoded != nil:
            let close = reply.reply.decoded!.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            let serverReply = AMQPError.ServerReply(
                scope: .connection, replyCode: close.reply_code, replyText: close.reply_text.string,
                classID: close.class_id, methodID: close.method_id
            )
            var closeOK = amqp_connection_close_ok_t()
            _ = amqp_send_method(state, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &closeOK)
            throw AMQPError(
                code: close.reply_code == 403 ? .authenticationFailed : .connectionClosedByServer,
                message: what, serverReply: serverReply, endpoint: endpoint.description
            )
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            let status = reply.library_error
            var detail = RabbitMQStatus.message(status)
            if status == AMQP_STATUS_CONNECTION_CLOSED.rawValue {
                detail += " (the broker dropped the connection during login: wrong credentials or no access to the virtual host?)"
            }
            throw AMQPError(
                code: .connectionFailed, message: what, libraryStatus: status, libraryMessage: detail,
                endpoint: endpoint.description
            )
        default:
            throw AMQPError(code: .connectionFailed, message: "\(what): unexpected reply", endpoint: endpoint.description)
        }
    }
}
