import AsyncHTTPClient
import Foundation
import MistralActionsTestSupport
import NIOCore
import NIOHTTP1
import OpenStackSimulator
import OrderedJSON
import Testing

/// A response as the tests look at it.
struct TestResponse {
    var status: Int
    var headers: [(String, String)]
    var text: String

    var json: JSON { (try? JSON(parsing: text)) ?? .null }

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// An in-process simulator on an ephemeral port, a token for `admin` on `demo`, and HTTP helpers.
struct SimulatorHarness {
    let simulator: OpenStackSimulator
    let token: String

    /// Starts a simulator with fast transitions, runs `body`, and always shuts it down.
    static func run(
        delay: Double = 0.05, defaultSeed: Bool = true, _ body: (SimulatorHarness) async throws -> Void
    ) async throws {
        let simulator = try await OpenStackSimulator.start(.testing(delay: delay, loadDefaultSeed: defaultSeed))
        do {
            let token = try simulator.issueToken().id
            try await body(SimulatorHarness(simulator: simulator, token: token))
        } catch {
            await simulator.shutdown()
            throw error
        }
        await simulator.shutdown()
    }

    /// A transition delay long enough that nothing finishes unless the test moves the clock.
    static let paused = 60.0

    /// Moves the simulated clock past every pending transition of a ``paused`` harness.
    func finishTransitions() {
        simulator.advanceClock(by: Self.paused + 1)
    }

    var cinder: String { simulator.endpointURL(.blockStorage) }
    var nova: String { simulator.endpointURL(.compute) }
    var glance: String { simulator.endpointURL(.image) }
    var trove: String { simulator.endpointURL(.database) }
    var keystone: String { simulator.authURL + "/v3" }

    /// Which `X-Auth-Token` a request carries.
    enum Credential {
        case harness
        case none
        case token(String)
    }

    /// The methods the tests use (kept here so test files need not import NIOHTTP1).
    enum Method: String {
        case GET, POST, PUT, DELETE, HEAD
    }

    /// Sends a request with the harness token unless told otherwise.
    func send(
        _ method: Method, _ url: String, body: JSON? = nil, token: Credential = .harness,
        microversion: String? = nil, headers: [(String, String)] = []
    ) async throws -> TestResponse {
        var request = HTTPClientRequest(url: url)
        request.method = HTTPMethod(rawValue: method.rawValue)
        request.headers.add(name: "Accept", value: "application/json")
        let sentToken: String? =
            switch token {
            case .harness: self.token
            case .none: nil
            case .token(let explicit): explicit
            }
        if let sentToken { request.headers.add(name: "X-Auth-Token", value: sentToken) }
        if let microversion { request.headers.add(name: "OpenStack-API-Version", value: microversion) }
        for (name, value) in headers { request.headers.replaceOrAdd(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try body.encoded()))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 16 * 1024 * 1024)
        return TestResponse(
            status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
            text: String(buffer: bytes))
    }

    func get(_ url: String, microversion: String? = nil) async throws -> TestResponse {
        try await send(.GET, url, microversion: microversion)
    }

    func post(_ url: String, _ body: JSON, microversion: String? = nil) async throws -> TestResponse {
        try await send(.POST, url, body: body, microversion: microversion)
    }

    /// The internal view of one resource from `/_simulator/state`.
    func stateEntry(_ kind: String, id: String) -> JSON? {
        simulator.state()[kind]?.arrayValue?.first { $0["id"]?.stringValue == id }
    }

    /// Waits until GET `url` shows `field` (a path of keys) equal to `value`
    /// (polling the API as a client would; the limit only guards against a hang).
    func waitFor(_ url: String, _ path: [String], equals value: String, microversion: String? = nil) async throws {
        try await eventually("GET \(url) shows \(path.joined(separator: ".")) = \(value)") {
            var json = try await get(url, microversion: microversion).json
            for key in path { json = json[key] ?? .null }
            return json.stringValue == value
        }
    }
}

extension JSON {
    /// The value at a path of keys, `.null` when absent.
    subscript(path path: String...) -> JSON {
        var current = self
        for key in path { current = current[key] ?? .null }
        return current
    }
}
