import OsloConfig
import Testing

@Suite("Loading the typed configuration")
struct ConfigurationLoadTests {
    /// A trimmed but realistic mistral.conf of a Mistral 23 deployment: many
    /// keys mistral-actions does not read, which must be ignored.
    static let mistralConf = """
        [DEFAULT]
        debug = True
        log_dir = /var/log/mistral
        transport_url = rabbit://mistral:r4bbit$$pw@10.0.0.11:5672,mistral:r4bbit$$pw@10.0.0.12:5672/mistral
        rpc_response_timeout = 120
        executor_thread_pool_size = 32
        js_implementation = py_mini_racer

        [api]
        host = 0.0.0.0
        port = 8989
        api_workers = 4

        [database]
        connection = postgresql+psycopg2://mistral:db-secret@db.internal:5432/mistral
        max_pool_size = 20
        max_overflow = 40

        [engine]
        host = engine-1

        [executor]
        type = remote
        host = executor-1

        [action_heartbeat]
        max_missed_heartbeats = 20
        check_interval = 10
        first_heartbeat_timeout = 1800

        [keystone_authtoken]
        www_authenticate_uri = https://keystone.example.org:5000/v3
        auth_url = https://keystone.example.org:5000/v3
        auth_type = password
        username = mistral
        password = "ks-secret"
        project_name = service
        user_domain_name = Default
        project_domain_name = Default
        memcached_servers = 10.0.0.5:11211
        region_name = RegionOne

        [oslo_messaging_rabbit]
        rabbit_quorum_queue = true
        rabbit_transient_quorum_queue = True
        rabbit_qos_prefetch_count = 10
        heartbeat_timeout_threshold = 30
        ssl = yes
        ssl_ca_file = /etc/ssl/certs/ca.pem
        kombu_reconnect_delay = 0.5

        [oslo_policy]
        policy_file = /etc/mistral/policy.yaml

        [openstack_actions]
        os_actions_endpoint_type = internal
        default_region = RegionOne

        [coordination]
        backend_url = redis://10.0.0.5:6379
        """

    @Test func readsARealisticMistralConf() throws {
        try withTemporaryFiles { temporary in
            let path = try temporary.write(Self.mistralConf, to: "mistral.conf")
            let loaded = try Configuration.load(files: [path])
            let configuration = loaded.configuration

            #expect(
                configuration.messaging.transportURL
                    == "rabbit://mistral:r4bbit$pw@10.0.0.11:5672,mistral:r4bbit$pw@10.0.0.12:5672/mistral")
            #expect(configuration.messaging.rpcResponseTimeout == .seconds(120))
            #expect(configuration.messaging.executorThreadPoolSize == 32)
            #expect(configuration.messaging.controlExchange == "openstack")
            #expect(configuration.database.connection == "postgresql+psycopg2://mistral:db-secret@db.internal:5432/mistral")
            #expect(configuration.executor.host == "executor-1")
            #expect(configuration.executor.topic == "mistral_executor")
            #expect(configuration.engine.topic == "mistral_engine")
            #expect(configuration.actionHeartbeat.maxMissedHeartbeats == 20)
            #expect(configuration.actionHeartbeat.checkInterval == .seconds(10))
            #expect(configuration.actionHeartbeat.firstHeartbeatTimeout == .seconds(1800))
            #expect(configuration.keystone.password == "ks-secret")
            #expect(configuration.keystone.userDomainName == "Default")
            #expect(configuration.keystone.regionName == "RegionOne")
            #expect(configuration.keystone.authType == "password")
            #expect(configuration.rabbit.quorumQueue)
            #expect(configuration.rabbit.transientQuorumQueue)
            #expect(configuration.rabbit.qosPrefetchCount == 10)
            #expect(configuration.rabbit.heartbeatTimeoutThreshold == .seconds(30))
            #expect(configuration.rabbit.ssl)
            #expect(configuration.rabbit.sslCAFile == "/etc/ssl/certs/ca.pem")
            #expect(configuration.rabbit.reconnectDelay == .milliseconds(500))
            #expect(configuration.openStackActions.endpointInterface == .internal)
            #expect(configuration.openStackActions.defaultRegion == "RegionOne")
            // Not set anywhere: defaults, and concurrency follows the prefetch count.
            #expect(configuration.mistralActions == Configuration.MistralActions())
            #expect(configuration.effectiveConcurrency == 10)
            // Keys of Mistral's sections that we do not read are ignored silently.
            #expect(loaded.warnings.isEmpty)
            #expect(loaded.files == [path])
        }
    }

    @Test func aSecondFileAddsOwnKeysAndOverridesMistralOnes() throws {
        try withTemporaryFiles { temporary in
            let mistral = try temporary.write(Self.mistralConf, to: "mistral.conf")
            let own = try temporary.write(
                """
                [mistral_actions]
                mode = swift-only
                concurrency = 4
                shutdown_grace_period = 2m
                log_format = JSON
                log_level = debug
                http_listen =
                exec_enabled = on
                exec_allowed_commands = /usr/bin/openstack, /bin/true,
                exec_timeout = 1500ms
                max_chain_length = 7

                [oslo_messaging_rabbit]
                rabbit_qos_prefetch_count = 4
                """, to: "mistral-actions.conf")
            let loaded = try Configuration.load(files: [mistral, own])
            let configuration = loaded.configuration
            #expect(configuration.mistralActions.mode == .swiftOnly)
            #expect(configuration.mistralActions.concurrency == 4)
            #expect(configuration.effectiveConcurrency == 4)
            #expect(configuration.mistralActions.shutdownGracePeriod == .seconds(120))
            #expect(configuration.mistralActions.logFormat == .json)
            #expect(configuration.mistralActions.logLevel == .debug)
            #expect(configuration.mistralActions.httpListen == nil)
            #expect(configuration.mistralActions.execEnabled)
            #expect(configuration.mistralActions.execAllowedCommands == ["/usr/bin/openstack", "/bin/true"])
            #expect(configuration.mistralActions.execTimeout == .milliseconds(1500))
            #expect(configuration.mistralActions.maxChainLength == 7)
            #expect(configuration.rabbit.qosPrefetchCount == 4)
            // Only the key the second file sets is overridden.
            #expect(configuration.rabbit.quorumQueue)
            #expect(loaded.warnings.isEmpty)
        }
    }

    @Test func overridesWinOverEveryFile() throws {
        let files = ConfigFiles([
            try IniFile.parse("[mistral_actions]\nlog_level = warning\n[executor]\ntopic = a\n", path: "/a.conf")
        ])
        let loaded = try Configuration.load(
            from: files,
            overrides: [
                ConfigOverride(section: "mistral_actions", key: "log_level", value: "trace", origin: "--log-level"),
                try ConfigOverride(parsing: "executor.topic=b"),
            ])
        #expect(loaded.configuration.mistralActions.logLevel == .trace)
        #expect(loaded.configuration.executor.topic == "b")
        #expect(loaded.effectiveValue(section: "mistral_actions", name: "log_level")?.origin == .override("--log-level"))
        #expect(loaded.effectiveValue(section: "executor", name: "topic")?.origin == .override("override \"executor.topic=b\""))
    }

    @Test func badOverrides() throws {
        let unknown = #expect(throws: ConfigError.self) {
            try Configuration.load(
                files: [], overrides: [ConfigOverride(section: "mistral_actions", key: "nope", value: "1", origin: "--set")])
        }
        #expect(unknown?.description == "--set: [mistral_actions] nope: mistral-actions reads no such option")
        let malformed = #expect(throws: ConfigError.self) { try ConfigOverride(parsing: "log_level=debug") }
        #expect(
            malformed?.description
                == "override \"log_level=debug\": expected section.key=value, e.g. mistral_actions.log_level=debug")
        let invalid = #expect(throws: ConfigError.self) {
            try Configuration.load(files: [], overrides: [ConfigOverride(parsing: "mistral_actions.concurrency=0", origin: "--concurrency")])
        }
        #expect(invalid?.description == "--concurrency: [mistral_actions] concurrency = \"0\": must be at least 1")
    }

    @Test(arguments: [
        (
            "[oslo_messaging_rabbit]\nheartbeat_rate = often\n",
            #"/etc/x.conf:2: [oslo_messaging_rabbit] heartbeat_rate = "often": expected an integer"#
        ),
        (
            "[oslo_messaging_rabbit]\n\nrabbit_qos_prefetch_count = -1\n",
            #"/etc/x.conf:3: [oslo_messaging_rabbit] rabbit_qos_prefetch_count = "-1": must be at least 0"#
        ),
        (
            "[oslo_messaging_rabbit]\nkombu_reconnect_delay = 5\n",
            #"/etc/x.conf:2: [oslo_messaging_rabbit] kombu_reconnect_delay = "5": must be at most 4.5"#
        ),
        (
            "[Oslo_Messaging_Rabbit]\nssl = maybe\n",
            #"/etc/x.conf:2: [Oslo_Messaging_Rabbit] ssl = "maybe": expected a boolean: true/false, yes/no, on/off or 1/0"#
        ),
        (
            "[openstack_actions]\nos_actions_endpoint_type = private\n",
            #"/etc/x.conf:2: [openstack_actions] os_actions_endpoint_type = "private": expected one of: public, admin, internal"#
        ),
        (
            "[mistral_actions]\nmode = hybrid\n",
            #"/etc/x.conf:2: [mistral_actions] mode = "hybrid": expected one of: router, swift-only"#
        ),
        (
            "[mistral_actions]\nshutdown_grace_period = 5 minutes\n",
            #"/etc/x.conf:2: [mistral_actions] shutdown_grace_period = "5 minutes": "#
                + "expected a duration such as 30 (seconds), 30s, 250ms, 5m or 1h"
        ),
        (
            "[mistral_actions]\nhttp_listen = 9469\n",
            #"/etc/x.conf:2: [mistral_actions] http_listen = "9469": "#
                + "expected host:port such as 127.0.0.1:9469 or [::1]:9469, or off (or an empty value) to turn it off"
        ),
        (
            "[action_heartbeat]\ncheck_interval = 20s\n",
            #"/etc/x.conf:2: [action_heartbeat] check_interval = "20s": expected an integer"#
        ),
        (
            "[executor]\nhost = my_host\n",
            #"/etc/x.conf:2: [executor] host = "my_host": expected an IP address or a host name"#
        ),
        (
            "[DEFAULT]\ntransport_url = guest:s3cret@localhost\n",
            #"/etc/x.conf:2: [DEFAULT] transport_url = "guest:****@localhost": expected a URL of the form scheme://..."#
        ),
        (
            "[keystone_authtoken]\ninsecure =\n",
            #"/etc/x.conf:2: [keystone_authtoken] insecure = "": expected a boolean: true/false, yes/no, on/off or 1/0"#
        ),
        (
            "[mistral_actions]\naction_prefix = my prefix\n",
            #"/etc/x.conf:2: [mistral_actions] action_prefix = "my prefix": "#
                + "expected letters, digits, '_', '-' and inner dots, e.g. int32bit"
        ),
        (
            "[mistral_actions]\nfallback_topic = mistral_executor\n",
            #"/etc/x.conf:2: [mistral_actions] fallback_topic = "mistral_executor": "#
                + #"must differ from [executor] topic ("mistral_executor", from default) in router mode, "#
                + "or the worker would relay requests to itself"
        ),
        (
            "[executor]\ntopic = shared\n[mistral_actions]\nfallback_topic = shared\n",
            #"/etc/x.conf:4: [mistral_actions] fallback_topic = "shared": "#
                + #"must differ from [executor] topic ("shared", from /etc/x.conf:2) in router mode, "#
                + "or the worker would relay requests to itself"
        ),
        (
            "[mistral_actions]\nshutdown_grace_period = 9000h\n",
            #"/etc/x.conf:2: [mistral_actions] shutdown_grace_period = "9000h": must be at most 366 days"#
        ),
        (
            "[DEFAULT]\nrpc_response_timeout = 9223372036854775807\n",
            #"/etc/x.conf:2: [DEFAULT] rpc_response_timeout = "9223372036854775807": must be at most 31622400 seconds (366 days)"#
        ),
        (
            "[mistral_actions]\nfallback_topic =\n",
            #"/etc/x.conf:2: [mistral_actions] fallback_topic = "": must not be empty"#
        ),
    ])
    func invalidValuesNameFileLineSectionKeyAndValue(text: String, message: String) throws {
        let files = ConfigFiles([try IniFile.parse(text, path: "/etc/x.conf")])
        let error = #expect(throws: ConfigError.self) { try Configuration.load(from: files) }
        #expect(error?.description == message)
        #expect(error?.file == "/etc/x.conf")
    }

    @Test func theSameFallbackTopicIsFineInSwiftOnlyMode() throws {
        let files = ConfigFiles([
            try IniFile.parse("[mistral_actions]\nmode = swift-only\nfallback_topic = mistral_executor\n", path: "/x")
        ])
        #expect(try Configuration.load(from: files).configuration.mistralActions.mode == .swiftOnly)
    }

    @Test func secretValuesAreMaskedInErrors() throws {
        let files = ConfigFiles([
            try IniFile.parse("[database]\nconnection = mistral:s3cret@db/mistral\n", path: "/etc/x.conf")
        ])
        let error = #expect(throws: ConfigError.self) { try Configuration.load(from: files) }
        #expect(error?.value == "mistral:****@db/mistral")
        #expect(
            error?.description
                == #"/etc/x.conf:2: [database] connection = "mistral:****@db/mistral": expected a URL of the form scheme://..."#)
    }

    @Test func unknownKeysInTheOwnSectionAreWarnings() throws {
        let text = """
            [mistral_actions]
            log-level = debug
            Concurrency = 3
            transport_url = rabbit://elsewhere/
            colour = blue
            [executor]
            unknown_mistral_key = ignored
            """
        let loaded = try Configuration.load(from: ConfigFiles([try IniFile.parse(text, path: "/w.conf")]))
        #expect(
            loaded.warnings.map(\.description) == [
                "/w.conf:2: [mistral_actions] log-level: unknown option, ignored; did you mean log_level?",
                "/w.conf:3: [mistral_actions] Concurrency: unknown option, ignored; did you mean concurrency?",
                "/w.conf:4: [mistral_actions] transport_url: unknown option, ignored; transport_url is read from [DEFAULT]",
                "/w.conf:5: [mistral_actions] colour: unknown option, ignored",
            ])
        #expect(loaded.configuration.mistralActions.logLevel == .info)
    }

    @Test func sectionHeadersOsloWouldNotMatchAreWarnings() throws {
        let text = """
            [default]
            transport_url = rabbit://ignored/
            [ database ]
            connection = postgresql://ignored/
            """
        let loaded = try Configuration.load(from: ConfigFiles([try IniFile.parse(text, path: "/h.conf")]))
        #expect(loaded.configuration.messaging.transportURL == nil)
        #expect(loaded.configuration.database.connection == nil)
        #expect(
            loaded.warnings.map(\.description) == [
                "/h.conf:1: [default] is not [DEFAULT]: oslo matches DEFAULT only in capitals, "
                    + "so the keys of this section are ignored",
                "/h.conf:3: section name \" database \" has spaces around it; oslo keeps them, "
                    + "so this section does not match [database]",
            ])
    }

    @Test func deprecatedNamesAreReadWithAWarning() throws {
        let text = """
            [DEFAULT]
            rpc_thread_pool_size = 16
            os_actions_endpoint_type = admin
            [oslo_messaging_rabbit]
            rabbit_quroum_max_memory_length = 100
            rabbit_quorum_max_memory_bytes = 7
            rabbit_quroum_max_memory_bytes = 8
            """
        let loaded = try Configuration.load(from: ConfigFiles([try IniFile.parse(text, path: "/d.conf")]))
        #expect(loaded.configuration.messaging.executorThreadPoolSize == 16)
        #expect(loaded.configuration.openStackActions.endpointInterface == .admin)
        #expect(loaded.configuration.rabbit.quorumMaxMemoryLength == 100)
        // Inside one file the current name wins over a deprecated one, wherever it is.
        #expect(loaded.configuration.rabbit.quorumMaxMemoryBytes == 7)
        #expect(
            loaded.warnings.map(\.description) == [
                "/d.conf:2: [DEFAULT] rpc_thread_pool_size: deprecated name; use [DEFAULT] executor_thread_pool_size",
                "/d.conf:5: [oslo_messaging_rabbit] rabbit_quroum_max_memory_length: "
                    + "deprecated name; use [oslo_messaging_rabbit] rabbit_quorum_max_memory_length",
                "/d.conf:3: [DEFAULT] os_actions_endpoint_type: "
                    + "deprecated name; use [openstack_actions] os_actions_endpoint_type",
            ])
    }

    @Test func aDeprecatedNameInALaterFileBeatsTheCurrentNameInAnEarlierOne() throws {
        let files = ConfigFiles([
            try IniFile.parse("[DEFAULT]\nexecutor_thread_pool_size = 10\n", path: "/1.conf"),
            try IniFile.parse("[DEFAULT]\nrpc_thread_pool_size = 20\n", path: "/2.conf"),
        ])
        #expect(try Configuration.load(from: files).configuration.messaging.executorThreadPoolSize == 20)
    }

    @Test func execEnabledWithoutCommandsIsAWarning() throws {
        let files = ConfigFiles([try IniFile.parse("[mistral_actions]\nexec_enabled = true\n", path: "/e.conf")])
        #expect(
            try Configuration.load(from: files).warnings.map(\.description) == [
                "/e.conf:2: [mistral_actions] exec_enabled: "
                    + "exec_enabled is true but exec_allowed_commands is empty, so no command may run"
            ])
    }

    @Test func substitutionAsInOsloConfig() throws {
        let text = #"""
            [DEFAULT]
            state_path = /var/lib/mistral
            control_exchange = ${engine.topic}_exchange
            [database]
            connection = sqlite:///$state_path/mistral.sqlite
            [keystone_authtoken]
            username = a$$b
            password = p\$ss$
            project_name = $1 and ${unclosed
            [engine]
            topic = engine_$executor_topic_suffix
            executor_topic_suffix = x
            """#
        let loaded = try Configuration.load(from: ConfigFiles([try IniFile.parse(text, path: "/s.conf")]))
        let configuration = loaded.configuration
        #expect(configuration.database.connection == "sqlite:////var/lib/mistral/mistral.sqlite")
        #expect(configuration.engine.topic == "engine_x")
        #expect(configuration.messaging.controlExchange == "engine_x_exchange")
        #expect(configuration.keystone.username == "a$b")
        #expect(configuration.keystone.password == "p$ss$")
        #expect(configuration.keystone.projectName == "$1 and ${unclosed")
    }

    @Test func aReferenceToADeclaredButUnsetOptionIsEmpty() throws {
        let files = ConfigFiles([try IniFile.parse("[keystone_authtoken]\nusername = x${region_name}y\n", path: "/u")])
        #expect(try Configuration.load(from: files).configuration.keystone.username == "xy")
    }

    @Test func unknownAndCyclicReferencesAreErrors() throws {
        let unknown = ConfigFiles([
            try IniFile.parse("[DEFAULT]\ntransport_url = rabbit://guest:pa$word@h/\n", path: "/r.conf")
        ])
        let unknownError = #expect(throws: ConfigError.self) { try Configuration.load(from: unknown) }
        #expect(unknownError?.code == .substitution)
        #expect(
            unknownError?.description
                == "/r.conf:2: [DEFAULT] transport_url = \"rabbit://guest:****@h/\": $word names no option that is set "
                + "or known (oslo.config substitutes $name in values; write $$ for a literal $)")

        let cyclic = ConfigFiles([
            try IniFile.parse("[executor]\ntopic = $a\na = $topic\n", path: "/c.conf")
        ])
        let cyclicError = #expect(throws: ConfigError.self) { try Configuration.load(from: cyclic) }
        #expect(cyclicError?.code == .substitution)
        #expect(cyclicError?.description == "/c.conf:3: [executor] a = \"$topic\": $topic leads back to itself (a reference cycle); write $$ for a literal $")
    }

    @Test func effectiveValuesSayWhereEachValueCameFrom() throws {
        try withTemporaryFiles { temporary in
            let path = try temporary.write(Self.mistralConf, to: "mistral.conf")
            let loaded = try Configuration.load(
                files: [path],
                overrides: [ConfigOverride(section: "mistral_actions", key: "log_level", value: "debug", origin: "--log-level")])
            #expect(loaded.effectiveValues.count == ConfigurationSchema.standard.options.count)

            let transport = loaded.effectiveValue(section: "DEFAULT", name: "transport_url")
            #expect(transport?.origin == .file(ConfigLocation(path: path, line: 4)))
            #expect(
                transport?.displayValue == "rabbit://mistral:****@10.0.0.11:5672,mistral:****@10.0.0.12:5672/mistral")
            #expect(loaded.effectiveValue(section: "DEFAULT", name: "control_exchange")?.origin == .defaultValue)
            #expect(loaded.effectiveValue(section: "keystone_authtoken", name: "password")?.displayValue == "****")
            #expect(loaded.effectiveValue(section: "keystone_authtoken", name: "cafile")?.displayValue == "<None>")
            #expect(
                loaded.effectiveValue(section: "mistral_actions", name: "concurrency")?.origin
                    == .computed("[oslo_messaging_rabbit] rabbit_qos_prefetch_count"))
            #expect(loaded.effectiveValue(section: "mistral_actions", name: "concurrency")?.value == "10")

            let shown = loaded.renderEffectiveValues()
            #expect(!shown.contains("r4bbit"))
            #expect(!shown.contains("db-secret"))
            #expect(!shown.contains("ks-secret"))
            #expect(shown.contains("# \(path):4\ntransport_url = rabbit://mistral:****@10.0.0.11:5672,"))
            #expect(shown.contains("# default\ncontrol_exchange = openstack\n"))
            #expect(shown.contains("# --log-level\nlog_level = debug\n"))
            #expect(shown.contains("# default\n#cafile = <None>\n"))
            #expect(shown.contains("# computed: [oslo_messaging_rabbit] rabbit_qos_prefetch_count\nconcurrency = 10\n"))
            #expect(shown.contains("[oslo_messaging_rabbit]\n"))
            #expect(loaded.renderEffectiveValues(revealingSecrets: true).contains("password = ks-secret\n"))

            // What `config show` prints parses back to the same configuration (secrets revealed).
            let reparsed = try Configuration.load(
                from: ConfigFiles([try IniFile.parse(loaded.renderEffectiveValues(revealingSecrets: true), path: "/shown")]))
            var expected = loaded.configuration
            expected.mistralActions.concurrency = 10
            #expect(reparsed.configuration.messaging == expected.messaging)
            #expect(reparsed.configuration == expected)
        }
    }
}
