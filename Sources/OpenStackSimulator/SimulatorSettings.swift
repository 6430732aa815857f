import Logging
import OrderedJSON

/// The knobs tests turn at run time: how long transitions take, which operations fail,
/// how long tokens live.
public struct SimulatorSettings: Sendable, Hashable {
    /// Seconds each asynchronous transition takes. Tests set them near 0; the demo keeps ~1 s
    /// so that a human can watch `creating` turn into `available`.
    public struct Delays: Sendable, Hashable {
        /// Cinder backup `creating` → `available`/`error` (the volume is `backing-up` meanwhile).
        public var volumeBackup: Double
        /// Cinder snapshot `creating` → `available` and `deleting` → gone.
        public var snapshot: Double
        /// Cinder backup `deleting` → gone.
        public var backupDelete: Double
        /// Nova os-stop/os-start/createImage task states → done.
        public var serverAction: Double
        /// Glance snapshot image `queued` → `saving` → `active`.
        public var image: Double
        /// Trove backup `NEW` → `BUILDING` → `COMPLETED`/`FAILED`.
        public var troveBackup: Double

        /// Every delay set to `seconds`.
        public init(all seconds: Double) {
            volumeBackup = seconds
            snapshot = seconds
            backupDelete = seconds
            serverAction = seconds
            image = seconds
            troveBackup = seconds
        }
    }

    /// Forced failures: how many of the next operations of each kind end in error.
    public struct Failures: Sendable, Hashable {
        /// Cinder backups end `error` with a `fail_reason`.
        public var volumeBackup: Int = 0
        /// Trove backups end `FAILED`.
        public var troveBackup: Int = 0
        /// Cinder snapshots end `error`.
        public var snapshot: Int = 0

        /// How many of the next backups, database backups and snapshots fail.
        public init(volumeBackup: Int = 0, troveBackup: Int = 0, snapshot: Int = 0) {
            self.volumeBackup = volumeBackup
            self.troveBackup = troveBackup
            self.snapshot = snapshot
        }
    }

    /// How long resources stay in transient statuses.
    public var delays: Delays
    /// Failures to come.
    public var failures: Failures
    /// Lifetime of newly issued tokens, in seconds (`token_ttl`). Tokens issued before a change
    /// keep their expiry. Tests make tokens expire mid-run with a short lifetime plus
    /// ``OpenStackSimulator/advanceClock(by:)`` (`POST /_simulator/clock/advance`), or all at once
    /// with ``OpenStackSimulator/expireTokens()`` (`POST /_simulator/tokens/expire`).
    public var tokenTTL: Double

    /// The longest `token_ttl` the control API takes.
    public static let maximumTokenTTL: Double = 315_360_000

    /// Defaults: 1 s transitions, no failures, one-hour tokens.
    public init(delays: Delays = Delays(all: 1), failures: Failures = Failures(), tokenTTL: Double = 3600) {
        self.delays = delays
        self.failures = failures
        self.tokenTTL = tokenTTL
    }

    /// The settings in the control API's JSON form.
    public var json: JSON {
        [
            "delays": [
                "volume_backup": .double(delays.volumeBackup),
                "snapshot": .double(delays.snapshot),
                "backup_delete": .double(delays.backupDelete),
                "server_action": .double(delays.serverAction),
                "image": .double(delays.image),
                "trove_backup": .double(delays.troveBackup),
            ],
            "failures": [
                "volume_backup": .integer(Int64(failures.volumeBackup)),
                "trove_backup": .integer(Int64(failures.troveBackup)),
                "snapshot": .integer(Int64(failures.snapshot)),
            ],
            "token_ttl": .double(tokenTTL),
        ]
    }

    /// Applies the keys present in `json` (a partial update, as `PUT /_simulator/settings`
    /// takes it): `delays.<kind>` or `delay` (all kinds), `failures.<kind>` (a count or
    /// `true` for one), `fail_next_backup`, `fail_next_trove_backup`, `token_ttl`.
    public mutating func apply(_ json: JSON) throws(SimulatorError) {
        guard let object = json.objectValue else { throw SimulatorError("settings must be an object") }
        for (key, value) in object {
            switch key {
            case "delay":
                delays = Delays(all: try seconds(value, key))
            case "delays":
                guard let entries = value.objectValue else { throw SimulatorError("delays must be an object") }
                for (kind, seconds) in entries {
                    let amount = try self.seconds(seconds, "delays.\(kind)")
                    switch kind {
                    case "volume_backup": delays.volumeBackup = amount
                    case "snapshot": delays.snapshot = amount
                    case "backup_delete": delays.backupDelete = amount
                    case "server_action": delays.serverAction = amount
                    case "image": delays.image = amount
                    case "trove_backup": delays.troveBackup = amount
                    default: throw SimulatorError("unknown delay '\(kind)'")
                    }
                }
            case "failures":
                guard let entries = value.objectValue else { throw SimulatorError("failures must be an object") }
                for (kind, count) in entries {
                    let amount = try self.count(count, "failures.\(kind)")
                    switch kind {
                    case "volume_backup": failures.volumeBackup = amount
                    case "trove_backup": failures.troveBackup = amount
                    case "snapshot": failures.snapshot = amount
                    default: throw SimulatorError("unknown failure kind '\(kind)'")
                    }
                }
            case "fail_next_backup":
                failures.volumeBackup = try count(value, key)
            case "fail_next_trove_backup":
                failures.troveBackup = try count(value, key)
            case "token_ttl":
                let ttl = try seconds(value, key)
                // Expiry times are whole microseconds in an Int64: keep far from its end.
                guard ttl <= Self.maximumTokenTTL else {
                    throw SimulatorError("token_ttl must be at most \(Int(Self.maximumTokenTTL)) seconds (10 years)")
                }
                tokenTTL = ttl
            default:
                throw SimulatorError("unknown setting '\(key)'")
            }
        }
    }

    private func seconds(_ value: JSON, _ name: String) throws(SimulatorError) -> Double {
        guard let seconds = value.doubleValue, seconds >= 0 else {
            throw SimulatorError("\(name) must be a number of seconds")
        }
        return seconds
    }

    private func count(_ value: JSON, _ name: String) throws(SimulatorError) -> Int {
        if let flag = value.boolValue { return flag ? 1 : 0 }
        guard let count = value.intValue, count >= 0 else { throw SimulatorError("\(name) must be a count or a boolean") }
        return count
    }
}

/// How to start a simulator.
public struct SimulatorConfiguration: Sendable {
    /// The address to listen on.
    public var host: String
    /// The port to listen on; 0 picks a free one (read it back from ``OpenStackSimulator/port``).
    public var port: Int
    /// The base URL clients see (catalog URLs, links, `WWW-Authenticate`); derived from the
    /// listen address when `nil`. Set it when the simulator sits behind a proxy.
    public var publicURL: String?
    /// Load the default seed (demo volume, server, images, database instance) at start and on reset.
    public var loadDefaultSeed: Bool
    /// Extra resources (the `POST /_simulator/seed` form) loaded after the default seed, and again on reset.
    public var seed: JSON?
    /// The initial settings.
    public var settings: SimulatorSettings
    /// Receives one line per request (method, path, status) at `info`.
    public var logger: Logger

    /// A configuration; port 0 picks a free port.
    public init(
        host: String = "127.0.0.1", port: Int = 28500, publicURL: String? = nil, loadDefaultSeed: Bool = true,
        seed: JSON? = nil, settings: SimulatorSettings = SimulatorSettings(), logger: Logger? = nil
    ) {
        self.host = host
        self.port = port
        self.publicURL = publicURL
        self.loadDefaultSeed = loadDefaultSeed
        self.seed = seed
        self.settings = settings
        self.logger =
            logger
            ?? {
                var quiet = Logger(label: "openstack-simulator")
                quiet.logLevel = .warning
                return quiet
            }()
    }

    /// A configuration for in-process tests: an ephemeral port on loopback and fast transitions.
    public static func testing(delay: Double = 0.05, loadDefaultSeed: Bool = true) -> SimulatorConfiguration {
        SimulatorConfiguration(
            port: 0, loadDefaultSeed: loadDefaultSeed, settings: SimulatorSettings(delays: .init(all: delay)))
    }
}
