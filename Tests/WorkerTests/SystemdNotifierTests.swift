import Foundation
import Logging
import MistralActionsTestSupport
import OrderedJSON
import ServiceLifecycle
import Synchronization
import Testing
@testable import Worker

#if canImport(Glibc)
    import Glibc
#endif

/// A real AF_UNIX datagram socket standing in for systemd's notify socket:
/// it records every datagram; tests wait on what arrives (no sleeping).
final class NotifySocket: Sendable {
    /// The path, or `@name` for an abstract socket.
    let address: String
    private let fd: Int32
    private let received = Mutex<[String]>([])
    private let arrivals = AsyncCounter()
    private let stopped = Mutex(false)
    private let done = Signal()

    init(abstract: Bool = false) throws {
        let name = "ma-notify-\(UUID().uuidString.prefix(12))"
        address = abstract ? "@\(name)" : FileManager.default.temporaryDirectory.appendingPathComponent("\(name).sock").path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: errno \(errno)") }
        var local = sockaddr_un()
        local.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(address.utf8)
        if abstract { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &local.sun_path) { path in
            for (index, byte) in bytes.enumerated() { path[index] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
        let bound = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, length) }
        }
        guard bound == 0 else { throw TestFailure("bind \(address): errno \(errno)") }
        // recv wakes every 100 ms to see whether the test is over.
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let thread = Thread { [self] in readLoop() }
        thread.start()
    }

    private func readLoop() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !stopped.withLock({ $0 }) {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { continue }
            let message = String(decoding: buffer[0..<count], as: UTF8.self)
            received.withLock { $0.append(message) }
            arrivals.increment()
        }
        done.raise()
    }

    var messages: [String] { received.withLock { $0 } }

    /// Every `KEY=value` line received, in order.
    var lines: [String] { messages.flatMap { $0.split(separator: "\n").map(String.init) } }

    func waitFor(_ what: String, _ condition: @escaping @Sendable ([String]) -> Bool) async throws {
        try await arrivals.waitUntil(what, limit: .seconds(60)) { [self] in condition(lines) }
    }

    func close() async {
        stopped.withLock { $0 = true }
        try? await done.wait(limit: .seconds(10), "the notify socket's reader to stop")
        Glibc.close(fd)
        if !address.hasPrefix("@") { unlink(address) }
    }
}

@Suite("sd_notify without libsystemd")
struct SystemdNotifierTests {
    @Test("messages reach a real AF_UNIX datagram socket, by path and abstract name")
    func sendsDatagrams() async throws {
        for abstract in [false, true] {
            let socket = try NotifySocket(abstract: abstract)
            let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.address], processID: 1)
            #expect(notifier.isEnabled)
            #expect(notifier.send("READY=1\nSTATUS=up"))
            #expect(notifier.status("two\nlines"))
            try await socket.waitFor("two datagrams") { $0.count >= 3 }
            #expect(socket.messages == ["READY=1\nSTATUS=up", "STATUS=two lines"])
            await socket.close()
        }
    }

    @Test("without NOTIFY_SOCKET (or with one that cannot be a socket address) nothing is sent")
    func disabled() {
        for environment in [[:], ["NOTIFY_SOCKET": ""], ["NOTIFY_SOCKET": "relative/path"],
                            ["NOTIFY_SOCKET": "/" + String(repeating: "x", count: 200)]] {
            let notifier = SystemdNotifier(environment: environment, processID: 1)
            #expect(!notifier.isEnabled, "\(environment)")
            #expect(!notifier.send("READY=1"))
            #expect(notifier.watchdogInterval == nil)
        }
    }

    @Test("the watchdog: half of WATCHDOG_USEC, only for our process id and a sane value")
    func watchdog() {
        func interval(_ environment: [String: String]) -> Duration? {
            SystemdNotifier(environment: ["NOTIFY_SOCKET": "/run/x"].merging(environment) { $1 }, processID: 42)
                .watchdogInterval
        }
        #expect(interval(["WATCHDOG_USEC": "30000000"]) == .seconds(15))
        #expect(interval(["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"]) == .seconds(15))
        #expect(interval(["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "43"]) == nil)
        for bad in ["0", "-5", "1e300", "NaN", "", "99999999999999999999999"] {
            #expect(interval(["WATCHDOG_USEC": bad]) == nil, "\(bad)")
        }
        #expect(interval([:]) == nil)
    }

    @Test("status: READY=1 once on consuming, STOPPING=1 once on draining, phases never go back")
    func statusPhases() async throws {
        let socket = try NotifySocket()
        let status = WorkerStatus(notifier: SystemdNotifier(socketPath: socket.address))
        status.enter(.registering)
        status.enter(.waitingForBroker, detail: "connection refused")
        #expect(status.readiness == .notReady(reason: "waiting for RabbitMQ: connection refused"))
        status.slots(running: 0, capacity: 3)
        status.enter(.consuming)
        #expect(status.readiness == .ready)
        status.enter(.registering)
        #expect(status.phase == .consuming)
        status.slots(running: 2, capacity: 3)
        status.refresh(watchdog: true)
        status.enter(.draining)
        status.enter(.stopped)
        try await socket.waitFor("STOPPING and stopped") { $0.contains("STATUS=stopped") }
        let lines = socket.lines
        #expect(lines.filter { $0 == "READY=1" }.count == 1)
        #expect(lines.filter { $0 == "STOPPING=1" }.count == 1)
        #expect(lines.contains("STATUS=consuming: 2 of 3 action slots busy"))
        #expect(lines.contains("WATCHDOG=1"))
        let ready = try #require(lines.firstIndex(of: "READY=1"))
        let stopping = try #require(lines.firstIndex(of: "STOPPING=1"))
        #expect(ready < stopping)
        #expect(lines.first == "STATUS=registering the actions in Mistral's database", "\(lines)")
        await socket.close()
    }
}

@Suite("A worker tells systemd", .timeLimit(.minutes(2)))
struct WorkerNotifyTests {
    @Test("READY=1 after it consumes, WATCHDOG=1 from its loop, STOPPING=1 on graceful shutdown")
    func readyAndStopping() async throws {
        let socket = try NotifySocket()
        let notifier = SystemdNotifier(socketPath: socket.address, watchdogInterval: .milliseconds(50))
        let harness = WorkerHarness(concurrency: 2, status: WorkerStatus(notifier: notifier))
        let group = ServiceGroup(services: [harness.worker], logger: Logger(label: "group"))
        async let running: Void = group.run()
        try await socket.waitFor("READY=1") { $0.contains("READY=1") }
        // READY=1 came after the worker consumed.
        #expect(harness.transport.events.contains(.startedConsuming(capacity: 2)))
        try harness.transport.deliver(WorkerHarness.runAction("debug.echo", input: ["output": "x"], executionID: "N1"))
        await harness.waitForResult("N1")
        try await socket.waitFor("WATCHDOG=1") { $0.contains("WATCHDOG=1") }
        #expect(!socket.lines.contains("STOPPING=1"))
        await group.triggerGracefulShutdown()
        try await running
        try await socket.waitFor("STOPPING=1") { $0.contains("STOPPING=1") }
        let lines = socket.lines
        let ready = try #require(lines.firstIndex(of: "READY=1"))
        let stopping = try #require(lines.firstIndex(of: "STOPPING=1"))
        #expect(ready < stopping)
        #expect(lines.filter { $0 == "READY=1" }.count == 1)
        #expect(lines.contains("STATUS=consuming: 0 of 2 action slots busy"), "\(lines)")
        #expect(harness.worker.status.phase == .stopped)
        await socket.close()
    }
}
