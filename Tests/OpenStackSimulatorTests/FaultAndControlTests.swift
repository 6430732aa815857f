import Foundation
import OpenStackSimulator
import OrderedJSON
import Testing

@Suite("fault injection and the control API")
struct FaultAndControlTests {
    @Test("503 twice, then the real answer; the body is the service's envelope")
    func unavailableTwice() async throws {
        try await SimulatorHarness.run { harness in
            harness.simulator.setFaults([FaultRule(method: "GET", path: "/servers/.*", times: 2, status: 503)])
            let url = harness.nova + "/servers/" + SimulatorDefaults.demoServerID
            let first = try await harness.get(url)
            #expect(first.status == 503)
            #expect(first.json[path: "serviceUnavailable", "code"] == 503)
            #expect(try await harness.get(url).status == 503)
            #expect(try await harness.get(url).status == 200)
            // Other paths were never affected.
            #expect(harness.simulator.requestLog().map(\.status) == [503, 503, 200])
        }
    }

    @Test("429 and 413 carry Retry-After, with retryAfter inside Nova's overLimit; Cinder's rate-limit form")
    func rateLimits() async throws {
        try await SimulatorHarness.run { harness in
            harness.simulator.setFaults([
                FaultRule(service: .compute, status: 429, retryAfter: "3"),
                FaultRule(service: .blockStorage, status: 413, retryAfter: "7"),
                FaultRule(service: .blockStorage, status: 413, form: "rate_limit"),
                FaultRule(service: .image, status: 500),
            ])
            let nova = try await harness.get(harness.nova + "/servers")
            #expect(nova.status == 429)
            #expect(nova.header("Retry-After") == "3")
            #expect(nova.json == ["overLimit": ["code": 429, "message": "This request was rate-limited.", "retryAfter": "3"]])

            let cinder = try await harness.get(harness.cinder + "/volumes")
            #expect(cinder.status == 413)
            #expect(cinder.header("Retry-After") == "7")
            #expect(cinder.json[path: "overLimit", "retryAfter"] == "7")

            let limiter = try await harness.get(harness.cinder + "/volumes")
            #expect(limiter.status == 413)
            #expect(limiter.json[path: "overLimitFault", "message"] == "This request was rate-limited.")
            #expect(limiter.json[path: "overLimitFault", "details"].stringValue?.contains("GET") == true)

            let glance = try await harness.get(harness.glance + "/v2/images")
            #expect(glance.status == 500)
            #expect(glance.json[path: "code"] == "500 Internal Server Error")
        }
    }

    @Test("a delay slows the real answer down")
    func delay() async throws {
        try await SimulatorHarness.run { harness in
            harness.simulator.setFaults([FaultRule(service: .image, delay: 0.3)])
            let start = Date()
            let response = try await harness.get(harness.glance + "/v2/images")
            #expect(response.status == 200)
            #expect(Date().timeIntervalSince(start) >= 0.28)
            // The rule applied once; the next request is answered normally.
            #expect(try await harness.get(harness.glance + "/v2/images").status == 200)
            #expect(harness.simulator.requestLog().count == 2)
        }
    }

    @Test("reset closes the connection without an answer")
    func connectionReset() async throws {
        try await SimulatorHarness.run { harness in
            harness.simulator.setFaults([FaultRule(service: .database, times: 3, reset: true)])
            await #expect(throws: (any Error).self) {
                _ = try await harness.get(harness.trove + "/instances")
            }
            harness.simulator.clearFaults()
            let recovered = try await harness.get(harness.trove + "/instances")
            #expect(recovered.status == 200)
            #expect(harness.simulator.requestLog().first?.status == nil)
        }
    }

    @Test("the request log records the chosen region and interface, the headers and the body")
    func requestLog() async throws {
        try await SimulatorHarness.run { harness in
            let url = harness.simulator.endpointURL(.blockStorage, region: "RegionTwo", interface: "internal", volumev3: true)
            let response = try await harness.post(
                url + "/backups", ["backup": ["volume_id": .string(SimulatorDefaults.demoVolumeID)]], microversion: "volume 3.64")
            #expect(response.status == 202)
            let entry = try #require(harness.simulator.requestLog().last)
            #expect(entry.method == "POST")
            #expect(entry.service == .blockStorage)
            #expect(entry.region == "RegionTwo")
            #expect(entry.interface == "internal")
            #expect(entry.servicePath == "/backups")
            #expect(entry.path.hasSuffix("/RegionTwo/internal/volumev3/v3/\(SimulatorDefaults.demoProjectID)/backups"))
            #expect(entry.headers["X-Auth-Token"] == harness.token)
            #expect(entry.headers["OpenStack-API-Version"] == "volume 3.64")
            #expect(entry.headers["Content-Type"] == "application/json")
            #expect(entry.body?[path: "backup", "volume_id"] == .string(SimulatorDefaults.demoVolumeID))
            #expect(entry.status == 202)
            harness.simulator.clearRequestLog()
            #expect(harness.simulator.requestLog().isEmpty)
        }
    }

    @Test("control API over HTTP: health, seed, state, faults, requests, settings, tokens, reset")
    func controlOverHTTP() async throws {
        try await SimulatorHarness.run { harness in
            let control = harness.simulator.baseURL + "/_simulator"
            let health = try await harness.send(.GET, control + "/health", token: .none)
            #expect(health.json == ["status": "ok"])

            let seeded = try await harness.send(
                .POST, control + "/seed", body: ["volumes": [["name": "extra", "size": 3]]], token: .none)
            #expect(seeded.status == 200)
            let extraID = try #require(seeded.json[path: "volumes"][0]?["id"]?.stringValue)
            #expect(try await harness.get(harness.cinder + "/volumes/" + extraID).json[path: "volume", "size"] == 3)

            let settings = try await harness.send(
                .PUT, control + "/settings", body: ["delays": ["volume_backup": 0.01], "token_ttl": 60], token: .none)
            #expect(settings.json[path: "delays", "volume_backup"] == 0.01)
            #expect(settings.json[path: "token_ttl"] == 60.0)
            let badSetting = try await harness.send(.PUT, control + "/settings", body: ["nope": 1], token: .none)
            #expect(badSetting.status == 400)

            let faults = try await harness.send(
                .PUT, control + "/faults", body: [["service": "compute", "status": 503, "times": 1]], token: .none)
            #expect(faults.status == 200)
            #expect(try await harness.get(harness.nova + "/servers").status == 503)
            #expect(try await harness.send(.DELETE, control + "/faults", token: .none).status == 204)

            let log = try await harness.send(.GET, control + "/requests", token: .none)
            let entries = try #require(log.json.arrayValue)
            #expect(entries.last?["service"] == "compute")
            #expect(entries.last?["region"] == "RegionOne")
            #expect(entries.last?["interface"] == "public")
            #expect(entries.last?["status"] == 503)

            let token = try await harness.send(.POST, control + "/tokens", body: ["user": "mistral", "project": "service"], token: .none)
            #expect(token.status == 201)
            #expect(token.json[path: "body", "token", "project", "name"] == "service")

            let state = try await harness.send(.GET, control + "/state", token: .none)
            #expect(state.json[path: "volumes"].arrayValue?.contains { $0["id"] == .string(extraID) } == true)
            #expect(state.json[path: "tokens", "issued"].intValue ?? 0 >= 2)

            let clock = try await harness.send(.POST, control + "/clock/advance", body: ["seconds": 5], token: .none)
            #expect(clock.status == 200)
            #expect(clock.json[path: "now"].stringValue?.hasSuffix("Z") == true)

            let expired = try await harness.send(.POST, control + "/tokens/expire", token: .none)
            #expect(expired.json[path: "expired"].intValue ?? 0 >= 2)

            let reset = try await harness.send(.POST, control + "/reset", token: .none)
            #expect(reset.status == 200)
            let after = harness.simulator.state()
            #expect(after[path: "volumes"].arrayValue?.contains { $0["id"] == .string(extraID) } == false)
            #expect(after[path: "volumes"].arrayValue?.contains { $0["id"] == .string(SimulatorDefaults.demoVolumeID) } == true)
            #expect(harness.simulator.requestLog().isEmpty)
        }
    }

    @Test("absurd seconds in the control API and settings never trap the simulator", arguments: [1e300, Double(Int64.max), 1.7e308])
    func absurdSeconds(seconds: Double) async throws {
        try await SimulatorHarness.run { harness in
            let control = harness.simulator.baseURL + "/_simulator"
            let settings = try await harness.send(.PUT, control + "/settings", body: ["delays": ["volume_backup": .double(seconds)]], token: .none)
            #expect(settings.status == 200 || settings.status == 400)
            let clock = try await harness.send(.POST, control + "/clock/advance", body: ["seconds": .double(seconds)], token: .none)
            #expect(clock.status == 200 || clock.status == 400)
            let again = try await harness.send(.POST, control + "/clock/advance", body: ["seconds": .double(seconds)], token: .none)
            #expect(again.status == 200 || again.status == 400)
            // Still serving, with a fresh token (the clock jumped past the old one's expiry).
            let token = try await harness.send(.POST, control + "/tokens", body: ["user": "admin", "project": "demo"], token: .none)
            #expect(token.status == 201)
            #expect(try await harness.send(.GET, control + "/health", token: .none).json == ["status": "ok"])
        }
    }

    @Test("state shows a Cinder backup chain with its internal parent_id")
    func stateShowsChains() async throws {
        try await SimulatorHarness.run { harness in
            let seeded = try harness.simulator.seed([
                "backups": [["id": "aaaaaaaa-0000-0000-0000-000000000001", "volume_id": .string(SimulatorDefaults.demoVolumeID)]]
            ])
            #expect(seeded[path: "backups"][0]?["num_dependent_backups"] == 0)
            try harness.simulator.seed([
                "backups": [
                    ["volume_id": .string(SimulatorDefaults.demoVolumeID), "parent_id": "aaaaaaaa-0000-0000-0000-000000000001"]
                ]
            ])
            let parent = try #require(harness.stateEntry("backups", id: "aaaaaaaa-0000-0000-0000-000000000001"))
            #expect(parent["num_dependent_backups"] == 1)
            #expect(harness.simulator.state()[path: "backups"].arrayValue?.last?["parent_id"] == "aaaaaaaa-0000-0000-0000-000000000001")
            #expect(throws: SimulatorError.self) { try harness.simulator.seed(["widgets": []]) }
        }
    }
}
