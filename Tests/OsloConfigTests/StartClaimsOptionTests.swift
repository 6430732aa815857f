import OsloConfig
import Testing

@Suite("[mistral_actions] start_claims options")
struct StartClaimsOptionTests {
    @Test func defaults() throws {
        let own = try Configuration.load(files: []).configuration.mistralActions
        #expect(own.startClaims == true)
        #expect(own.startClaimsRetention == .seconds(7 * 24 * 3600))
        #expect(Configuration().mistralActions.startClaimsRetention == own.startClaimsRetention)
    }

    @Test func setInAFile() throws {
        let files = ConfigFiles([
            try IniFile.parse("[mistral_actions]\nstart_claims = false\nstart_claims_retention = 36h\n", path: "/a.conf")
        ])
        let own = try Configuration.load(from: files).configuration.mistralActions
        #expect(own.startClaims == false)
        #expect(own.startClaimsRetention == .seconds(36 * 3600))
    }

    @Test(arguments: ["30m", "0", "-1h", "400h0", "9999h", "1e300"])
    func refusedRetention(_ value: String) {
        #expect(throws: ConfigError.self) {
            try Configuration.load(files: [], overrides: [ConfigOverride(section: "mistral_actions", key: "start_claims_retention", value: value, origin: "--set")])
        }
    }
}
