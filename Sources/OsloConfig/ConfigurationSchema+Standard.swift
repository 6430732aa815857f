extension ConfigurationSchema {
    /// Every option mistral-actions reads. Defaults of Mistral's, oslo's and
    /// keystonemiddleware's options are those of Mistral 23.0.0,
    /// oslo.messaging 18.3.1, oslo.db 18.1.1 and keystonemiddleware 13.0.1.
    ///
    /// This table is the single source of the sample file, `config show` and
    /// the option documentation; ``Configuration/load(files:directories:overrides:)``
    /// reads exactly these options.
    public static let standard = ConfigurationSchema(sections: [
        defaultSection, mistralActionsSection, databaseSection, executorSection, engineSection,
        rabbitSection, actionHeartbeatSection, keystoneSection, openStackActionsSection,
    ])

    /// The name of this project's own section.
    public static let ownSectionName = "mistral_actions"

    private static let defaultSection = SectionDefinition(
        name: "DEFAULT",
        definedBy: "oslo.messaging",
        help: """
            Messaging options that Mistral's services read from [DEFAULT]. Keys \
            in [DEFAULT] are DEFAULT options only; other sections do not inherit them.
            """,
        options: [
            OptionDefinition(
                section: "", name: "transport_url", type: .url, defaultValue: nil,
                help: """
                    The RabbitMQ broker(s), as oslo.messaging reads them: \
                    rabbit://user:password@host:port[,user:password@host:port]/virtual_host. \
                    Unset: rabbit://guest:guest@127.0.0.1:5672/, which is what oslo.messaging's \
                    default "rabbit://" means. Percent-encode special characters in user and \
                    password, and write $$ for a literal $ (oslo.config substitutes $name \
                    references in every value).
                    """,
                secrecy: .urlCredentials),
            .string(
                "control_exchange", default: "openstack",
                help: """
                    The topic exchange every RPC message goes through. Mistral keeps \
                    oslo.messaging's default; the engine and all executors must agree.
                    """),
            .seconds(
                "rpc_response_timeout", default: 60, min: 1,
                help: """
                    Seconds to wait for the reply to an RPC call; also the expiration of \
                    call messages.
                    """),
            .integer(
                "executor_thread_pool_size", default: 64,
                deprecated: [OptionName(section: "", name: "rpc_thread_pool_size")],
                help: """
                    Informational: how many requests a Python RPC server dispatches at \
                    once. mistral-actions bounds its in-flight actions with \
                    [mistral_actions] concurrency instead.
                    """),
        ])

    private static let mistralActionsSection = SectionDefinition(
        name: ownSectionName,
        definedBy: "mistral-actions",
        help: """
            Options of mistral-actions itself. Unknown keys in this section are \
            reported as warnings.
            """,
        isOwnSection: true,
        options: [
            .string(
                "action_prefix", default: "int32bit",
                help: """
                    First part of every action name: <prefix>.<service>.<resource>.<verb>. \
                    The default keeps the names of the original int32bit/mistral-actions, \
                    so its workflows run unchanged.
                    """),
            .choice(
                "mode", default: "router", choices: ["router", "swift-only"],
                help: """
                    router: this worker is the only consumer of [executor] topic; it runs \
                    the Swift actions and relays every other request, byte for byte, to \
                    fallback_topic, where Python executors listen. swift-only: a request \
                    for an action this worker does not own is failed back at once.
                    """),
            .string(
                "fallback_topic", default: "mistral_executor_python",
                help: """
                    Router mode: the topic that Python executors consume (their own \
                    [executor] topic). Must differ from [executor] topic.
                    """),
            .integer(
                "concurrency", default: nil, min: 1, sampleDefault: "<rabbit_qos_prefetch_count, or 32>",
                help: """
                    How many actions one worker runs at once; it is also the worker's \
                    RabbitMQ prefetch count. Unset: [oslo_messaging_rabbit] \
                    rabbit_qos_prefetch_count when that is above 0, else 32.
                    """),
            .duration(
                "shutdown_grace_period", default: "30s", min: .zero,
                help: """
                    On SIGTERM, how long in-flight actions may run to completion before \
                    they are cancelled.
                    """),
            .duration(
                "max_unacked_time", default: "25m", min: .seconds(1),
                help: """
                    A safe-rerun action is acknowledged to RabbitMQ only once its result \
                    is confirmed, so that another worker reruns it if this one dies. An \
                    action still running after this long is acknowledged anyway, so the \
                    delivery never outlives RabbitMQ's consumer_timeout (30 minutes by \
                    default), which would close the channel. Keep it below that timeout.
                    """),
            .choice(
                "log_format", default: "human", choices: ["human", "json"], ignoreCase: true,
                help: "human: one readable line per event. json: one JSON object per line."),
            .choice(
                "log_level", default: "info",
                choices: ["trace", "debug", "info", "notice", "warning", "error", "critical"], ignoreCase: true,
                help: "The least severe level that is logged."),
            OptionDefinition(
                section: "", name: "http_listen", type: .listenAddress, defaultValue: "127.0.0.1:9469",
                help: """
                    Where health, readiness and Prometheus metrics are served over HTTP: \
                    host:port, [IPv6]:port, or off (or empty) for no HTTP listener.
                    """),
            .string(
                "project_id", default: "<default-project>",
                help: """
                    The project_id of the action rows this tool registers. The default is \
                    the project Mistral itself uses when Keystone is off.
                    """),
            .string(
                "code_source_name", default: "mistral_actions",
                help: """
                    The name of the code source row that holds the generated Python stubs \
                    of the Swift actions.
                    """),
            .boolean(
                "register_on_start", default: true,
                help: """
                    Whether the worker brings Mistral's action tables in step with its \
                    actions when it starts (as `mistral-actions register` does).
                    """),
            .boolean(
                "start_claims", default: true,
                help: """
                    Record each action start in the database (table \
                    mistral_actions.start_claims) so that a request RabbitMQ redelivers \
                    after a lost acknowledgement is not run twice; needs [database] \
                    connection.
                    """),
            .duration(
                "start_claims_retention", default: "168h", min: .seconds(3600),
                help: """
                    How long start claims are kept (168h: 7 days). A redelivered request \
                    older than this runs again; older claims are deleted at most once an \
                    hour.
                    """),
            .boolean(
                "exec_enabled", default: false,
                help: "Whether actions that run local commands may run at all."),
            OptionDefinition(
                section: "", name: "exec_allowed_commands", type: .list, defaultValue: "",
                help: """
                    The commands those actions may run, comma-separated. Empty: none.
                    """),
            OptionDefinition(
                section: "", name: "exec_allowed_projects", type: .list, defaultValue: "",
                help: """
                    The projects (ids) whose requests may run local commands, besides \
                    requests with the admin role, which always may. Empty: admin requests \
                    only. Requests Keystone did not authenticate (Mistral without \
                    authentication, where roles and project are whatever the API client \
                    sent) count as project <default-project>, whatever they claim; list it \
                    to let everyone who can reach Mistral's API run commands. An allowed \
                    command reads and writes what the worker's user can, for whoever may \
                    run it.
                    """),
            .duration(
                "exec_timeout", default: "60s", min: .milliseconds(1),
                help: "How long a local command may run before its process group is killed."),
            .integer(
                "exec_output_limit", default: 1_048_576, min: 1,
                help: "The most bytes of a local command's output that are kept; the rest is cut off."),
            .duration(
                "openstack_request_timeout", default: "60s", min: .milliseconds(100),
                help: """
                    How long one OpenStack API request may take (connecting, sending, \
                    the answer). An action that waits for a status makes many requests.
                    """),
            .integer(
                "openstack_retries", default: 4, min: 0,
                help: """
                    How many times a read (GET) is repeated after a 5xx, a 429, a reset \
                    connection or a timeout, with backoff that honours Retry-After. \
                    Writes are repeated only when the connection could not be made or a \
                    rate limit turned them away (429, or 413 with a positive Retry-After).
                    """),
            .string(
                "debug_record_file", default: "",
                help: """
                    A file the debug.record test action appends one line to when it \
                    starts and one when it ends (action execution id, tag, process id, \
                    time), so that a test can count every run of every worker. Empty: \
                    debug.record fails with a clear error. For test deployments only.
                    """),
            .integer(
                "openstack_max_concurrent_requests", default: 16, min: 1,
                help: """
                    The most requests in flight to one OpenStack service endpoint, over \
                    all actions of the worker; more wait their turn, so a burst of \
                    workflows cannot flood one API.
                    """),
            .integer(
                "max_chain_length", default: 5, min: 1,
                help: """
                    Incremental backups: the most backups (the full one included) in one \
                    chain; the next backup after that is a full one.
                    """),
        ])

    private static let databaseSection = SectionDefinition(
        name: "database",
        definedBy: "oslo.db",
        help: "Mistral's database, where the action tables are.",
        options: [
            OptionDefinition(
                section: "", name: "connection", type: .url, defaultValue: nil,
                help: """
                    The SQLAlchemy URL of Mistral's database, e.g. \
                    postgresql+psycopg2://mistral:password@db.example.org/mistral. \
                    Required wherever actions are registered (the worker at start, \
                    `mistral-actions register`).
                    """,
                secrecy: .urlCredentials)
        ])

    private static let executorSection = SectionDefinition(
        name: "executor",
        definedBy: "Mistral",
        help: "Mistral's executor options.",
        options: [
            .string(
                "topic", default: "mistral_executor",
                help: """
                    The topic Mistral's engine sends action requests to. The worker \
                    consumes it; in router mode, Python executors move to fallback_topic.
                    """),
            OptionDefinition(
                section: "", name: "host", type: .hostAddress, defaultValue: "0.0.0.0",
                help: """
                    Names the per-server queue <topic>.<host> that the worker also \
                    consumes, as an oslo RPC server does (Mistral 23 sends nothing there).
                    """),
        ])

    private static let engineSection = SectionDefinition(
        name: "engine",
        definedBy: "Mistral",
        help: "Mistral's engine options.",
        options: [
            .string(
                "topic", default: "mistral_engine",
                help: "The topic of the engine: results and heartbeats are sent there.")
        ])

    private static let rabbitSection = SectionDefinition(
        name: "oslo_messaging_rabbit",
        definedBy: "oslo.messaging",
        help: """
            RabbitMQ options. Queues are declared exactly as oslo.messaging declares \
            them with the same options, so keep these equal to the Mistral services' \
            values, or declarations fail with PRECONDITION_FAILED.
            """,
        options: [
            .integer(
                "rabbit_qos_prefetch_count", default: 0, min: 0,
                help: """
                    basic.qos prefetch count of the Python services' consumers; 0 sends \
                    none. mistral-actions always sets [mistral_actions] concurrency as its \
                    prefetch count, which defaults to this value when above 0.
                    """),
            .boolean("amqp_durable_queues", default: false, help: "Declare the topic exchange and topic queues durable."),
            .boolean("amqp_auto_delete", default: false, help: "Declare the topic exchange and topic queues auto-delete."),
            .boolean(
                "rabbit_quorum_queue", default: false,
                help: "Declare topic queues as quorum queues (durable); needs RabbitMQ 3.8 or newer."),
            .boolean(
                "rabbit_transient_quorum_queue", default: false,
                help: "Declare reply and fanout queues as quorum queues (durable)."),
            .integer(
                "rabbit_quorum_delivery_limit", default: 0, min: 0,
                help: "x-delivery-limit of quorum queues; 0 sets none."),
            .integer(
                "rabbit_quorum_max_memory_length", default: 0, min: 0,
                deprecated: [OptionName(section: "", name: "rabbit_quroum_max_memory_length")],
                help: "x-max-in-memory-length of quorum queues; 0 sets none."),
            .integer(
                "rabbit_quorum_max_memory_bytes", default: 0, min: 0,
                deprecated: [OptionName(section: "", name: "rabbit_quroum_max_memory_bytes")],
                help: "x-max-in-memory-bytes of quorum queues; 0 sets none."),
            .seconds(
                "rabbit_transient_queues_ttl", default: 1800, min: 0,
                help: "x-expires of reply and fanout queues, in seconds; 0 sets none."),
            .boolean(
                "rabbit_stream_fanout", default: false,
                help: """
                    Use one stream queue per fanout exchange instead of a queue per \
                    consumer (needs rabbit_transient_quorum_queue and a prefetch count).
                    """),
            .boolean(
                "rabbit_ha_queues", default: false,
                help: "Declare queues with x-ha-policy: all (classic mirrored queues; ignored by RabbitMQ 4)."),
            .boolean(
                "enable_cancel_on_failover", default: false,
                help: "Consume with x-cancel-on-ha-failover: true."),
            .seconds(
                "heartbeat_timeout_threshold", default: 60, min: 0,
                help: "AMQP heartbeat timeout in seconds; 0 turns heartbeats off."),
            .integer(
                "heartbeat_rate", default: 3, min: 1,
                help: "How many times per heartbeat_timeout_threshold the heartbeat is checked."),
            .boolean(
                "direct_mandatory_flag", default: true,
                help: "Publish replies with the mandatory flag (deprecated in oslo.messaging)."),
            .seconds(
                "kombu_missing_consumer_retry_timeout", default: 60, min: 0,
                deprecated: [OptionName(section: "", name: "kombu_reconnect_timeout")],
                help: "How long a reply to a missing reply queue is retried, in seconds."),
            OptionDefinition(
                section: "", name: "kombu_reconnect_delay", type: .fractionalSeconds(min: 0, max: 4.5),
                defaultValue: "1.0",
                help: "Seconds to wait before reconnecting after a consumer cancel notification."),
            .boolean(
                "use_queue_manager", default: false,
                help: """
                    Deterministic reply and fanout queue names (<hostname>:<processname>:<n>). \
                    Read so that a mistral.conf that sets it is reported as unsupported.
                    """),
            .boolean("ssl", default: false, help: "Connect over TLS (amqps)."),
            .string("ssl_ca_file", default: "", help: "CA certificates that verify the broker (PEM); empty: system roots."),
            .string("ssl_cert_file", default: "", help: "Client certificate (PEM); empty: none."),
            .string("ssl_key_file", default: "", help: "Private key of the client certificate (PEM); empty: none."),
            .boolean(
                "ssl_enforce_hostname_verification", default: true,
                help: "Check that the broker's certificate names the host connected to."),
        ])

    private static let actionHeartbeatSection = SectionDefinition(
        name: "action_heartbeat",
        definedBy: "Mistral",
        help: """
            Action heartbeats. The engine fails a running action whose executor sent \
            no heartbeat for check_interval * max_missed_heartbeats seconds of the \
            ENGINE's configuration; keep this check_interval well below that.
            """,
        options: [
            .integer(
                "max_missed_heartbeats", default: 15, min: 0,
                help: "With check_interval, the engine's window; 0 turns heartbeats off."),
            .seconds(
                "check_interval", default: 20, min: 0,
                help: """
                    Seconds between heartbeats (report_running_actions) for all running \
                    actions; 0 turns heartbeats off.
                    """),
            .seconds(
                "first_heartbeat_timeout", default: 3600, min: 0,
                help: "Engine side: the grace period of an action before its first heartbeat. Informational."),
        ])

    private static let keystoneSection = SectionDefinition(
        name: "keystone_authtoken",
        definedBy: "keystonemiddleware",
        help: """
            Service credentials: used to get a service catalog for trust-scoped \
            requests (cron triggers), as Mistral does.
            """,
        options: [
            .string("www_authenticate_uri", default: nil, help: "Public Identity endpoint."),
            .string("auth_url", default: nil, help: "Identity endpoint the service user authenticates against."),
            .string(
                "auth_type", default: nil, deprecated: [OptionName(section: "", name: "auth_plugin")],
                help: "Authentication plugin, normally password."),
            .string("username", default: nil, help: "Service user name."),
            .string("password", default: nil, secrecy: .whole, help: "Service user password."),
            .string("project_name", default: nil, help: "Project of the service user."),
            .string("user_domain_name", default: nil, help: "Domain of the service user."),
            .string("project_domain_name", default: nil, help: "Domain of the service user's project."),
            .string("region_name", default: nil, help: "Region of the Identity service."),
            .string("cafile", default: nil, help: "CA certificates that verify HTTPS endpoints (PEM)."),
            .boolean("insecure", default: false, help: "Skip HTTPS certificate verification."),
        ])

    private static let openStackActionsSection = SectionDefinition(
        name: "openstack_actions",
        definedBy: "mistral-extra",
        help: "OpenStack actions: how service endpoints are chosen from the catalog.",
        options: [
            .string(
                "default_region", default: nil,
                help: "Region of the endpoints when the request's context names none."),
            .choice(
                "os_actions_endpoint_type", default: "public", choices: ["public", "admin", "internal"],
                deprecated: [OptionName(section: "DEFAULT", name: "")],
                help: "Interface of the catalog endpoints that actions call."),
        ])
}
