import OsloConfig
import OsloMessaging

/// What the worker needs from the configuration.
public struct WorkerSettings: Sendable, Equatable {
    public enum Mode: Sendable, Equatable {
        /// Relay every request for an action this worker does not implement,
        /// unchanged, to this topic (where Python executors listen).
        case router(fallbackTopic: String)
        /// Fail requests for actions this worker does not implement.
        case swiftOnly
    }

    public var controlExchange: String
    public var executorTopic: String
    /// `[executor] host`: the worker also consumes `<topic>.<host>`.
    public var host: String
    public var engineTopic: String
    public var mode: Mode
    /// In-flight actions; also the prefetch count.
    public var concurrency: Int
    /// `[action_heartbeat] check_interval`; nil when heartbeats are off.
    public var heartbeatInterval: Duration?
    public var shutdownGracePeriod: Duration
    public var maxUnackedTime: Duration
    public var actionPrefix: String
    public var topology: OsloTopologyOptions
    public var responseTimeout: Duration

    public init(configuration: Configuration) {
        controlExchange = configuration.messaging.controlExchange
        executorTopic = configuration.executor.topic
        host = configuration.executor.host
        engineTopic = configuration.engine.topic
        switch configuration.mistralActions.mode {
        case .router: mode = .router(fallbackTopic: configuration.mistralActions.fallbackTopic)
        case .swiftOnly: mode = .swiftOnly
        }
        concurrency = max(1, min(configuration.effectiveConcurrency, Int(UInt16.max)))
        heartbeatInterval = configuration.actionHeartbeat.isEnabled ? configuration.actionHeartbeat.checkInterval : nil
        shutdownGracePeriod = configuration.mistralActions.shutdownGracePeriod
        maxUnackedTime = configuration.mistralActions.maxUnackedTime
        actionPrefix = configuration.mistralActions.actionPrefix
        let rabbit = configuration.rabbit
        topology = OsloTopologyOptions(
            durableQueues: rabbit.durableQueues,
            autoDelete: rabbit.autoDelete,
            quorumQueues: rabbit.quorumQueue,
            transientQuorumQueues: rabbit.transientQuorumQueue,
            transientQueuesTTL: rabbit.transientQueuesTTL > .zero ? rabbit.transientQueuesTTL : nil,
            haQueues: rabbit.haQueues,
            quorumDeliveryLimit: rabbit.quorumDeliveryLimit,
            quorumMaxMemoryLength: rabbit.quorumMaxMemoryLength,
            quorumMaxMemoryBytes: rabbit.quorumMaxMemoryBytes,
            cancelOnFailover: rabbit.cancelOnFailover,
            missingConsumerRetryTimeout: rabbit.missingConsumerRetryTimeout
        )
        responseTimeout = configuration.messaging.rpcResponseTimeout
    }
}
