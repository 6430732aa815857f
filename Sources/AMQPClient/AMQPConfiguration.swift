#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How an ``AMQPConnection`` connects, keeps its connection alive and reconnects.
public struct AMQPConfiguration: Sendable {
    /// TLS settings. When set, every endpoint is reached over TLS.
    public struct TLS: Sendable, Hashable {
        /// PEM file with the CA certificate(s) that signed the broker's certificate.
        /// `nil`: no CA is loaded, so verification fails unless `verifyPeer` is off.
        public var caCertificateFile: String?
        /// PEM file with this client's certificate, for brokers that ask for one.
        public var clientCertificateFile: String?
        /// PEM file with the key of `clientCertificateFile` (unencrypted).
        public var clientKeyFile: String?
        /// Verify the broker's certificate chain against `caCertificateFile`. Default: true.
        public var verifyPeer: Bool
        /// Verify that the broker's certificate names the host connected to. Default: true.
        public var verifyHostname: Bool

        public init(
            caCertificateFile: String? = nil,
            clientCertificateFile: String? = nil,
            clientKeyFile: String? = nil,
            verifyPeer: Bool = true,
            verifyHostname: Bool = true
        ) {
            self.caCertificateFile = caCertificateFile
            self.clientCertificateFile = clientCertificateFile
            self.clientKeyFile = clientKeyFile
            self.verifyPeer = verifyPeer
            self.verifyHostname = verifyHostname
        }
    }

    /// Delays between connection attempts: `initial`, then multiplied by
    /// `multiplier` after each failed round over all endpoints, capped at
    /// `maximum`; each delay is shortened by a random fraction up to `jitter`
    /// so that many workers do not reconnect in lockstep.
    public struct ReconnectBackoff: Sendable, Hashable {
        /// Default: 1 s.
        public var initial: Duration
        /// Default: 30 s.
        public var maximum: Duration
        /// Default: 2.
        public var multiplier: Double
        /// Fraction (0...1) of each delay that may be removed at random. Default: 0.25.
        public var jitter: Double

        public init(
            initial: Duration = .seconds(1),
            maximum: Duration = .seconds(30),
            multiplier: Double = 2,
            jitter: Double = 0.25
        ) {
            self.initial = initial
            self.maximum = maximum
            self.multiplier = multiplier
            self.jitter = jitter
        }
    }

    /// Brokers to connect to, tried in turn.
    public var endpoints: [AMQPEndpoint]
    /// TLS for all endpoints; `nil` (default) for plain TCP.
    public var tls: TLS?
    /// Heartbeat interval proposed to the broker, in seconds; the broker may
    /// lower it. 0 turns heartbeats off. Default: 60 (oslo's default).
    public var heartbeatSeconds: UInt16
    /// Sent as the client property `connection_name` (shown by the management
    /// UI and `rabbitmqctl list_connections`). Default: `<process name>:<pid>`.
    public var connectionName: String
    /// Bound on TCP connect, TLS handshake and AMQP login, per endpoint. Default: 10 s.
    public var connectTimeout: Duration
    /// Bound on each synchronous AMQP method (declare, bind, qos, consume,
    /// ...). When it passes the connection is considered broken and is
    /// re-established. Default: 30 s.
    public var rpcTimeout: Duration
    /// How long an operation issued while there is no connection waits for
    /// one before it fails with ``AMQPError/Code-swift.struct/notConnected``.
    /// The wait starts when the connection thread sees the operation, i.e.
    /// once ``AMQPConnection/run()`` runs. Default: 30 s.
    public var disconnectedOperationTimeout: Duration
    /// Largest frame size proposed to the broker. Default: 131072 (librabbitmq's default).
    public var frameMax: UInt32
    /// Delays between reconnection attempts.
    public var reconnectBackoff: ReconnectBackoff
    /// Longest time the connection thread sleeps when idle before it looks at
    /// the socket again (it is woken at once by new operations and incoming
    /// data). Also capped at a quarter of the heartbeat. Default: 200 ms.
    public var pollInterval: Duration

    public init(
        endpoints: [AMQPEndpoint],
        tls: TLS? = nil,
        heartbeatSeconds: UInt16 = 60,
        connectionName: String? = nil,
        connectTimeout: Duration = .seconds(10),
        rpcTimeout: Duration = .seconds(30),
        disconnectedOperationTimeout: Duration = .seconds(30),
        frameMax: UInt32 = 131_072,
        reconnectBackoff: ReconnectBackoff = ReconnectBackoff(),
        pollInterval: Duration = .milliseconds(200)
    ) {
        self.endpoints = endpoints
        self.tls = tls
        self.heartbeatSeconds = heartbeatSeconds
        self.connectionName = connectionName ?? Self.defaultConnectionName()
        self.connectTimeout = connectTimeout
        self.rpcTimeout = rpcTimeout
        self.disconnectedOperationTimeout = disconnectedOperationTimeout
        self.frameMax = frameMax
        self.reconnectBackoff = reconnectBackoff
        self.pollInterval = pollInterval
    }

    /// A configuration for an oslo `transport_url` (see ``AMQPTransportURL``).
    /// `amqps://` turns TLS on with default settings when `tls` is `nil`.
    public init(transportURL: String, tls: TLS? = nil, connectionName: String? = nil) throws {
        let url = try AMQPTransportURL(transportURL)
        self.init(
            endpoints: url.endpoints,
            tls: tls ?? (url.usesTLS ? TLS() : nil),
            connectionName: connectionName
        )
    }

    static func defaultConnectionName() -> String {
        let info = ProcessInfo.processInfo
        return "\(info.processName):\(info.processIdentifier)"
    }
}
