import AMQPClient
import Logging
import OrderedJSON

extension RPCServer {
    /// The module named in failures built from Swift errors.
    public static let failureModule = "mistral_actions"

    /// An oslo-compatible serving loop for plain endpoints (tests, simple
    /// tools), mirroring oslo's `RPCServer` with the threading executor:
    ///
    /// 1. ``start()`` and ``run()`` (in a child task); then for each delivery:
    /// 2. acknowledge it on receipt (oslo acks before dispatching: at most once);
    /// 3. a body that does not decode is logged and dropped;
    /// 4. a request whose `_unique_id` is among the last 16 seen is a
    ///    duplicate and is dropped (oslo's `_MsgIdCache`);
    /// 5. `handler` runs in its own child task (requests run concurrently;
    ///    bound them with `prefetch`); it dispatches by `request.method`;
    /// 6. for a call, the reply carries the returned JSON as `result`
    ///    (encode it the Mistral way in the handler if wanted), or a failure:
    ///    a thrown ``RemoteFailure`` as is, ``NoSuchMethod`` as oslo's
    ///    `oslo_messaging.rpc.dispatcher.NoSuchMethod`, any other error as
    ///    class = the Swift type name, module ``failureModule``,
    ///    message = the error's description (see ``remoteFailure(for:)``);
    ///    for a cast, a thrown error is only logged;
    /// 7. when the call carries `_timeout` (oslo call monitoring), a
    ///    keep-alive reply (`ending: false`) is sent every `_timeout`/2 s
    ///    while the handler runs (none when that is under 1 s, as in oslo).
    ///
    /// Runs until the calling task is cancelled: then the consumers are
    /// cancelled, deliveries already received but not yet handled are
    /// rejected with requeue (another server gets them), the running
    /// handlers (cancelled with the task) finish and reply, and `serve`
    /// returns. Throws when the server cannot start, or when its consumers
    /// end for good (the connection's `run()` ended). It runs ``run()``
    /// itself: do not call that too.
    public func serve(handler: @escaping @Sendable (RPCRequest) async throws -> JSON) async throws {
        let incoming = try await start()
        var recent = RecentUniqueIDs()
        do {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask {
                    await self.run()
                }
                for try await item in incoming {
                    if Task.isCancelled {
                        // Stopping: leave what is not yet handled to another server.
                        reject(item, requeue: true)
                        continue
                    }
                    acknowledge(item)
                    let request: RPCRequest
                    switch item.message {
                    case .success(let decoded):
                        request = decoded
                    case .failure(let error):
                        logger.error(
                            "Dropping a message that is not an oslo RPC request",
                            error: error, metadata: ["rpc.queue": "\(item.queue)", "amqp.routing_key": "\(item.delivery.routingKey)"]
                        )
                        continue
                    }
                    if let uniqueID = request.uniqueID, !recent.insert(uniqueID) {
                        logger.warning(
                            "Ignoring a duplicate message",
                            metadata: ["oslo.unique_id": "\(uniqueID)", "oslo.method": "\(request.method)", "oslo.msg_id": "\(request.messageID ?? "-")"]
                        )
                        continue
                    }
                    let queue = item.queue
                    group.addTask {
                        await self.dispatch(request, from: queue, to: handler)
                    }
                }
            }
        } catch {
            await stop()
            throw error
        }
        await stop()
    }

    /// Runs one request and replies if it is a call.
    private func dispatch(
        _ request: RPCRequest,
        from queue: RPCQueueKind,
        to handler: @escaping @Sendable (RPCRequest) async throws -> JSON
    ) async {
        let logger = {
            var logger = self.logger
            logger[metadataKey: "oslo.method"] = "\(request.method)"
            logger[metadataKey: "rpc.queue"] = "\(queue)"
            if let messageID = request.messageID {
                logger[metadataKey: "oslo.msg_id"] = "\(messageID)"
            }
            return logger
        }()
        logger.debug("Dispatching a request", metadata: ["oslo.call": "\(request.isCall)"])

        let outcome: Result<JSON, any Error>
        if request.isCall, let interval = Self.keepAliveInterval(request.callMonitorTimeout, logger: logger) {
            outcome = await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    while !Task.isCancelled {
                        do {
                            try await Task.sleep(for: interval)
                        } catch {
                            return
                        }
                        logger.debug("Sending a call-monitor keep-alive")
                        guard await self.sendKeepAlive(for: request) else {
                            return
                        }
                    }
                }
                let outcome = await Self.run(handler, request)
                group.cancelAll()
                return outcome
            }
        } else {
            outcome = await Self.run(handler, request)
        }

        if case .failure(let error) = outcome {
            if error is NoSuchMethod {
                logger.warning("The endpoint does not support the method")
            } else {
                logger.error("Exception during message handling", error: error)
            }
        }
        guard request.isCall else {
            return
        }
        let reply: RPCReply
        switch outcome {
        case .success(let result):
            reply = RPCReply(result: result, messageID: request.messageID ?? "")
        case .failure(let error):
            reply = RPCReply(failure: Self.remoteFailure(for: error), messageID: request.messageID ?? "")
        }
        do {
            try await self.reply(to: request, with: reply)
        } catch let error as OsloCodecError {
            // The result cannot be written as JSON (e.g. NaN): tell the caller.
            logger.error("Cannot encode the reply", error: error)
            let failure = RPCReply(failure: Self.remoteFailure(for: error), messageID: request.messageID ?? "")
            do {
                try await self.reply(to: request, with: failure)
            } catch {
                logger.error("Cannot send the reply", error: error)
            }
        } catch {
            logger.error("Cannot send the reply", error: error)
        }
    }

    private static func run(
        _ handler: @Sendable (RPCRequest) async throws -> JSON,
        _ request: RPCRequest
    ) async -> Result<JSON, any Error> {
        do {
            return .success(try await handler(request))
        } catch {
            return .failure(error)
        }
    }

    /// oslo's watchdog interval: `int(_timeout) / 2` seconds; `nil` when
    /// there is no `_timeout` or the interval is under 1 s (oslo logs and
    /// sends no keep-alives then).
    package static func keepAliveInterval(_ callMonitorTimeout: Double?, logger: Logger) -> Duration? {
        guard let callMonitorTimeout else {
            return nil
        }
        guard callMonitorTimeout.isFinite, abs(callMonitorTimeout) < 1e9 else {
            logger.warning("Client provided an invalid call-monitor timeout", metadata: ["oslo.timeout": "\(callMonitorTimeout)"])
            return nil
        }
        let seconds = Double(Int(callMonitorTimeout)) / 2
        guard seconds >= 1 else {
            logger.warning("Client provided an invalid call-monitor timeout", metadata: ["oslo.timeout": "\(callMonitorTimeout)"])
            return nil
        }
        return .milliseconds(Int64(seconds * 1000))
    }

    /// The failure sent for an error thrown by a handler:
    /// a ``RemoteFailure`` as is; ``NoSuchMethod`` as oslo's
    /// (`NoSuchMethod`, `oslo_messaging.rpc.dispatcher`, `Endpoint does not
    /// support RPC method <m>`); any other error with the Swift type name as
    /// class, ``failureModule`` as module and its description as message.
    /// The traceback is one line, like the last line of a Python traceback.
    public static func remoteFailure(for error: any Error) -> RemoteFailure {
        if let failure = error as? RemoteFailure {
            return failure
        }
        let className: String
        let module: String
        if error is NoSuchMethod {
            className = "NoSuchMethod"
            module = "oslo_messaging.rpc.dispatcher"
        } else {
            className = String(describing: type(of: error))
            module = failureModule
        }
        let message = String(describing: error)
        return RemoteFailure(
            className: className, module: module, message: message,
            traceback: ["\(module).\(className): \(message)\n"]
        )
    }
}
