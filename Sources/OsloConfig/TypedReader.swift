/// Turns resolved text into typed values, with errors that name the place.
/// Parsing follows each option's declared ``OptionType``, so the table and
/// the typed configuration cannot disagree about types or bounds.
struct TypedReader {
    private var values: [OptionName: (effective: EffectiveValue, context: ValueContext)] = [:]
    private(set) var effectiveValues: [EffectiveValue] = []
    private(set) var consumed: Set<OptionName> = []

    mutating func add(_ resolved: (EffectiveValue, ValueContext)) {
        values[resolved.0.option.optionName] = resolved
        effectiveValues.append(resolved.0)
    }

    func error(_ section: String, _ name: String, code: ConfigError.Code, _ message: String) -> ConfigError {
        guard let value = values[OptionName(section: section, name: name)] else {
            preconditionFailure("[\(section)] \(name) is not declared")
        }
        return value.context.error(code, message)
    }

    /// `"value", from path:line` for messages about another option.
    func describe(_ section: String, _ name: String) -> String {
        guard let value = values[OptionName(section: section, name: name)] else { return "?" }
        return "\(quoted(value.effective.displayValue)), from \(value.effective.origin)"
    }

    private mutating func parsed(_ section: String, _ name: String) throws(ConfigError) -> ParsedValue? {
        let key = OptionName(section: section, name: name)
        guard let value = values[key] else { preconditionFailure("[\(section)] \(name) is not declared") }
        consumed.insert(key)
        guard let text = value.effective.value else { return nil }
        do {
            return try value.effective.option.type.parse(text)
        } catch {
            throw value.context.error(.invalidValue, error.message)
        }
    }

    private func mismatch(_ section: String, _ name: String) -> Never {
        preconditionFailure("[\(section)] \(name) is read with a type other than its declared one")
    }

    mutating func optionalString(_ section: String, _ name: String) throws(ConfigError) -> String? {
        switch try parsed(section, name) {
        case nil: return nil
        case .string(let value): return value
        default: mismatch(section, name)
        }
    }

    mutating func string(_ section: String, _ name: String) throws(ConfigError) -> String {
        guard let value = try optionalString(section, name) else { mismatch(section, name) }
        return value
    }

    mutating func boolean(_ section: String, _ name: String) throws(ConfigError) -> Bool {
        guard case .boolean(let value) = try parsed(section, name) else { mismatch(section, name) }
        return value
    }

    mutating func optionalInteger(_ section: String, _ name: String) throws(ConfigError) -> Int? {
        switch try parsed(section, name) {
        case nil: return nil
        case .integer(let value): return value
        default: mismatch(section, name)
        }
    }

    mutating func integer(_ section: String, _ name: String) throws(ConfigError) -> Int {
        guard let value = try optionalInteger(section, name) else { mismatch(section, name) }
        return value
    }

    mutating func duration(_ section: String, _ name: String) throws(ConfigError) -> Duration {
        guard case .duration(let value) = try parsed(section, name) else { mismatch(section, name) }
        return value
    }

    mutating func list(_ section: String, _ name: String) throws(ConfigError) -> [String] {
        guard case .list(let value) = try parsed(section, name) else { mismatch(section, name) }
        return value
    }

    mutating func listenAddress(_ section: String, _ name: String) throws(ConfigError) -> ListenAddress? {
        guard case .listenAddress(let value) = try parsed(section, name) else { mismatch(section, name) }
        return value
    }

    mutating func choice<Choice: RawRepresentable<String>>(_ section: String, _ name: String, as _: Choice.Type)
        throws(ConfigError) -> Choice
    {
        guard let choice = Choice(rawValue: try string(section, name).lowercased()) else { mismatch(section, name) }
        return choice
    }

    mutating func readConfiguration() throws(ConfigError) -> Configuration {
        var configuration = Configuration()

        configuration.messaging.transportURL = try optionalString("DEFAULT", "transport_url")
        configuration.messaging.controlExchange = try string("DEFAULT", "control_exchange")
        configuration.messaging.rpcResponseTimeout = try duration("DEFAULT", "rpc_response_timeout")
        configuration.messaging.executorThreadPoolSize = try integer("DEFAULT", "executor_thread_pool_size")

        let own = ConfigurationSchema.ownSectionName
        var mistralActions = Configuration.MistralActions()
        mistralActions.actionPrefix = try string(own, "action_prefix")
        mistralActions.mode = try choice(own, "mode", as: Configuration.WorkerMode.self)
        mistralActions.fallbackTopic = try string(own, "fallback_topic")
        mistralActions.concurrency = try optionalInteger(own, "concurrency")
        mistralActions.shutdownGracePeriod = try duration(own, "shutdown_grace_period")
        mistralActions.maxUnackedTime = try duration(own, "max_unacked_time")
        mistralActions.logFormat = try choice(own, "log_format", as: Configuration.LogFormat.self)
        mistralActions.logLevel = try choice(own, "log_level", as: Configuration.LogLevel.self)
        mistralActions.httpListen = try listenAddress(own, "http_listen")
        mistralActions.projectID = try string(own, "project_id")
        mistralActions.codeSourceName = try string(own, "code_source_name")
        mistralActions.registerOnStart = try boolean(own, "register_on_start")
        mistralActions.startClaims = try boolean(own, "start_claims")
        mistralActions.startClaimsRetention = try duration(own, "start_claims_retention")
        mistralActions.execEnabled = try boolean(own, "exec_enabled")
        mistralActions.execAllowedCommands = try list(own, "exec_allowed_commands")
        mistralActions.execAllowedProjects = try list(own, "exec_allowed_projects")
        mistralActions.execTimeout = try duration(own, "exec_timeout")
        mistralActions.execOutputLimit = try integer(own, "exec_output_limit")
        let recordFile = try string(own, "debug_record_file")
        mistralActions.debugRecordFile = recordFile.isEmpty ? nil : recordFile
        mistralActions.maxChainLength = try integer(own, "max_chain_length")
        mistralActions.openStackRequestTimeout = try duration(own, "openstack_request_timeout")
        mistralActions.openStackRetries = try integer(own, "openstack_retries")
        mistralActions.openStackMaxConcurrentRequests = try integer(own, "openstack_max_concurrent_requests")
        configuration.mistralActions = mistralActions

        configuration.database.connection = try optionalString("database", "connection")
        configuration.executor.topic = try string("executor", "topic")
        configuration.executor.host = try string("executor", "host")
        configuration.engine.topic = try string("engine", "topic")

        let rabbitSection = "oslo_messaging_rabbit"
        var rabbit = Configuration.Rabbit()
        rabbit.qosPrefetchCount = try integer(rabbitSection, "rabbit_qos_prefetch_count")
        rabbit.durableQueues = try boolean(rabbitSection, "amqp_durable_queues")
        rabbit.autoDelete = try boolean(rabbitSection, "amqp_auto_delete")
        rabbit.quorumQueue = try boolean(rabbitSection, "rabbit_quorum_queue")
        rabbit.transientQuorumQueue = try boolean(rabbitSection, "rabbit_transient_quorum_queue")
        rabbit.quorumDeliveryLimit = try integer(rabbitSection, "rabbit_quorum_delivery_limit")
        rabbit.quorumMaxMemoryLength = try integer(rabbitSection, "rabbit_quorum_max_memory_length")
        rabbit.quorumMaxMemoryBytes = try integer(rabbitSection, "rabbit_quorum_max_memory_bytes")
        rabbit.transientQueuesTTL = try duration(rabbitSection, "rabbit_transient_queues_ttl")
        rabbit.streamFanout = try boolean(rabbitSection, "rabbit_stream_fanout")
        rabbit.haQueues = try boolean(rabbitSection, "rabbit_ha_queues")
        rabbit.cancelOnFailover = try boolean(rabbitSection, "enable_cancel_on_failover")
        rabbit.heartbeatTimeoutThreshold = try duration(rabbitSection, "heartbeat_timeout_threshold")
        rabbit.heartbeatRate = try integer(rabbitSection, "heartbeat_rate")
        rabbit.directMandatoryFlag = try boolean(rabbitSection, "direct_mandatory_flag")
        rabbit.missingConsumerRetryTimeout = try duration(rabbitSection, "kombu_missing_consumer_retry_timeout")
        rabbit.reconnectDelay = try duration(rabbitSection, "kombu_reconnect_delay")
        rabbit.useQueueManager = try boolean(rabbitSection, "use_queue_manager")
        rabbit.ssl = try boolean(rabbitSection, "ssl")
        rabbit.sslCAFile = try nonEmpty(string(rabbitSection, "ssl_ca_file"))
        rabbit.sslCertFile = try nonEmpty(string(rabbitSection, "ssl_cert_file"))
        rabbit.sslKeyFile = try nonEmpty(string(rabbitSection, "ssl_key_file"))
        rabbit.sslVerifyHostname = try boolean(rabbitSection, "ssl_enforce_hostname_verification")
        configuration.rabbit = rabbit

        configuration.actionHeartbeat.maxMissedHeartbeats = try integer("action_heartbeat", "max_missed_heartbeats")
        configuration.actionHeartbeat.checkInterval = try duration("action_heartbeat", "check_interval")
        configuration.actionHeartbeat.firstHeartbeatTimeout = try duration("action_heartbeat", "first_heartbeat_timeout")

        let keystoneSection = "keystone_authtoken"
        var keystone = Configuration.Keystone()
        keystone.wwwAuthenticateURI = try optionalString(keystoneSection, "www_authenticate_uri")
        keystone.authURL = try optionalString(keystoneSection, "auth_url")
        keystone.authType = try optionalString(keystoneSection, "auth_type")
        keystone.username = try optionalString(keystoneSection, "username")
        keystone.password = try optionalString(keystoneSection, "password")
        keystone.projectName = try optionalString(keystoneSection, "project_name")
        keystone.userDomainName = try optionalString(keystoneSection, "user_domain_name")
        keystone.projectDomainName = try optionalString(keystoneSection, "project_domain_name")
        keystone.regionName = try optionalString(keystoneSection, "region_name")
        keystone.caFile = try optionalString(keystoneSection, "cafile")
        keystone.insecure = try boolean(keystoneSection, "insecure")
        configuration.keystone = keystone

        configuration.openStackActions.defaultRegion = try optionalString("openstack_actions", "default_region")
        configuration.openStackActions.endpointInterface = try choice(
            "openstack_actions", "os_actions_endpoint_type", as: Configuration.EndpointInterface.self)
        return configuration
    }

    private func nonEmpty(_ value: String) -> String? {
        value.isEmpty ? nil : value
    }
}
