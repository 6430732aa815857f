/// The worker's typed configuration. Every property's default is the default
/// of the option it is read from: Mistral 23's, oslo.messaging 18's, or this
/// project's for `[mistral_actions]`. `Configuration()` is the configuration
/// of an empty file.
///
/// Read one with ``load(files:directories:overrides:)``; pointing it at the
/// executors' `mistral.conf` is enough, a second file can add or override
/// `[mistral_actions]` keys.
public struct Configuration: Sendable, Equatable {
    /// `[DEFAULT]`: oslo.messaging transport options.
    public var messaging = Messaging()
    /// `[oslo_messaging_rabbit]`.
    public var rabbit = Rabbit()
    /// `[database]`.
    public var database = Database()
    /// `[executor]`.
    public var executor = Executor()
    /// `[engine]`.
    public var engine = Engine()
    /// `[action_heartbeat]`.
    public var actionHeartbeat = ActionHeartbeat()
    /// `[keystone_authtoken]`.
    public var keystone = Keystone()
    /// `[openstack_actions]`.
    public var openStackActions = OpenStackActions()
    /// `[mistral_actions]`: this project's own options.
    public var mistralActions = MistralActions()

    public init() {}

    /// How many actions one worker runs at once (and its prefetch count):
    /// `[mistral_actions] concurrency` if set, else `rabbit_qos_prefetch_count`
    /// if above 0, else 32.
    public var effectiveConcurrency: Int {
        if let concurrency = mistralActions.concurrency { return concurrency }
        return rabbit.qosPrefetchCount > 0 ? rabbit.qosPrefetchCount : MistralActions.defaultConcurrency
    }

    /// `[DEFAULT]` options of oslo.messaging.
    public struct Messaging: Sendable, Equatable {
        /// The broker URL used when `transport_url` is not set. oslo.messaging's
        /// default, `rabbit://`, means the same: guest/guest on localhost:5672, vhost `/`.
        public static let localTransportURL = "rabbit://guest:guest@127.0.0.1:5672/"

        /// `transport_url`; nil when not set (see ``effectiveTransportURL``). Secret.
        public var transportURL: String? = nil
        /// `control_exchange`, default `openstack`.
        public var controlExchange = "openstack"
        /// `rpc_response_timeout`, default 60 s.
        public var rpcResponseTimeout: Duration = .seconds(60)
        /// `executor_thread_pool_size`, default 64. Informational: the Python
        /// executor's pool; the worker uses ``Configuration/effectiveConcurrency``.
        public var executorThreadPoolSize = 64

        public init() {}

        /// `transportURL`, or ``localTransportURL`` when it is not set.
        public var effectiveTransportURL: String { transportURL ?? Self.localTransportURL }
    }

    /// `[oslo_messaging_rabbit]`: what decides how queues are declared and consumed.
    public struct Rabbit: Sendable, Equatable {
        /// `rabbit_qos_prefetch_count`, default 0 (no basic.qos).
        public var qosPrefetchCount = 0
        /// `amqp_durable_queues`, default false.
        public var durableQueues = false
        /// `amqp_auto_delete`, default false.
        public var autoDelete = false
        /// `rabbit_quorum_queue`, default false.
        public var quorumQueue = false
        /// `rabbit_transient_quorum_queue`, default false.
        public var transientQuorumQueue = false
        /// `rabbit_quorum_delivery_limit`, default 0 (none).
        public var quorumDeliveryLimit = 0
        /// `rabbit_quorum_max_memory_length`, default 0 (none).
        public var quorumMaxMemoryLength = 0
        /// `rabbit_quorum_max_memory_bytes`, default 0 (none).
        public var quorumMaxMemoryBytes = 0
        /// `rabbit_transient_queues_ttl`, default 1800 s; zero: no `x-expires`.
        public var transientQueuesTTL: Duration = .seconds(1800)
        /// `rabbit_stream_fanout`, default false.
        public var streamFanout = false
        /// `rabbit_ha_queues`, default false.
        public var haQueues = false
        /// `enable_cancel_on_failover`, default false.
        public var cancelOnFailover = false
        /// `heartbeat_timeout_threshold`, default 60 s; zero: no AMQP heartbeats.
        public var heartbeatTimeoutThreshold: Duration = .seconds(60)
        /// `heartbeat_rate`, default 3.
        public var heartbeatRate = 3
        /// `direct_mandatory_flag`, default true.
        public var directMandatoryFlag = true
        /// `kombu_missing_consumer_retry_timeout`, default 60 s.
        public var missingConsumerRetryTimeout: Duration = .seconds(60)
        /// `kombu_reconnect_delay`, default 1 s.
        public var reconnectDelay: Duration = .seconds(1)
        /// `use_queue_manager`, default false. Not supported by the worker; read
        /// so that it can say so.
        public var useQueueManager = false
        /// `ssl`, default false.
        public var ssl = false
        /// `ssl_ca_file`; nil when empty (the default).
        public var sslCAFile: String? = nil
        /// `ssl_cert_file`; nil when empty (the default).
        public var sslCertFile: String? = nil
        /// `ssl_key_file`; nil when empty (the default).
        public var sslKeyFile: String? = nil
        /// `ssl_enforce_hostname_verification`, default true.
        public var sslVerifyHostname = true

        public init() {}
    }

    /// `[database]`.
    public struct Database: Sendable, Equatable {
        /// `connection`: Mistral's SQLAlchemy URL; no default. Secret.
        public var connection: String? = nil

        public init() {}
    }

    /// `[executor]`.
    public struct Executor: Sendable, Equatable {
        /// `topic`, default `mistral_executor`.
        public var topic = "mistral_executor"
        /// `host`, default `0.0.0.0`.
        public var host = "0.0.0.0"

        public init() {}
    }

    /// `[engine]`.
    public struct Engine: Sendable, Equatable {
        /// `topic`, default `mistral_engine`.
        public var topic = "mistral_engine"

        public init() {}
    }

    /// `[action_heartbeat]`.
    public struct ActionHeartbeat: Sendable, Equatable {
        /// `check_interval`, default 20 s.
        public var checkInterval: Duration = .seconds(20)
        /// `max_missed_heartbeats`, default 15.
        public var maxMissedHeartbeats = 15
        /// `first_heartbeat_timeout`, default 3600 s (engine side, informational).
        public var firstHeartbeatTimeout: Duration = .seconds(3600)

        public init() {}

        /// False when `check_interval` or `max_missed_heartbeats` is 0: Mistral's
        /// executor then sends no heartbeats.
        public var isEnabled: Bool { checkInterval > .zero && maxMissedHeartbeats > 0 }
    }

    /// `[keystone_authtoken]`: service credentials for trust-scoped requests.
    public struct Keystone: Sendable, Equatable {
        /// `www_authenticate_uri`.
        public var wwwAuthenticateURI: String? = nil
        /// `auth_url`.
        public var authURL: String? = nil
        /// `auth_type`.
        public var authType: String? = nil
        /// `username`.
        public var username: String? = nil
        /// `password`. Secret.
        public var password: String? = nil
        /// `project_name`.
        public var projectName: String? = nil
        /// `user_domain_name`.
        public var userDomainName: String? = nil
        /// `project_domain_name`.
        public var projectDomainName: String? = nil
        /// `region_name`.
        public var regionName: String? = nil
        /// `cafile`.
        public var caFile: String? = nil
        /// `insecure`, default false.
        public var insecure = false

        public init() {}
    }

    /// Which catalog endpoints OpenStack actions call.
    public enum EndpointInterface: String, Sendable, Hashable, CaseIterable {
        case `public`, admin, `internal`
    }

    /// `[openstack_actions]`.
    public struct OpenStackActions: Sendable, Equatable {
        /// `default_region`.
        public var defaultRegion: String? = nil
        /// `os_actions_endpoint_type`, default `public`.
        public var endpointInterface = EndpointInterface.public

        public init() {}
    }

    /// How the worker treats requests for actions it does not own.
    public enum WorkerMode: String, Sendable, Hashable, CaseIterable {
        /// Relay them unchanged to ``MistralActions/fallbackTopic``.
        case router
        /// Fail them back to the engine at once.
        case swiftOnly = "swift-only"
    }

    /// The format of log lines.
    public enum LogFormat: String, Sendable, Hashable, CaseIterable {
        case human, json
    }

    /// The least severe level that is logged; the names of swift-log's levels.
    public enum LogLevel: String, Sendable, Hashable, CaseIterable {
        case trace, debug, info, notice, warning, error, critical
    }

    /// `[mistral_actions]`: this project's own options.
    public struct MistralActions: Sendable, Equatable {
        /// The concurrency when neither `concurrency` nor a prefetch count is set.
        public static let defaultConcurrency = 32

        /// `action_prefix`, default `int32bit`.
        public var actionPrefix = "int32bit"
        /// `mode`, default `router`.
        public var mode = WorkerMode.router
        /// `fallback_topic`, default `mistral_executor_python` (router mode).
        public var fallbackTopic = "mistral_executor_python"
        /// `concurrency`; nil: see ``Configuration/effectiveConcurrency``.
        public var concurrency: Int? = nil
        /// `shutdown_grace_period`, default 30 s.
        public var shutdownGracePeriod: Duration = .seconds(30)
        /// `max_unacked_time`: how long a safe-rerun delivery may stay unacknowledged.
        public var maxUnackedTime: Duration = .seconds(1500)
        /// `log_format`, default `human`.
        public var logFormat = LogFormat.human
        /// `log_level`, default `info`.
        public var logLevel = LogLevel.info
        /// `http_listen`, default 127.0.0.1:9469; nil: no HTTP listener.
        public var httpListen: ListenAddress? = ListenAddress(host: "127.0.0.1", port: 9469)
        /// `project_id`, default `<default-project>`.
        public var projectID = "<default-project>"
        /// `code_source_name`, default `mistral_actions`.
        public var codeSourceName = "mistral_actions"
        /// `register_on_start`, default true.
        public var registerOnStart = true
        /// `start_claims`, default true: record action starts so that a
        /// redelivered request that had started is not run twice.
        public var startClaims = true
        /// `start_claims_retention`, default 7 days.
        public var startClaimsRetention: Duration = .seconds(7 * 24 * 3600)
        /// `exec_enabled`, default false.
        public var execEnabled = false
        /// `exec_allowed_commands`, default empty.
        public var execAllowedCommands: [String] = []
        /// `exec_allowed_projects`, default empty: only requests with the
        /// admin role may run local commands.
        public var execAllowedProjects: [String] = []
        /// `exec_timeout`, default 60 s.
        public var execTimeout: Duration = .seconds(60)
        /// `exec_output_limit`, default 1 MiB.
        public var execOutputLimit = 1_048_576
        /// `debug_record_file`, default empty: the file `debug.record`
        /// appends its start and end lines to; nil: that action fails.
        public var debugRecordFile: String?
        /// `max_chain_length`, default 5.
        public var maxChainLength = 5
        /// `openstack_request_timeout`, default 60 s.
        public var openStackRequestTimeout: Duration = .seconds(60)
        /// `openstack_retries`, default 4.
        public var openStackRetries = 4
        /// `openstack_max_concurrent_requests`, default 16.
        public var openStackMaxConcurrentRequests = 16

        public init() {}
    }
}
