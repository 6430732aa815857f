import AMQPClient
import Logging

/// The AMQP properties of every oslo RPC message (requests and replies):
/// `application/json`, `utf-8`, persistent, priority 0, an empty header
/// table (kombu always sends one); calls add `expiration`.
enum OsloMessageProperties {
    static func make(expiration: Duration? = nil) -> AMQPMessageProperties {
        AMQPMessageProperties(
            contentType: "application/json",
            contentEncoding: "utf-8",
            headers: AMQPFieldTable(),
            deliveryMode: .persistent,
            priority: 0,
            // kombu: str(int(timeout * 1000)).
            expiration: expiration.map { String(max(0, $0.wholeMilliseconds)) }
        )
    }
}

extension AMQPError {
    /// 406 `inequivalent arg 'durable'`: the exchange or queue exists with
    /// the other durability. oslo retries that one case as non-durable.
    var isDurabilityMismatch: Bool {
        serverReply?.replyCode == 406 && (serverReply?.replyText.contains("inequivalent arg 'durable'") ?? false)
    }

    /// A failure that a later attempt may not meet (the connection broke or
    /// is being re-established, the publishing channel was closed, the
    /// broker nacked).
    var isTransient: Bool {
        code == .connectionLost || code == .notConnected || code == .channelClosedByServer
            || code == .publishNacked || code == .connectionClosedByServer || code == .timeout
    }
}

extension AMQPConnection {
    /// Declares `exchange` as oslo's publisher does (`Connection._publish`):
    /// on a 406 durability mismatch, once more as non-durable.
    func declareOsloExchange(_ exchange: OsloExchangeDeclaration, logger: Logger) async throws {
        do {
            try await declareExchange(
                name: exchange.name, type: exchange.type, durable: exchange.durable, autoDelete: exchange.autoDelete
            )
        } catch let error as AMQPError where error.isDurabilityMismatch && exchange.durable {
            logger.warning(
                "The exchange exists as non-durable; declaring it non-durable as oslo does",
                error: error, metadata: ["amqp.exchange": "\(exchange.name)"]
            )
            try await declareExchange(name: exchange.name, type: exchange.type, durable: false, autoDelete: exchange.autoDelete)
        }
    }

    /// Declares the exchange, the queue and the binding as kombu's
    /// `Queue.declare` does for an oslo `Consumer`. On a 406 durability
    /// mismatch it falls back as oslo's `_declare_fallback_nondurable` does:
    /// exchange and queue non-durable, the exchange's auto-delete flag then
    /// taken from the queue's (an oslo quirk kept for identical declarations).
    func declareOsloQueue(_ queue: OsloQueueDeclaration, logger: Logger) async throws {
        do {
            try await declareOsloQueueOnce(queue, durable: queue.durable, exchangeAutoDelete: queue.exchange?.autoDelete ?? false)
        } catch let error as AMQPError where error.isDurabilityMismatch {
            logger.warning(
                "Queue or exchange exists with another durability; declaring both non-durable as oslo does",
                error: error, metadata: ["amqp.queue": "\(queue.name)"]
            )
            try await declareOsloQueueOnce(queue, durable: false, exchangeAutoDelete: queue.autoDelete)
        }
    }

    private func declareOsloQueueOnce(_ queue: OsloQueueDeclaration, durable: Bool, exchangeAutoDelete: Bool) async throws {
        if let exchange = queue.exchange {
            try await declareExchange(
                name: exchange.name, type: exchange.type,
                durable: durable ? exchange.durable : false, autoDelete: exchangeAutoDelete
            )
        }
        try await declareQueue(name: queue.name, durable: durable, autoDelete: queue.autoDelete, arguments: queue.arguments)
        if let exchange = queue.exchange {
            try await bindQueue(queue: queue.name, exchange: exchange.name, routingKey: queue.routingKey)
        }
    }
}
