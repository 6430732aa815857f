import AMQPClient
import Foundation
import Logging
import MistralActionsTestSupport
import OrderedJSON
import OsloMessaging
import Testing

/// One real Python oslo.messaging RPC server (`oslo_peer.py serve`) and one
/// Swift `RPCClient` for the whole suite.
struct SwiftToPythonFixture: Sendable {
    var exchange: String
    var topic: String
    var serverName: String
    var connection: AMQPConnection
    var peer: PeerProcess
    var client: RPCClient
    var logs: LogCapture

    @TaskLocal static var current: SwiftToPythonFixture?

    static func get() throws -> SwiftToPythonFixture {
        try #require(current, "runs inside the .swiftToPython suite scope")
    }
}

struct SwiftToPythonScope: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let logs = LogCapture()
        let exchange = TestEnvironment.uniqueName("s2p_ex")
        let topic = TestEnvironment.uniqueName("s2p")
        let serverName = "python-1"
        try await withRunningConnection("swift-to-python", logger: logs.logger("amqp")) { connection in
            let peer = try PeerProcess("python server", ["serve"] + peerArguments(exchange: exchange, topic: topic) + ["--server", serverName])
            let client = RPCClient(
                connection: connection, exchange: exchange, options: OsloTopologyOptions(),
                // A guard against a hang: a 1 MB echo through Python can take
                // tens of seconds on a loaded machine.
                responseTimeout: .seconds(120), logger: logs.logger("rpc-client")
            )
            let fixture = SwiftToPythonFixture(
                exchange: exchange, topic: topic, serverName: serverName, connection: connection,
                peer: peer, client: client, logs: logs
            )
            var failure: (any Error)?
            do {
                try await peer.waitUntilReady()
                try await withRunning([{ await client.run() }]) {
                    try await SwiftToPythonFixture.$current.withValue(fixture) {
                        try await function()
                    }
                }
            } catch {
                failure = error
            }
            await client.shutdown(deletingReplyQueue: true)
            await peer.stop()
            await cleanUp(connection, queues: [topic, "\(topic).\(serverName)"], exchanges: [exchange])
            if let failure {
                throw failure
            }
        }
    }
}

extension Trait where Self == SwiftToPythonScope {
    /// Runs the suite with a ``SwiftToPythonFixture``.
    static var swiftToPython: Self { Self() }
}

/// The Swift `RPCClient` calls and casts a real Python oslo.messaging RPC server.
///
/// Serialized: the call timeout is also the request's TTL in the queue, and
/// the Python server, busy with the 1 MB test's messages, could otherwise let
/// the timeout test's request expire before it is delivered.
@Suite(.swiftToPython, .serialized) struct SwiftToPythonTests {
    private static func request(_ method: String, _ arguments: JSONObject, context: RequestContext = RequestContext()) -> RPCRequest {
        RPCRequest(method: method, arguments: arguments, context: context)
    }

    @Test func everyJSONKindRoundTrips() async throws {
        let fixture = try SwiftToPythonFixture.get()
        let result = try await fixture.client.call(Self.request("echo", ["value": everyJSONKind]), topic: fixture.topic)
        #expect(result == everyJSONKind)
        #expect(try result["ordered keys"]?.encodedString() == #"{"zeta":1,"alpha":2,"mid":3}"#)

        let scalars: [JSON] = [nil, true, false, 0, .integer(Int64.max), .integer(Int64.min), 0.5, "", "😀𝄞", [], [:]]
        try await withThrowingTaskGroup(of: (JSON, JSON).self) { group in
            for value in scalars {
                group.addTask {
                    (value, try await fixture.client.call(Self.request("echo", ["value": value]), topic: fixture.topic))
                }
            }
            for try await (sent, received) in group {
                #expect(received == sent)
            }
        }
    }

    @Test func oneMegabyteString() async throws {
        let fixture = try SwiftToPythonFixture.get()
        let text = largeString(bytes: 1_000_000)
        let result = try await fixture.client.call(Self.request("echo", ["value": .string(text)]), topic: fixture.topic)
        #expect(result.stringValue == text)
    }

    @Test func concurrentCallsGetTheirOwnReplies() async throws {
        let fixture = try SwiftToPythonFixture.get()
        try await withThrowingTaskGroup(of: (Int64, JSON).self) { group in
            for index in Int64(0)..<20 {
                group.addTask {
                    (index, try await fixture.client.call(Self.request("echo", ["value": .integer(index)]), topic: fixture.topic))
                }
            }
            for try await (index, result) in group {
                #expect(result == .integer(index))
            }
        }
    }

    @Test func pythonExceptionBecomesRemoteFailure() async throws {
        let fixture = try SwiftToPythonFixture.get()
        let error = await #expect(throws: RemoteFailure.self) {
            try await fixture.client.call(Self.request("fail", ["message": "bad value ✗"]), topic: fixture.topic)
        }
        #expect(error?.className == "ValueError")
        #expect(error?.module == "builtins")
        #expect(error?.message == "bad value ✗")
        #expect(error?.arguments == ["bad value ✗"])
        #expect(error?.traceback.last?.contains("ValueError: bad value ✗") == true)
    }

    @Test func unknownMethodIsNoSuchMethod() async throws {
        let fixture = try SwiftToPythonFixture.get()
        let error = await #expect(throws: RemoteFailure.self) {
            try await fixture.client.call(Self.request("no_such_method", [:]), topic: fixture.topic)
        }
        #expect(error?.className == "NoSuchMethod")
        #expect(error?.module == "oslo_messaging.rpc.dispatcher")
        #expect(error?.message == "Endpoint does not support RPC method no_such_method")
    }

    /// The Python server sleeps longer than the call timeout: the call
    /// throws `RPCTimeoutError`; the late reply is dropped; the client works on.
    /// The timeout is also the request's TTL in the queue: 8 s leave a loaded
    /// Python server time to take it; the sleep outlasts it by far.
    @Test func callTimesOut() async throws {
        let fixture = try SwiftToPythonFixture.get()
        let error = await #expect(throws: RPCTimeoutError.self) {
            try await fixture.client.call(Self.request("sleep", ["seconds": 16]), topic: fixture.topic, timeout: .seconds(8))
        }
        let timeout = try #require(error)
        #expect(timeout.method == "sleep")
        #expect(timeout.topic == fixture.topic)
        #expect(timeout.timeout == .seconds(8))
        _ = try await fixture.peer.waitForJSON(.seconds(60), "the server got the call") { $0["method"] == "sleep" }
        _ = try await fixture.logs.waitFor(.seconds(60), "the late reply is dropped") {
            $0.message.hasPrefix("Dropping a reply for no waiting call") && $0.metadata["oslo.msg_id"] == timeout.messageID
        }
        #expect(try await fixture.client.call(Self.request("echo", ["value": "after"]), topic: fixture.topic) == "after")
    }

    @Test func castIsObservedByTheServer() async throws {
        let fixture = try SwiftToPythonFixture.get()
        let token = "cast-" + MessageID.generate()
        try await fixture.client.cast(Self.request("echo", ["value": .string(token)]), topic: fixture.topic)
        let line = try await fixture.peer.waitForJSON(.seconds(60), "the cast in the server's log") {
            $0["event"] == "request" && $0["args"]?["value"] == .string(token)
        }
        #expect(line["method"] == "echo")
    }

    @Test func contextTravelsToTheServer() async throws {
        let fixture = try SwiftToPythonFixture.get()
        let requestID = MessageID.generateRequestID()
        var context = RequestContext.mistralAdmin(requestID: requestID)
        context["root_execution_id"] = "root-1"
        let token = "context-" + MessageID.generate()
        _ = try await fixture.client.call(Self.request("echo", ["value": .string(token)], context: context), topic: fixture.topic)
        let line = try await fixture.peer.waitForJSON(.seconds(60), "the call in the server's log") {
            $0["event"] == "request" && $0["args"]?["value"] == .string(token)
        }
        #expect(line["context"]?["request_id"] == .string(requestID))
        #expect(line["context"]?["root_execution_id"] == "root-1")
        #expect(line["context"]?["is_admin"] == true)
    }

    @Test func callToOneServer() async throws {
        let fixture = try SwiftToPythonFixture.get()
        let result = try await fixture.client.call(Self.request("echo", ["value": "direct"]), topic: fixture.topic, server: fixture.serverName)
        #expect(result == "direct")
    }
}
