import ActionKit
import OpenStackClient
import OrderedJSON

/// The worker's OpenStack session, shared by every OpenStack action.
/// Actions reach it through ``ActionKit/ActionContext/openStack(region:)``.
public enum OpenStackSessionKey: ActionServiceKey {
    /// The session.
    public typealias Value = OpenStackSession
}

/// Settings of the backup actions (`[mistral_actions] max_chain_length`).
public struct BackupSettings: Sendable, Equatable {
    /// The most backups in one chain (the full one included).
    public var maxChainLength: Int

    /// Settings with this chain length (5, the default of `max_chain_length`).
    public init(maxChainLength: Int = 5) {
        self.maxChainLength = maxChainLength
    }
}

/// The ``BackupSettings`` of the worker in ``ActionServices``.
public enum BackupSettingsKey: ActionServiceKey {
    /// The settings.
    public typealias Value = BackupSettings
}

extension ActionContext {
    /// A client acting with the request's credentials (the caller's token,
    /// project, region and service catalog), over the worker's shared
    /// session: its retries, timeouts and per-service limits.
    ///
    /// ```swift
    /// let client = try context.openStack(region: actionRegion)
    /// let response = try await client.get(.blockStorage, "/volumes/\(volumeID)")
    /// ```
    ///
    /// - Parameter region: the action's `action_region` input, which wins over
    ///   the request's region; `nil` or empty: the request's region.
    /// - Throws: ``ActionFailure`` when the worker has no OpenStack session
    ///   (an ``ActionContext`` built without ``OpenStackSessionKey``).
    public func openStack(region: String? = nil) throws -> OpenStackClient {
        guard let session = services[OpenStackSessionKey.self] else {
            throw ActionFailure("OpenStack access is not set up in this mistral-actions worker")
        }
        return session.client(
            credentials: OpenStackCredentials(securityContext: security),
            region: region.flatMap { $0.isEmpty ? nil : $0 },
            logger: logger
        )
    }

    var backupSettings: BackupSettings {
        services[BackupSettingsKey.self] ?? BackupSettings()
    }
}

extension OpenStackResponse {
    /// The object under `key` of the body (`{"backup": {...}}`).
    func object(_ key: String, service: OpenStackService, method: String, path: String) throws -> JSONObject {
        guard let object = body?[key]?.objectValue else {
            throw OpenStackError(
                kind: .invalidResponse("no \"\(key)\" object in the answer"),
                service: service, method: method, path: path
            )
        }
        return object
    }
}

extension OpenStackClient {
    /// `GET path` and the object under `key`.
    func getObject(_ service: OpenStackService, _ path: String, key: String, microversion: String? = nil) async throws -> JSONObject {
        try await get(service, path, microversion: microversion).object(key, service: service, method: "GET", path: path)
    }
}

extension JSONObject {
    func string(_ key: String) -> String? { self[key]?.stringValue }
}

/// A path segment with characters that would change the path escaped
/// (ids come from workflow input).
func pathSegment(_ value: String) -> String {
    var result = ""
    for byte in value.utf8 {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
            result.append(Character(Unicode.Scalar(byte)))
        default:
            result += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
        }
    }
    return result
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// Rejects an empty id before any call: `GET /backups/` would list instead.
func requireIdentifier(_ value: String, _ name: String) throws -> String {
    let trimmed = value.trimmingWhitespace
    guard !trimmed.isEmpty else { throw ActionFailure("\(name) must not be empty") }
    return trimmed
}

extension String {
    var trimmingWhitespace: String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}

extension BackupSettings {
    /// Checks the chain inputs shared by the chain-aware backup actions and
    /// returns the chain length to use (the input, else the configured one).
    /// Pruning needs a wait: old chains go only once the new backup is `readyStatus`.
    static func chainLength(
        input maxChainLength: Int?, keepChains: Int?, wait: WaitOptions, readyStatus: String, context: ActionContext
    ) throws -> Int {
        let maximum = maxChainLength ?? context.backupSettings.maxChainLength
        guard maximum >= 1 else { throw ActionFailure("max_chain_length must be at least 1, got \(maximum)") }
        if let keepChains {
            guard keepChains >= 1 else { throw ActionFailure("keep_chains must be at least 1, got \(keepChains)") }
            guard wait.waits else {
                throw ActionFailure(
                    "keep_chains needs wait_timeout > 0: old chains are deleted only once the new backup is \(readyStatus)")
            }
        }
        return maximum
    }
}
