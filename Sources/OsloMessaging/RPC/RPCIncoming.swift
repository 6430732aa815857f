import AMQPClient

/// A message delivered to an ``RPCServer``.
///
/// Acknowledge or reject it through the server
/// (``RPCServer/acknowledge(_:)``, ``RPCServer/reject(_:requeue:)``); oslo
/// acknowledges on receipt, before running the request.
public struct RPCIncoming: Sendable {
    /// The AMQP delivery (body, properties, redelivered flag, tags).
    public var delivery: AMQPDelivery
    /// The queue it came from.
    public var queue: RPCQueueKind
    /// The decoded request, or why the body could not be decoded. Bodies
    /// that do not decode are delivered too, so that they are acknowledged
    /// (or rejected) and logged rather than dropped silently.
    public var message: Result<RPCRequest, OsloCodecError>

    public init(delivery: AMQPDelivery, queue: RPCQueueKind, message: Result<RPCRequest, OsloCodecError>) {
        self.delivery = delivery
        self.queue = queue
        self.message = message
    }
}

/// The merged deliveries of an ``RPCServer``'s three consumers, in arrival
/// order per queue.
///
/// Filled while ``RPCServer/run()`` runs. Ends after ``RPCServer/stop()``
/// (or the end of `run()`), once the deliveries already received have been
/// returned; throws when a consumer ends for good (the connection's `run()`
/// ended). Cancelling the iterating task asks the server to stop
/// (basic.cancel on the three consumers, carried out by `run()` or
/// `stop()`) instead of dropping buffered deliveries: the iteration still
/// returns the deliveries already received, which must be acknowledged or
/// rejected, and then ends. Only one task may iterate it.
public struct RPCIncomingSequence: AsyncSequence, Sendable {
    public typealias Element = RPCIncoming
    public typealias Failure = any Error

    let buffer: IncomingBuffer<RPCIncoming>

    public struct AsyncIterator: AsyncIteratorProtocol {
        public typealias Element = RPCIncoming
        public typealias Failure = any Error

        let buffer: IncomingBuffer<RPCIncoming>

        public mutating func next() async throws -> RPCIncoming? {
            try await buffer.next()
        }

        public mutating func next(isolation actor: isolated (any Actor)?) async throws(any Error) -> RPCIncoming? {
            try await buffer.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(buffer: buffer)
    }
}

extension RPCIncomingSequence {
    /// Feeds an ``RPCIncomingSequence`` by hand: the in-memory transports of
    /// unit tests deliver through it what a broker would.
    public struct Source: Sendable {
        let buffer: IncomingBuffer<RPCIncoming>

        /// Adds a delivery; `false` once the sequence has finished.
        @discardableResult
        public func yield(_ incoming: RPCIncoming) -> Bool {
            buffer.append(incoming)
        }

        /// Ends the sequence after what it holds (with `failure` if given).
        public func finish(throwing failure: (any Error)? = nil) {
            buffer.finish(throwing: failure)
        }
    }

    /// A sequence and its source. `onCancel` runs when the iterating task is
    /// cancelled (the sequence keeps returning what it holds, as the
    /// server's does).
    public static func makeSource(onCancel: @escaping @Sendable () -> Void = {}) -> (RPCIncomingSequence, Source) {
        let buffer = IncomingBuffer<RPCIncoming>(onCancel: onCancel)
        return (RPCIncomingSequence(buffer: buffer), Source(buffer: buffer))
    }
}

/// What the broker did with a published message (re-exported for the RPC
/// layer's users).
public typealias RPCPublishOutcome = AMQPPublishOutcome
