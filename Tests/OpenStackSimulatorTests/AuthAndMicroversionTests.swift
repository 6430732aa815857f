import OpenStackSimulator
import OrderedJSON
import Testing

@Suite("keystonemiddleware and microversions")
struct AuthAndMicroversionTests {
    private let unauthorized: JSON = [
        "error": ["code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."]
    ]

    @Test("every service answers 401 with WWW-Authenticate without a token, with an unknown one, and after expiry")
    func unauthorizedEverywhere() async throws {
        try await SimulatorHarness.run { harness in
            let urls = [
                harness.cinder + "/volumes/detail",
                harness.nova + "/servers/detail",
                harness.glance + "/v2/images",
                harness.trove + "/instances",
            ]
            let expectedHeader = "Keystone uri=\"\(harness.simulator.authURL)\""
            for url in urls {
                let missing = try await harness.send(.GET, url, token: .none)
                #expect(missing.status == 401, "\(url)")
                #expect(missing.json == unauthorized)
                #expect(missing.header("WWW-Authenticate") == expectedHeader)
                let unknown = try await harness.send(.GET, url, token: .token("not-a-token"))
                #expect(unknown.status == 401)
                let valid = try await harness.get(url)
                #expect(valid.status == 200, "\(url)")
            }
            #expect(harness.simulator.expireTokens() >= 1)
            for url in urls {
                let expired = try await harness.get(url)
                #expect(expired.status == 401, "\(url)")
                #expect(expired.header("WWW-Authenticate") == expectedHeader)
            }
            // A new token works again, and Keystone refuses the expired one as a subject.
            let fresh = try harness.simulator.issueToken().id
            #expect(try await harness.send(.GET, urls[0], token: .token(fresh)).status == 200)
            let subject = try await harness.send(
                .GET, harness.keystone + "/auth/tokens", token: .token(fresh), headers: [("X-Subject-Token", harness.token)])
            #expect(subject.status == 404)
        }
    }

    @Test("a token TTL setting makes new tokens expire")
    func tokenTTL() async throws {
        try await SimulatorHarness.run { harness in
            harness.simulator.updateSettings { $0.tokenTTL = 10 }
            let shortLived = try harness.simulator.issueToken().id
            #expect(try await harness.send(.GET, harness.nova + "/servers", token: .token(shortLived)).status == 200)
            harness.simulator.advanceClock(by: 11)
            #expect(try await harness.send(.GET, harness.nova + "/servers", token: .token(shortLived)).status == 401)
        }
    }

    @Test("Cinder echoes the microversion with Vary, defaults to 3.0, accepts latest, rejects 3.72 with 406")
    func cinderMicroversions() async throws {
        try await SimulatorHarness.run { harness in
            let url = harness.cinder + "/volumes/" + SimulatorDefaults.demoVolumeID
            let pinned = try await harness.get(url, microversion: "volume 3.64")
            #expect(pinned.header("OpenStack-API-Version") == "volume 3.64")
            #expect(pinned.header("Vary") == "OpenStack-API-Version")
            #expect(pinned.json[path: "volume", "shared_targets"] == false)

            let plain = try await harness.get(url)
            #expect(plain.header("OpenStack-API-Version") == "volume 3.0")
            #expect(plain.json[path: "volume", "shared_targets"] == .null)

            let latest = try await harness.get(url, microversion: "volume latest")
            #expect(latest.header("OpenStack-API-Version") == "volume 3.71")

            let tooNew = try await harness.get(url, microversion: "volume 3.72")
            #expect(tooNew.status == 406)
            #expect(
                tooNew.json
                    == [
                        "computeFault": [
                            "code": 406,
                            "message": "Version 3.72 is not supported by the API. Minimum is 3.0 and maximum is 3.71.",
                        ]
                    ])
            let malformed = try await harness.get(url, microversion: "volume 3.x")
            #expect(malformed.status == 400)
            #expect(malformed.json[path: "badRequest", "code"] == 400)
        }
    }

    @Test("Nova echoes both headers, honours the legacy header, rejects 2.105")
    func novaMicroversions() async throws {
        try await SimulatorHarness.run { harness in
            let url = harness.nova + "/servers/" + SimulatorDefaults.demoServerID
            let pinned = try await harness.get(url, microversion: "compute 2.79")
            #expect(pinned.header("OpenStack-API-Version") == "compute 2.79")
            #expect(pinned.header("X-OpenStack-Nova-API-Version") == "2.79")
            #expect(pinned.header("Vary") == "OpenStack-API-Version, X-OpenStack-Nova-API-Version")

            let legacy = try await harness.send(.GET, url, headers: [("X-OpenStack-Nova-API-Version", "2.60")])
            #expect(legacy.header("OpenStack-API-Version") == "compute 2.60")

            let latest = try await harness.get(url, microversion: "compute latest")
            #expect(latest.header("X-OpenStack-Nova-API-Version") == "2.104")

            let tooNew = try await harness.get(url, microversion: "compute 2.105")
            #expect(tooNew.status == 406)
            #expect(
                tooNew.json[path: "computeFault", "message"]
                    == "Version 2.105 is not supported by the API. Minimum is 2.1 and maximum is 2.104.")
        }
    }
}
