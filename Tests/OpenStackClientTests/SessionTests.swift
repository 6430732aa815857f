import Logging
import NIOCore
import NIOPosix
import OrderedJSON
import Synchronization
import Testing

@testable import OpenStackClient

/// The session against a scripted HTTP server: headers, errors, retries,
/// timeouts, cancellation, limits.
@Suite("Session over HTTP")
struct SessionTests {
    @Test("sends the token, Accept, User-Agent and microversion headers; encodes the query")
    func headers() async throws {
        try await withServer { server, session in
            server.always("GET", "/volume/v3/p-1/volumes", .json(200, #"{"volumes": []}"#))
            server.always("POST", "/compute/v2.1/servers/s1/action", .json(202))
            let client = session.client(credentials: try userCredentials(server), logger: quietLogger)

            let response = try await client.get(
                .blockStorage, "/volumes", query: [("name", "a b"), ("all_tenants", "1")], microversion: "3.64")
            #expect(response.status == 200)
            #expect(response.body == ["volumes": []])
            #expect(response.header("content-type") == "application/json")
            let get = try #require(server.requests("GET", "/volume/v3/p-1/volumes").first)
            #expect(get.uri == "/volume/v3/p-1/volumes?name=a%20b&all_tenants=1")
            #expect(get.header("X-Auth-Token") == "user-token-123")
            #expect(get.header("Accept") == "application/json")
            #expect(get.header("User-Agent") == "mistral-actions")
            #expect(get.header("OpenStack-API-Version") == "volume 3.64")
            #expect(get.header("Content-Type") == nil)

            _ = try await client.post(.compute, "/servers/s1/action", body: ["os-start": nil], microversion: "2.79")
            let post = try #require(server.requests("POST", "/compute/v2.1/servers/s1/action").first)
            #expect(post.header("Content-Type") == "application/json")
            #expect(post.header("OpenStack-API-Version") == "compute 2.79")
            #expect(post.header("X-OpenStack-Nova-API-Version") == "2.79")
            #expect(post.body == #"{"os-start":null}"#)
        }
    }

    @Test("a service error becomes .http with the fault and message")
    func serviceError() async throws {
        try await withServer { server, session in
            server.always(
                "GET", "/volume/v3/p-1/backups/42",
                .json(404, #"{"itemNotFound": {"code": 404, "message": "Backup 42 could not be found."}}"#))
            let client = session.client(credentials: try userCredentials(server), logger: quietLogger)
            let error = await #expect(throws: OpenStackError.self) { try await client.get(.blockStorage, "/backups/42") }
            #expect(error?.kind == .http(status: 404, fault: "itemNotFound", message: "Backup 42 could not be found."))
            #expect(error?.description == "Cinder GET /backups/42: 404 itemNotFound: Backup 42 could not be found.")
            #expect(server.requests.count == 1)
        }
    }

    @Test("a GET is retried after 503, 503, then succeeds; each retry is logged")
    func retriesTransientErrors() async throws {
        let recorder = LogRecorder()
        try await withServer { server, session in
            server.script(
                "GET", "/compute/v2.1/servers",
                [.json(503, #"{"serviceUnavailable": {"code": 503, "message": "busy"}}"#), .json(503), .json(200, #"{"servers": []}"#)])
            let client = session.client(credentials: try userCredentials(server), logger: recorder.logger())
            let response = try await client.get(.compute, "/servers")
            #expect(response.body == ["servers": []])
            #expect(server.requests("GET", "/compute/v2.1/servers").count == 3)
            let retries = recorder.records(containing: "retrying")
            #expect(retries.count == 2)
            #expect(retries.allSatisfy { $0.level == .warning })
            #expect(retries.first?.metadata["openstack.service"] == "compute")
            #expect(retries.first?.metadata["http.status"] == "503")
            #expect(retries.first?.metadata["http.path"] == "/servers")
            #expect(retries.first?.metadata["retry.delay_ms"] != nil)
            let debugLines = recorder.records(containing: "OpenStack request").filter { $0.level == .debug }
            #expect(debugLines.count == 3)
            #expect(debugLines.last?.metadata["http.status"] == "200")
            #expect(!recorder.allText.contains("user-token-123"))
        }
    }

    @Test("retries run out: the last answer is the error")
    func retriesRunOut() async throws {
        try await withServer(settings: testSettings(maxRetries: 2)) { server, session in
            server.always("GET", "/image/v2/images", .json(502))
            let client = session.client(credentials: try userCredentials(server), logger: quietLogger)
            let error = await #expect(throws: OpenStackError.self) { try await client.get(.image, "/v2/images") }
            #expect(error?.status == 502)
            #expect(server.requests.count == 3)
        }
    }

    @Test("429 with Retry-After: the retry waits that long")
    func honoursRetryAfter() async throws {
        try await withServer { server, session in
            server.script(
                "GET", "/compute/v2.1/servers/detail",
                [
                    .json(429, #"{"overLimit": {"code": 429, "message": "slow down"}}"#, headers: [("Retry-After", "1")]),
                    .json(200, #"{"servers": []}"#),
                ])
            let client = session.client(credentials: try userCredentials(server), logger: quietLogger)
            _ = try await client.get(.compute, "/servers/detail")
            let requests = server.requests
            #expect(requests.count == 2)
            let waited = requests[1].receivedAt - requests[0].receivedAt
            #expect(waited >= .seconds(1), "waited \(waited)")
            // Only a guard against reading the header as minutes: a loaded
            // machine adds latency, what matters is the lower bound.
            #expect(waited < .seconds(50), "waited \(waited)")
        }
    }

    @Test("the Retry-After of a final error is kept")
    func retryAfterOnError() async throws {
        try await withServer { server, session in
            server.always(
                "POST", "/volume/v3/p-1/volumes",
                .json(413, #"{"overLimit": {"code": 413, "message": "rate"}}"#, headers: [("Retry-After", "7")]))
            let client = session.client(credentials: try userCredentials(server), logger: quietLogger)
            let error = await #expect(throws: OpenStackError.self) {
                try await client.post(.blockStorage, "/volumes", body: ["volume": ["size": 1]])
            }
            #expect(error?.retryAfterSeconds == 7)
            #expect(error?.kind == .http(status: 413, fault: "overLimit", message: "rate"))
        }
    }

    @Test("a POST is not retried after a 503")
    func postNotRetried() async throws {
        let recorder = LogRecorder()
        try await withServer { server, session in
            server.always("POST", "/volume/v3/p-1/backups", .json(503))
            let client = session.client(credentials: try userCredentials(server), logger: recorder.logger())
            let error = await #expect(throws: OpenStackError.self) {
                try await client.post(.blockStorage, "/backups", body: ["backup": ["volume_id": "v"]])
            }
            #expect(error?.status == 503)
            #expect(server.requests.count == 1)
            #expect(recorder.records(containing: "retrying").isEmpty)
        }
    }

    @Test("a POST is retried when the connection is refused: nothing was sent")
    func postRetriedWhenRefused() async throws {
        // A port that was just free: connecting to it is refused.
        let probe = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(probe.localAddress?.port)
        try await probe.close()

        let recorder = LogRecorder()
        let session = OpenStackSession(
            settings: testSettings(connectTimeout: .milliseconds(200), maxRetries: 2), logger: quietLogger)
        let catalog = ServiceCatalog(endpoints: [
            .init(serviceType: "compute", interface: "public", region: nil, url: "http://127.0.0.1:\(port)/v2.1")
        ])
        let client = session.client(
            credentials: OpenStackCredentials(authToken: "t0k3n", catalog: catalog), logger: recorder.logger())
        let error = await #expect(throws: OpenStackError.self) {
            try await client.post(.compute, "/servers", body: ["server": [:]])
        }
        guard case .transport(let message) = error?.kind else {
            Issue.record("expected .transport, got \(String(describing: error))")
            try await session.shutdown()
            return
        }
        #expect(message.contains("could not connect to 127.0.0.1:\(port)"))
        #expect(recorder.records(containing: "retrying").count == 2)
        try await session.shutdown()
    }

    @Test("no answer within the request timeout: .timeout")
    func timeout() async throws {
        try await withServer(settings: testSettings(requestTimeout: .milliseconds(300), maxRetries: 0)) { server, session in
            server.always("GET", "/compute/v2.1/servers", .hang)
            let client = session.client(credentials: try userCredentials(server), logger: quietLogger)
            // The server never answers: only the timeout ends the request
            // (without it the test would hang), so the error kind is the proof.
            let error = await #expect(throws: OpenStackError.self) { try await client.get(.compute, "/servers") }
            #expect(error?.kind == .timeout)
            #expect(server.requests.count == 1)
        }
    }

    @Test("a slow body also counts against the request timeout; idempotent requests retry it")
    func timeoutRetried() async throws {
        // The timeout leaves room for the second, quick answer on a loaded machine.
        try await withServer(settings: testSettings(requestTimeout: .seconds(2), maxRetries: 1)) { server, session in
            server.script("GET", "/compute/v2.1/flavors", [.hang, .json(200, #"{"flavors": []}"#)])
            let client = session.client(credentials: try userCredentials(server), logger: quietLogger)
            let response = try await client.get(.compute, "/flavors")
            #expect(response.body == ["flavors": []])
            #expect(server.requests.count == 2)
        }
    }

    @Test("cancelling the task cancels the request at once")
    func cancellation() async throws {
        try await withServer(settings: testSettings(requestTimeout: .seconds(300), maxRetries: 0)) { server, session in
            server.always("GET", "/compute/v2.1/servers", .hang)
            let client = session.client(credentials: try userCredentials(server), logger: quietLogger)
            let task = Task { try await client.get(.compute, "/servers") }
            // Cancel while the request is really out, waiting for its answer.
            try await server.waitForRequests("GET", "/compute/v2.1/servers", count: 1)
            let cancelled = ContinuousClock.now
            task.cancel()
            await #expect(throws: CancellationError.self) { try await task.value }
            // Only the 300 s request timeout would end it otherwise; the
            // bound is loose enough for any loaded machine.
            #expect(ContinuousClock.now - cancelled < .seconds(60))
            #expect(server.requests.count == 1)
        }
    }

    @Test("cancelling during a retry delay ends at once")
    func cancellationDuringBackoff() async throws {
        let settings = OpenStackSettings(
            maxRetries: 1, retryBaseDelay: .seconds(300), maxRetryDelay: .seconds(300))
        let recorder = LogRecorder()
        try await withServer(settings: settings) { server, session in
            server.always("GET", "/compute/v2.1/servers", .json(503, headers: [("Retry-After", "300")]))
            let client = session.client(credentials: try userCredentials(server), logger: recorder.logger())
            let task = Task { try await client.get(.compute, "/servers") }
            // The retry is announced just before its delay starts.
            try await recorder.waitForRecord(containing: "retrying")
            let cancelled = ContinuousClock.now
            task.cancel()
            await #expect(throws: CancellationError.self) { try await task.value }
            // Only the 300 s retry delay would end it otherwise.
            #expect(ContinuousClock.now - cancelled < .seconds(60))
            #expect(server.requests.count == 1)
        }
    }

    @Test("at most maxConcurrentRequestsPerService requests reach a service at once")
    func perServiceLimit() async throws {
        let servers = "/compute/v2.1/servers"
        let images = "/image/v2/images"
        // Held requests wait for the test, not for the machine: no request timeout may end them.
        try await withServer(settings: testSettings(requestTimeout: .seconds(300), maxConcurrentRequestsPerService: 2)) { server, session in
            server.always("GET", servers, .json(200, #"{"servers": []}"#))
            server.always("GET", images, .json(200, #"{"images": []}"#))
            // Every answer waits for the test: requests overlap because the
            // server holds them, not because the machine is fast.
            server.hold("GET", servers)
            server.hold("GET", images)
            let credentials = try userCredentials(server)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<6 {
                    // Different clients (actions), one session.
                    let client = session.client(credentials: credentials, logger: quietLogger)
                    group.addTask { _ = try await client.get(.compute, "/servers") }
                }
                // The limit is reached...
                try await server.waitForRequests("GET", servers, count: 2)
                // ...and no third request comes while both are held. Waiting
                // longer could only let a broken limit show more requests.
                try await Task.sleep(for: .milliseconds(200))
                #expect(server.requests("GET", servers).count == 2)
                // Each answer lets exactly one more request through.
                for arrived in 3...6 {
                    server.release("GET", servers)
                    try await server.waitForRequests("GET", servers, count: arrived)
                    #expect(server.requestsInFlight <= 2)
                }
                server.release("GET", servers, count: 2)
                try await group.waitForAll()
            }
            #expect(server.requests("GET", servers).count == 6)
            #expect(server.maxConcurrentRequests == 2)

            // Another service has its own limit: with the compute limit
            // taken, an image request still goes out.
            let client = session.client(credentials: credentials, logger: quietLogger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { _ = try await client.get(.compute, "/servers") }
                group.addTask { _ = try await client.get(.compute, "/servers") }
                group.addTask { _ = try await client.get(.image, "/v2/images") }
                try await server.waitForRequests("GET", servers, count: 8)
                try await server.waitForRequests("GET", images, count: 1)
                #expect(server.requestsInFlight == 3)
                server.releaseAll("GET", servers)
                server.releaseAll("GET", images)
                try await group.waitForAll()
            }
            #expect(server.maxConcurrentRequests == 3)
        }
    }

    @Test("a request waiting for the limit can be cancelled")
    func cancelWhileQueued() async throws {
        let servers = "/compute/v2.1/servers"
        try await withServer(settings: testSettings(requestTimeout: .seconds(300), maxConcurrentRequestsPerService: 1)) { server, session in
            server.always("GET", servers, .json(200))
            server.hold("GET", servers)
            let client = session.client(credentials: try userCredentials(server), logger: quietLogger)
            let first = Task { try await client.get(.compute, "/servers") }
            // The only permit is taken until the test releases the answer.
            try await server.waitForRequests("GET", servers, count: 1)
            let queued = Task { try await client.get(.compute, "/servers") }
            // Time to reach the queue; whenever it is cancelled, it must
            // never reach the server.
            try await Task.sleep(for: .milliseconds(50))
            queued.cancel()
            await #expect(throws: CancellationError.self) { try await queued.value }
            server.releaseAll("GET", servers)
            _ = try await first.value
            // Had the cancelled request kept its place, it would go out
            // before this one (first come, first served) and be counted.
            _ = try await client.get(.compute, "/servers")
            #expect(server.requests.count == 2)
        }
    }

    @Test("shutdown is idempotent and later requests fail")
    func shutdown() async throws {
        let server = try await ScriptedHTTPServer.start()
        server.always("GET", "/compute/v2.1/servers", .json(200))
        let session = OpenStackSession(settings: testSettings(), logger: quietLogger)
        let client = session.client(credentials: try userCredentials(server), logger: quietLogger)
        _ = try await client.get(.compute, "/servers")
        try await session.shutdown()
        try await session.shutdown()
        let error = await #expect(throws: OpenStackError.self) { try await client.get(.compute, "/servers") }
        #expect(error?.kind == .transport("the OpenStack session is shut down"))
        #expect(server.requests.count == 1)
        try await server.stop()
    }
}
