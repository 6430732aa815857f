import OsloConfig
import Testing

@Suite("Defaults equal Mistral 23's and oslo.messaging 18's")
struct ConfigurationDefaultsTests {
    @Test func anEmptyConfigurationIsTheDefaultOne() throws {
        let loaded = try Configuration.load(files: [])
        #expect(loaded.configuration == Configuration())
        #expect(loaded.warnings.isEmpty)
        #expect(loaded.files.isEmpty)
    }

    @Test func messagingDefaults() {
        let messaging = Configuration().messaging
        #expect(messaging.transportURL == nil)
        #expect(messaging.effectiveTransportURL == "rabbit://guest:guest@127.0.0.1:5672/")
        #expect(messaging.controlExchange == "openstack")
        #expect(messaging.rpcResponseTimeout == .seconds(60))
        #expect(messaging.executorThreadPoolSize == 64)
    }

    @Test func mistralSectionsDefaults() {
        let configuration = Configuration()
        #expect(configuration.database.connection == nil)
        #expect(configuration.executor.topic == "mistral_executor")
        #expect(configuration.executor.host == "0.0.0.0")
        #expect(configuration.engine.topic == "mistral_engine")
        #expect(configuration.actionHeartbeat.checkInterval == .seconds(20))
        #expect(configuration.actionHeartbeat.maxMissedHeartbeats == 15)
        #expect(configuration.actionHeartbeat.firstHeartbeatTimeout == .seconds(3600))
        #expect(configuration.actionHeartbeat.isEnabled)
        #expect(configuration.openStackActions.defaultRegion == nil)
        #expect(configuration.openStackActions.endpointInterface == .public)
        #expect(configuration.keystone == Configuration.Keystone())
        #expect(configuration.keystone.insecure == false)
        #expect(configuration.keystone.password == nil)
    }

    @Test func rabbitDefaults() {
        let rabbit = Configuration().rabbit
        #expect(rabbit.qosPrefetchCount == 0)
        #expect(rabbit.durableQueues == false)
        #expect(rabbit.autoDelete == false)
        #expect(rabbit.quorumQueue == false)
        #expect(rabbit.transientQuorumQueue == false)
        #expect(rabbit.transientQueuesTTL == .seconds(1800))
        #expect(rabbit.haQueues == false)
        #expect(rabbit.heartbeatTimeoutThreshold == .seconds(60))
        #expect(rabbit.heartbeatRate == 3)
        #expect(rabbit.ssl == false)
        #expect(rabbit.sslCAFile == nil)
        #expect(rabbit.sslCertFile == nil)
        #expect(rabbit.sslKeyFile == nil)
        #expect(rabbit.sslVerifyHostname == true)
        #expect(rabbit.cancelOnFailover == false)
        #expect(rabbit.quorumDeliveryLimit == 0)
        #expect(rabbit.quorumMaxMemoryLength == 0)
        #expect(rabbit.quorumMaxMemoryBytes == 0)
        #expect(rabbit.directMandatoryFlag == true)
        #expect(rabbit.missingConsumerRetryTimeout == .seconds(60))
        #expect(rabbit.reconnectDelay == .seconds(1))
        #expect(rabbit.useQueueManager == false)
        #expect(rabbit.streamFanout == false)
    }

    @Test func ownSectionDefaults() {
        let configuration = Configuration()
        let own = configuration.mistralActions
        #expect(own.actionPrefix == "int32bit")
        #expect(own.mode == .router)
        #expect(own.fallbackTopic == "mistral_executor_python")
        #expect(own.concurrency == nil)
        #expect(configuration.effectiveConcurrency == 32)
        #expect(own.shutdownGracePeriod == .seconds(30))
        #expect(own.logFormat == .human)
        #expect(own.logLevel == .info)
        #expect(own.httpListen == ListenAddress(host: "127.0.0.1", port: 9469))
        #expect(own.projectID == "<default-project>")
        #expect(own.codeSourceName == "mistral_actions")
        #expect(own.registerOnStart == true)
        #expect(own.execEnabled == false)
        #expect(own.execAllowedCommands == [])
        #expect(own.execTimeout == .seconds(60))
        #expect(own.execOutputLimit == 1_048_576)
        #expect(own.maxChainLength == 5)
    }

    @Test func theTableDeclaresEveryOptionOnceWithAValidDefault() throws {
        let options = ConfigurationSchema.standard.options
        #expect(Set(options.map(\.optionName)).count == options.count)
        for option in options {
            if let text = option.defaultValue {
                #expect(throws: Never.self, "\(option.optionName)") { try option.type.validate(text) }
            }
            #expect(!option.help.isEmpty, "\(option.optionName)")
        }
    }

    @Test func theTableHasTheOptionsMistralUsersExpect() {
        let schema = ConfigurationSchema.standard
        func defaultOf(_ section: String, _ name: String) -> String?? {
            schema.option(section: section, name: name).map(\.defaultValue)
        }
        #expect(defaultOf("DEFAULT", "control_exchange") == "openstack")
        #expect(defaultOf("DEFAULT", "rpc_response_timeout") == "60")
        #expect(defaultOf("DEFAULT", "transport_url") == .some(nil))
        #expect(defaultOf("oslo_messaging_rabbit", "rabbit_transient_queues_ttl") == "1800")
        #expect(defaultOf("oslo_messaging_rabbit", "heartbeat_rate") == "3")
        #expect(defaultOf("oslo_messaging_rabbit", "direct_mandatory_flag") == "true")
        #expect(defaultOf("action_heartbeat", "check_interval") == "20")
        #expect(defaultOf("openstack_actions", "os_actions_endpoint_type") == "public")
        #expect(schema.option(section: "DEFAULT", name: "transport_url")?.secrecy == .urlCredentials)
        #expect(schema.option(section: "database", name: "connection")?.secrecy == .urlCredentials)
        #expect(schema.option(section: "keystone_authtoken", name: "password")?.secrecy == .whole)
        #expect(schema.section(named: "mistral_actions")?.isOwnSection == true)
    }
}
