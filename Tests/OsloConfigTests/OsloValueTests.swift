import OsloConfig
import Testing

@Suite("Typed values")
struct OsloValueTests {
    @Test(arguments: [
        ("true", true), ("TRUE", true), ("True", true), ("yes", true), ("Yes", true), ("on", true), ("ON", true),
        ("1", true), ("false", false), ("False", false), ("no", false), ("NO", false), ("off", false),
        ("0", false),
    ])
    func booleansAsOslo(text: String, value: Bool) throws {
        #expect(try OsloValue.boolean(text) == value)
    }

    @Test(arguments: ["", "y", "n", "2", "enabled", "t", " true"])
    func notBooleans(text: String) {
        #expect(throws: InvalidValue("expected a boolean: true/false, yes/no, on/off or 1/0")) {
            try OsloValue.boolean(text)
        }
    }

    @Test(arguments: [("0", 0), ("42", 42), ("-7", -7), ("+5", 5), (" 12 ", 12), ("1_000", 1000), ("007", 7)])
    func integersAsPython(text: String, value: Int) throws {
        #expect(try OsloValue.integer(text) == value)
    }

    @Test(arguments: ["1.0", "0x10", "1e3", "ten", "1__0", "_1", "1_", "- 1", "99999999999999999999"])
    func notIntegers(text: String) {
        #expect(throws: InvalidValue("expected an integer")) { try OsloValue.integer(text) }
    }

    @Test func integerBoundsAreInclusive() throws {
        #expect(try OsloValue.integer("0", min: 0, max: 10) == 0)
        #expect(try OsloValue.integer("10", min: 0, max: 10) == 10)
        #expect(throws: InvalidValue("must be at least 0")) { try OsloValue.integer("-1", min: 0) }
        #expect(throws: InvalidValue("must be at most 10")) { try OsloValue.integer("11", max: 10) }
        #expect(throws: InvalidValue("expected an integer, found an empty value (remove the line to get the default)")) {
            try OsloValue.integer("  ")
        }
    }

    @Test func floats() throws {
        #expect(try OsloValue.float("1.5") == 1.5)
        #expect(try OsloValue.float("2e3") == 2000)
        #expect(try OsloValue.float(" 3 ") == 3)
        #expect(try OsloValue.float("1_000.5") == 1000.5)
        #expect(throws: InvalidValue("expected a number")) { try OsloValue.float("inf") }
        #expect(throws: InvalidValue("expected a number")) { try OsloValue.float("nan") }
        #expect(throws: InvalidValue("expected a number")) { try OsloValue.float("0x1p3") }
        #expect(throws: InvalidValue("must be at most 4.5")) { try OsloValue.float("5", min: 0, max: 4.5) }
        #expect(throws: InvalidValue("must be at least 0")) { try OsloValue.float("-0.1", min: 0, max: 4.5) }
        #expect(try OsloValue.fractionalSeconds("1.5") == .milliseconds(1500))
        #expect(try OsloValue.seconds("60") == .seconds(60))
    }

    @Test(arguments: [
        ("30", Duration.seconds(30)),
        ("30s", .seconds(30)),
        ("30 s", .seconds(30)),
        ("250ms", .milliseconds(250)),
        ("5m", .seconds(300)),
        ("1h", .seconds(3600)),
        ("1.5s", .milliseconds(1500)),
        ("0.5m", .seconds(30)),
        ("0", .zero),
        (" 2H ", .seconds(7200)),
    ])
    func durations(text: String, value: Duration) throws {
        #expect(try OsloValue.duration(text) == value)
    }

    @Test(arguments: ["", "s", "5x", "5 minutes", "-5s", "1.s", ".5s", "1.2.3s", "1e3s", "five"])
    func notDurations(text: String) {
        #expect(throws: InvalidValue("expected a duration such as 30 (seconds), 30s, 250ms, 5m or 1h")) {
            try OsloValue.duration(text)
        }
    }

    @Test func durationMinimum() {
        #expect(throws: InvalidValue("must be at least 1ms")) {
            try OsloValue.duration("0", min: .milliseconds(1))
        }
    }

    @Test(arguments: [
        ("", [String]()),
        ("  ", []),
        ("a", ["a"]),
        ("a,b", ["a", "b"]),
        (" a , b ,c ", ["a", "b", "c"]),
        ("a,b,", ["a", "b"]),
        ("a,,b", ["a", "", "b"]),
        ("ls,\ncat", ["ls", "cat"]),
        ("\"a,b\"", ["\"a", "b\""]),
    ])
    func listsAsOsloListOpt(text: String, value: [String]) {
        #expect(OsloValue.list(text) == value)
    }

    @Test func choices() throws {
        #expect(try OsloValue.choice("admin", in: ["public", "admin", "internal"]) == "admin")
        #expect(throws: InvalidValue("expected one of: public, admin, internal")) {
            try OsloValue.choice("Admin", in: ["public", "admin", "internal"])
        }
        #expect(try OsloValue.choice("JSON", in: ["human", "json"], ignoreCase: true) == "json")
    }

    @Test func urls() throws {
        #expect(try OsloValue.url("rabbit://u:p@h1:5672,u:p@h2:5672/vhost") == "rabbit://u:p@h1:5672,u:p@h2:5672/vhost")
        #expect(try OsloValue.url("postgresql+psycopg2://m:p@db/mistral") == "postgresql+psycopg2://m:p@db/mistral")
        #expect(try OsloValue.url("rabbit://") == "rabbit://")
        #expect(throws: InvalidValue("expected a URL of the form scheme://...")) { try OsloValue.url("localhost:5672") }
        #expect(throws: InvalidValue.self) { try OsloValue.url("1abc://x") }
        #expect(throws: InvalidValue.self) { try OsloValue.url("://x") }
    }

    @Test(arguments: [
        ("0.0.0.0", "0.0.0.0"), ("my-host", "my-host"), ("host.example.org.", "host.example.org"),
        ("::1", "::1"), ("fe80::1:2", "fe80::1:2"), ("::ffff:10.0.0.1", "::ffff:10.0.0.1"),
        ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"),
    ])
    func hostAddresses(text: String, value: String) throws {
        #expect(try OsloValue.hostAddress(text) == value)
    }

    @Test(arguments: ["my_host", "-bad", "a b", "", "1.2.3", "999.1.1.1", "vm:mistral", "1:::2", "1:2:3:4:5:6:7:8:9"])
    func notHostAddresses(text: String) {
        #expect(throws: InvalidValue("expected an IP address or a host name")) { try OsloValue.hostAddress(text) }
    }

    @Test func listenAddresses() throws {
        #expect(try OsloValue.listenAddress("127.0.0.1:9469") == ListenAddress(host: "127.0.0.1", port: 9469))
        #expect(try OsloValue.listenAddress("localhost:80") == ListenAddress(host: "localhost", port: 80))
        #expect(try OsloValue.listenAddress("[::1]:9469") == ListenAddress(host: "::1", port: 9469))
        #expect(try OsloValue.listenAddress("[::1]:9469")?.description == "[::1]:9469")
        #expect(try OsloValue.listenAddress("") == nil)
        #expect(try OsloValue.listenAddress("off") == nil)
        #expect(try OsloValue.listenAddress(" OFF ") == nil)
        for bad in ["9469", ":9469", "::1:9469", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:x", "[::1]9469", "a b:1"] {
            #expect(throws: InvalidValue.self, "\(bad)") { try OsloValue.listenAddress(bad) }
        }
    }
}
