import ArgumentParser
import Dispatch
import Foundation
import Logging
import OpenStackSimulator
import OrderedJSON

/// `openstack-simulator`: runs the OpenStack API simulator until SIGINT or SIGTERM.
@main
struct SimulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "openstack-simulator",
        abstract: "Simulates Keystone v3, Cinder v3, Nova v2.1, Glance v2 and Trove v1.0 over HTTP.",
        discussion: """
            Keystone answers at <base>/identity (the auth URL). The catalog points every service at \
            <base>/<RegionOne|RegionTwo>/<public|internal|admin>/<service>, all backed by one cloud. \
            Credentials: admin / secret (domain Default, project demo) and the service user \
            mistral / mistral-secret (project service).

            The control API under <base>/_simulator/ needs no token: GET health, GET state, \
            POST reset, POST seed, GET|PUT|DELETE faults, GET|DELETE requests, POST tokens, \
            POST tokens/expire, GET|PUT settings, POST clock/advance.
            """)

    @Option(help: ArgumentHelp("The address to listen on.", valueName: "host:port"))
    var listen = "127.0.0.1:28500"

    @Option(
        name: .customLong("public-url"),
        help: ArgumentHelp(
            "The base URL clients see in the catalog and links (default: http://<listen address>).", valueName: "url"))
    var publicURL: String?

    @Option(help: ArgumentHelp("A JSON file of extra resources, loaded after the default seed and on every reset.", valueName: "file"))
    var seed: String?

    @Flag(name: .customLong("no-default-seed"), help: "Start without the demo volume, servers, images and database instance.")
    var noDefaultSeed = false

    @Option(help: ArgumentHelp("Seconds every state transition takes (backups, snapshots, server actions, images).", valueName: "seconds"))
    var delay: Double = 1

    @Option(name: .customLong("token-ttl"), help: ArgumentHelp("Lifetime of issued tokens.", valueName: "seconds"))
    var tokenTTL: Double = 3600

    @Option(
        name: .customLong("log-level"),
        help: ArgumentHelp("trace, debug, info (one line per request), notice, warning, error or critical.", valueName: "level"))
    var logLevel = "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown log level '\(logLevel)'") }
        guard delay >= 0 else { throw ValidationError("--delay must not be negative") }
        guard tokenTTL > 0 else { throw ValidationError("--token-ttl must be positive") }
        _ = try listenAddress()
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "openstack-simulator")
        let (host, port) = try listenAddress()
        var extraSeed: JSON?
        if let seed {
            let text: String
            do {
                text = try String(contentsOfFile: seed, encoding: .utf8)
            } catch {
                throw ValidationError("cannot read seed file \(seed): \(error.localizedDescription)")
            }
            do {
                extraSeed = try JSON(parsing: text)
            } catch {
                throw ValidationError("seed file \(seed) is not valid JSON: \(error)")
            }
        }
        let simulator = try await OpenStackSimulator.start(
            SimulatorConfiguration(
                host: host, port: port, publicURL: publicURL, loadDefaultSeed: !noDefaultSeed, seed: extraSeed,
                settings: SimulatorSettings(delays: .init(all: delay), tokenTTL: tokenTTL), logger: logger))
        // Unbuffered, so that a script waiting for this line sees it at once.
        let banner = "OpenStack simulator at \(simulator.baseURL) (auth URL \(simulator.authURL))\n"
        FileHandle.standardOutput.write(Data(banner.utf8))
        let received = await Self.terminationSignal()
        logger.info("stopping", metadata: ["signal": "\(received)"])
        await simulator.shutdown()
    }

    private func listenAddress() throws -> (String, Int) {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
            (0...65535).contains(port)
        else { throw ValidationError("--listen must be host:port, got '\(listen)'") }
        var host = String(listen[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }

    /// Waits for the first SIGINT or SIGTERM (both are ignored by default handling from then on).
    private static func terminationSignal() async -> Int32 {
        let signals = AsyncStream<Int32> { continuation in
            let queue = DispatchQueue(label: "openstack-simulator.signals")
            let sources = SignalSources()
            for number in [SIGINT, SIGTERM] {
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
                source.setEventHandler { continuation.yield(number) }
                source.resume()
                sources.keep(source)
            }
            continuation.onTermination = { _ in sources.cancelAll() }
        }
        for await number in signals {
            return number
        }
        return SIGTERM
    }
}

/// Keeps the signal sources alive while the stream is waited on.
private final class SignalSources: @unchecked Sendable {
    // Unchecked because DispatchSourceSignal is not Sendable; the lock guards every access.
    private var sources: [any DispatchSourceSignal] = []
    private let lock = NSLock()

    func keep(_ source: any DispatchSourceSignal) {
        lock.withLock { sources.append(source) }
    }

    func cancelAll() {
        lock.withLock {
            sources.forEach { $0.cancel() }
            sources = []
        }
    }
}
