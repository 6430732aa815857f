@testable import AMQPClient
import Testing

@Suite("Transport URL parsing")
struct TransportURLTests {
    @Test func singleHostWithCredentialsAndVirtualHost() throws {
        let url = try AMQPTransportURL("rabbit://user:secret@broker.example:5673/production")
        #expect(url.scheme == "rabbit")
        #expect(!url.usesTLS)
        #expect(url.virtualHost == "production")
        #expect(url.endpoints == [
            AMQPEndpoint(host: "broker.example", port: 5673, user: "user", password: "secret", virtualHost: "production"),
        ])
    }

    @Test func severalHostsAreTriedInOrderWithTheirOwnCredentials() throws {
        let url = try AMQPTransportURL("rabbit://u:p@h1:5672,u2:p2@h2:5673/vh")
        #expect(url.endpoints.map(\.host) == ["h1", "h2"])
        #expect(url.endpoints.map(\.port) == [5672, 5673])
        #expect(url.endpoints.map(\.user) == ["u", "u2"])
        #expect(url.endpoints.map(\.password) == ["p", "p2"])
        #expect(url.endpoints.allSatisfy { $0.virtualHost == "vh" })
    }

    @Test func defaults() throws {
        let plain = try AMQPTransportURL("rabbit://h")
        #expect(plain.endpoints == [AMQPEndpoint(host: "h", port: 5672, user: "guest", password: "guest", virtualHost: "/")])
        let secure = try AMQPTransportURL("amqps://h/")
        #expect(secure.usesTLS)
        #expect(secure.endpoints.first?.port == 5671)
        #expect(try AMQPTransportURL("AMQP://h").endpoints.first?.port == 5672)
    }

    @Test(arguments: [
        ("rabbit://h", "/"),
        ("rabbit://h/", "/"),
        ("rabbit://h/%2F", "/"),
        ("rabbit://h/%2f", "/"),
        ("rabbit://h/vh", "vh"),
        ("rabbit://h/my%20vhost", "my vhost"),
        ("rabbit://h/a%2Fb", "a/b"),
        ("rabbit://h/vh?ssl=1&heartbeat=30", "vh"),
    ])
    func virtualHostForms(url: String, virtualHost: String) throws {
        #expect(try AMQPTransportURL(url).virtualHost == virtualHost)
    }

    @Test func percentEscapedCredentials() throws {
        let url = try AMQPTransportURL("rabbit://ma%20user:p%40ss%3Aw%2Frd%25@127.0.0.1:35672/")
        #expect(url.endpoints.first?.user == "ma user")
        #expect(url.endpoints.first?.password == "p@ss:w/rd%")
    }

    @Test func credentialsEndAtTheLastAtAndPasswordsMayHoldColons() throws {
        let url = try AMQPTransportURL("rabbit://user:pa:ss@wo@rd@host")
        #expect(url.endpoints.first?.user == "user")
        #expect(url.endpoints.first?.password == "pa:ss@wo@rd")
        #expect(url.endpoints.first?.host == "host")
    }

    @Test func ipv6Hosts() throws {
        let url = try AMQPTransportURL("amqp://guest:guest@[::1]:5673,[fe80::1]/")
        #expect(url.endpoints.map(\.host) == ["::1", "fe80::1"])
        #expect(url.endpoints.map(\.port) == [5673, 5672])
    }

    @Test func queryOptionsAreKeptButIgnored() throws {
        let url = try AMQPTransportURL("rabbit://h:1/v?ssl=1&name=a%20b")
        #expect(url.options == ["ssl": "1", "name": "a b"])
        #expect(url.endpoints.first?.port == 1)
    }

    @Test(arguments: [
        ("broker:5672", "missing scheme"),
        ("http://h/", "unsupported scheme 'http'"),
        ("rabbit://", "no host"),
        ("rabbit:///vh", "no host"),
        ("rabbit://h1,,h2/", "host 2 is empty"),
        ("rabbit://u:p@:5672/", "missing host name"),
        ("rabbit://h:0/", "invalid port '0'"),
        ("rabbit://h:65536/", "invalid port '65536'"),
        ("rabbit://h:abc/", "invalid port 'abc'"),
        ("rabbit://h:/", "invalid port ''"),
        ("rabbit://u:p%zz@h/", "invalid percent escape in the password of the host"),
        ("rabbit://u%4:p@h/", "invalid percent escape in the user name of the host"),
        ("rabbit://h/%", "invalid percent escape in the virtual host"),
        ("rabbit://[::1/", "unterminated '['"),
    ])
    func badURLsSayWhatIsWrong(url: String, expected: String) {
        let error = #expect(throws: AMQPError.self) { try AMQPTransportURL(url) }
        #expect(error?.code == .invalidURL)
        #expect(error?.description.contains(expected) == true, "\(String(describing: error))")
    }

    @Test func errorsNeverShowThePassword() {
        let error = #expect(throws: AMQPError.self) { try AMQPTransportURL("rabbit://user:TopSecret%zz@h:99999/") }
        #expect(error?.description.contains("TopSecret") == false)
    }

    @Test func endpointDescriptionAndMirrorHaveNoPassword() throws {
        let endpoint = AMQPEndpoint(host: "h", port: 5672, user: "ma user", password: "p@ss", virtualHost: "/")
        #expect(endpoint.description == "amqp://ma%20user@h:5672/%2F")
        #expect(!endpoint.description.contains("p@ss"))
        var dumped = ""
        dump(endpoint, to: &dumped)
        #expect(!dumped.contains("p@ss"))
        let configuration = try AMQPConfiguration(transportURL: "rabbit://u:TopSecret@h1,u:TopSecret@h2/")
        #expect(!"\(configuration)".contains("TopSecret"))
        #expect(!String(reflecting: configuration).contains("TopSecret"))
    }

    @Test func configurationFromURL() throws {
        let configuration = try AMQPConfiguration(transportURL: "amqps://u:p@h/vh", connectionName: "worker")
        #expect(configuration.tls == AMQPConfiguration.TLS())
        #expect(configuration.endpoints.count == 1)
        #expect(configuration.heartbeatSeconds == 60)
        #expect(configuration.connectionName == "worker")
        #expect(configuration.reconnectBackoff == .init(initial: .seconds(1), maximum: .seconds(30), multiplier: 2, jitter: 0.25))
        #expect(try AMQPConfiguration(transportURL: "rabbit://h").tls == nil)
    }
}

@Suite("Field tables")
struct FieldTableTests {
    static let everyType: AMQPFieldTable = [
        "bool": .boolean(true),
        "false": false,
        "i8": .int8(-8),
        "u8": .uint8(200),
        "i16": .int16(-16_000),
        "u16": .uint16(60_000),
        "i32": .int32(-2_000_000_000),
        "u32": .uint32(4_000_000_000),
        "i64": .int64(-9_000_000_000_000),
        "u64": .uint64(18_000_000_000_000_000_000),
        "float": .float(1.5),
        "double": 2.25,
        "decimal": .decimal(AMQPDecimal(scale: 2, value: 31_415)),
        "string": "héllo wörld",
        "empty": "",
        "bytes": .bytes([0, 1, 2, 254, 255]),
        "timestamp": .timestamp(1_700_000_000),
        "table": ["nested": ["deeper": 1], "x-expires": 1_800_000],
        "array": [1, "two", .boolean(false), [.int8(3)], ["k": "v"]],
        "emptyArray": .array([]),
        "emptyTable": .table([:]),
        "void": .void,
    ]

    @Test func everyTypeSurvivesTheTripThroughLibrabbitmq() throws {
        let result = try Self.everyType.roundTripThroughLibrabbitmq()
        #expect(result == Self.everyType)
        #expect(result.map(\.key) == Self.everyType.map(\.key), "order is kept")
    }

    @Test func emptyTable() throws {
        #expect(try AMQPFieldTable().roundTripThroughLibrabbitmq() == AMQPFieldTable())
    }

    @Test func subscriptReplacesAppendsAndRemoves() {
        var table: AMQPFieldTable = ["a": 1, "b": 2]
        table["a"] = "one"
        table["c"] = true
        table["b"] = nil
        #expect(table == ["a": "one", "c": true])
        #expect(table["missing"] == nil)
        #expect(table["a"]?.stringValue == "one")
        #expect(AMQPFieldValue.uint16(7).integerValue == 7)
    }
}

@Suite("Errors")
struct ErrorDescriptionTests {
    @Test func channelCloseIsOneReadableLine() {
        let error = AMQPError(
            code: .channelClosedByServer,
            message: "declaring queue 'jobs'",
            serverReply: .init(
                scope: .channel, replyCode: 406,
                replyText: "PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'jobs' in vhost '/': received 'true' but current is 'false'",
                classID: 50, methodID: 10
            ),
            endpoint: AMQPEndpoint(host: "127.0.0.1", port: 5672, user: "guest", password: "secret", virtualHost: "/").description
        )
        #expect(error.description == """
            channel closed by server: declaring queue 'jobs': 406 PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'jobs' in vhost '/': received 'true' but current is 'false' (queue.declare) [amqp://guest@127.0.0.1:5672/%2F]
            """)
        #expect(error.replyCode == 406)
        #expect(!error.description.contains("\n"))
        #expect(!error.description.contains("secret"))
    }

    @Test func libraryErrorAndCause() {
        let cause = AMQPError(code: .authenticationFailed, message: "logging in as 'guest'", serverReply: .init(
            scope: .connection, replyCode: 403, replyText: "ACCESS_REFUSED - Login was refused", classID: 0, methodID: 0
        ))
        let error = AMQPError(
            code: .notConnected, message: "no connection within 5 s", libraryStatus: -9,
            libraryMessage: "a socket error occurred", underlying: cause
        )
        #expect(error.description == "not connected: no connection within 5 s: a socket error occurred; caused by: authentication failed: logging in as 'guest': 403 ACCESS_REFUSED - Login was refused")
    }

    @Test func unknownMethodIsShownByNumber() {
        let reply = AMQPError.ServerReply(scope: .channel, replyCode: 404, replyText: "NOT_FOUND", classID: 99, methodID: 7)
        #expect(reply.description == "404 NOT_FOUND (class 99, method 7)")
    }
}

@Suite("Confirm window")
struct ConfirmWindowTests {
    @Test func singleAndMultipleConfirmsInAnyOrder() {
        var window = ConfirmWindow<Int>()
        for value in 1...6 {
            #expect(window.append(value * 10) == UInt64(value))
        }
        var resolved: [Int] = []
        #expect(window.resolve(sequence: 3, multiple: false) { resolved.append($0) } == 1)
        #expect(window.resolve(sequence: 3, multiple: false) { resolved.append($0) } == 0, "a confirm counts once")
        #expect(window.resolve(sequence: 4, multiple: true) { resolved.append($0) } == 3)
        #expect(resolved == [30, 10, 20, 40])
        #expect(window.firstSequence == 5)
        #expect(window.modify(sequence: 6) { $0 += 1 })
        #expect(!window.modify(sequence: 2) { $0 += 1 })
        #expect(window.resolve(sequence: 100, multiple: true) { resolved.append($0) } == 2)
        #expect(resolved.suffix(2) == [50, 61])
        #expect(window.isEmpty)
        #expect(window.nextSequence == 7)
    }

    @Test func removeAllRestartsNumbering() {
        var window = ConfirmWindow<String>()
        window.append("a")
        window.append("b")
        var removed: [String] = []
        window.removeAll { removed.append($0) }
        #expect(removed == ["a", "b"])
        #expect(window.append("c") == 1)
    }

    @Test func longRunsStayCompact() {
        var window = ConfirmWindow<Int>()
        var total = 0
        for value in 1...10_000 {
            window.append(value)
            if value.isMultiple(of: 7) {
                total += window.resolve(sequence: UInt64(value), multiple: true) { _ in }
            }
        }
        total += window.resolve(sequence: 10_000, multiple: true) { _ in }
        #expect(total == 10_000)
        #expect(window.isEmpty)
    }
}

@Suite("Reconnect backoff")
struct ReconnectScheduleTests {
    /// A deterministic generator (SplitMix64).
    struct SeededRandom: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var value = state
            value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
            value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
            return value ^ (value >> 31)
        }
    }

    @Test func growsToTheMaximumAndResets() {
        var schedule = ReconnectSchedule(settings: .init(initial: .seconds(1), maximum: .seconds(30), multiplier: 2, jitter: 0))
        var random = SeededRandom(state: 1)
        let delays = (0..<7).map { _ in schedule.nextDelay(using: &random) }
        #expect(delays == [.seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(16), .seconds(30), .seconds(30)])
        schedule.reset()
        #expect(schedule.nextDelay(using: &random) == .seconds(1))
    }

    @Test("an absurd maximum from the configuration never overflows the delay")
    func absurdMaximum() {
        var schedule = ReconnectSchedule(settings: .init(initial: .seconds(Int64.max / 2), maximum: .seconds(Int64.max), multiplier: 1e300, jitter: 0))
        var random = SeededRandom(state: 7)
        for _ in 0..<5 {
            let delay = schedule.nextDelay(using: &random)
            #expect(delay > .zero && delay <= .seconds(9_000_000_000))
        }
    }

    @Test func jitterOnlyShortens() {
        var schedule = ReconnectSchedule(settings: .init(initial: .seconds(10), maximum: .seconds(10), multiplier: 2, jitter: 0.5))
        var random = SeededRandom(state: 42)
        for _ in 0..<1_000 {
            let delay = schedule.nextDelay(using: &random)
            #expect(delay >= .seconds(5) && delay <= .seconds(10))
        }
    }
}

@Suite("Topology record")
struct TopologyRecordTests {
    @Test func deletionsForgetDependentsAndRenamesFollow() {
        var record = TopologyRecord()
        record.record(ExchangeDeclaration(name: "x", type: .topic, durable: false, autoDelete: false, internal: false, arguments: [:]))
        record.record(QueueDeclaration(name: "q1", durable: false, exclusive: false, autoDelete: false, arguments: [:]))
        record.record(QueueDeclaration(name: "q1", durable: false, exclusive: false, autoDelete: false, arguments: ["x-expires": 5]))
        record.record(QueueDeclaration(name: "amq.gen-1", durable: false, exclusive: true, autoDelete: true, arguments: [:], serverNamed: true))
        let binding = QueueBinding(queue: "q1", exchange: "x", routingKey: "k", arguments: [:])
        record.record(binding)
        record.record(binding)
        record.record(QueueBinding(queue: "amq.gen-1", exchange: "x", routingKey: "k2", arguments: [:]))
        #expect(record.queues.count == 2)
        #expect(record.queues.first?.arguments == ["x-expires": 5])
        #expect(record.bindings.count == 2)

        record.renameQueue(from: "amq.gen-1", to: "amq.gen-2")
        #expect(record.bindings.last?.queue == "amq.gen-2")

        record.removeQueue(named: "q1")
        #expect(record.bindings.map(\.queue) == ["amq.gen-2"])
        record.removeExchange(named: "x")
        #expect(record.bindings.isEmpty)
        #expect(record.exchanges.isEmpty)
    }
}
