import ActionCatalog
import ActionKit
import Foundation
import Logging
import MistralProtocol
import OpenStackClient
import OpenStackSimulator
import OrderedJSON
import OsloMessaging
import Synchronization
import Worker

/// One action's input through the worker's decoding, validation and run
/// (`ActionRunner.run` with a short timeout), the OpenStack session pointed
/// at an in-process simulator. `system.exec` has no command policy, so it
/// stays disabled and nothing runs locally.
///
/// Input forms:
/// - `@<action name>\n<rest>`: the action by name (readable seeds);
/// - otherwise the first byte picks the action (registry order, by name);
/// - a rest starting with `{` is JSON text (the parser's own path);
/// - any other rest is read by ``ByteReader`` into an object whose keys are
///   mostly the action's parameter names, so that mutations reach the
///   checks behind decoding; its first byte picks the security context.
public enum ActionInputTarget {
    public enum Outcome: Sendable, Equatable, CustomStringConvertible {
        /// No action could be picked (empty input or an unknown name).
        case noAction
        /// The JSON text does not parse to an object (the engine never sends that).
        case notAnObject(action: String, detail: String)
        /// The runner's answer; `timedOut` when the short deadline cut it off.
        case result(action: String, ActionResult, timedOut: Bool)

        public var description: String {
            switch self {
            case .noAction: return "no action"
            case .notAnObject(let action, let detail): return "\(action): input is not an object: \(detail)"
            case .result(let action, let result, let timedOut):
                let shown = result.isError ? "error \(result.error.pythonText)" : "data \(result.data.pythonText)"
                return "\(action)\(timedOut ? " (timed out)" : ""): \(shown)"
            }
        }

        /// The result, when the action ran.
        public var result: ActionResult? {
            if case .result(_, let result, _) = self { return result }
            return nil
        }
    }

    /// The deadline of each run (`MA_FUZZ_ACTION_TIMEOUT` seconds, default 0.2):
    /// long enough for a few requests to the simulator, short enough that
    /// waits and sleeps do not dominate the run.
    static let timeout: Double = {
        let text = ProcessInfo.processInfo.environment["MA_FUZZ_ACTION_TIMEOUT"] ?? ""
        guard let value = Double(text), value.isFinite, value > 0, value < 60 else { return 0.2 }
        return value
    }()

    static let descriptors: [ActionDescriptor] = OsloRequestTarget.registry.descriptors.sorted { $0.name < $1.name }

    /// Every action name, in the order the first byte picks them.
    public static var actionNames: [String] { descriptors.map(\.name) }

    /// Runs one input. `deadline` replaces the short fuzzing deadline for
    /// tests that assert an outcome (a loaded machine must not turn a
    /// success into a timeout).
    public static func run(_ data: [UInt8], deadline: Double? = nil) async -> Outcome {
        let timeout = deadline ?? Self.timeout
        guard let (descriptor, rest) = pick(data) else { return .noAction }
        let input: JSONObject
        var reader = ByteReader(rest)
        var variant = SecurityVariant.normal
        if rest.first(where: { !isJSONWhitespace($0) }) == UInt8(ascii: "{") {
            do {
                guard case .object(let object) = try JSON(parsing: rest) else {
                    return .notAnObject(action: descriptor.name, detail: "not an object")
                }
                input = object
            } catch {
                return .notAnObject(action: descriptor.name, detail: "\(error)")
            }
        } else {
            variant = reader.choose(from: SecurityVariant.allCases)
            input = structuredInput(for: descriptor, from: &reader)
        }
        let cloud: FuzzCloud
        do {
            cloud = try await FuzzCloud.shared()
        } catch {
            // Not the input's fault: stop loudly rather than fuzz nothing.
            preconditionFailure("the OpenStack simulator did not start: \(error)")
        }
        cloud.beforeRun()
        let actionName = descriptor.qualifiedName(prefix: "int32bit")
        let context = ActionContext(
            actionName: actionName, security: cloud.security(variant), execution: ExecutionContext(),
            logger: cloud.logger, services: cloud.services)
        let outcome = await ActionRunner.run(descriptor, input: input, context: context, timeout: timeout)
        let result: ActionResult
        var timedOut = false
        switch outcome {
        case .completed(let completed): result = completed
        case .timedOut(let late):
            result = late
            timedOut = true
        case .cancelled: result = .failure(FailureMessages.shutdown(action: actionName))
        }
        // The result as the worker sends it to the engine.
        _ = try? EngineMethods.onActionCompleteArguments(actionExecutionID: "fuzz", result: result)
        return .result(action: descriptor.name, result, timedOut: timedOut)
    }

    /// The action and the bytes of its input.
    static func pick(_ data: [UInt8]) -> (ActionDescriptor, ArraySlice<UInt8>)? {
        guard let first = data.first, !descriptors.isEmpty else { return nil }
        if first == UInt8(ascii: "@") {
            let line = data.dropFirst().prefix { $0 != UInt8(ascii: "\n") }
            let name = String(decoding: line, as: UTF8.self)
            guard let descriptor = descriptors.first(where: { $0.name == name }) else { return nil }
            return (descriptor, data.dropFirst(line.count + 2))
        }
        return (descriptors[Int(first) % descriptors.count], data.dropFirst())
    }

    static func structuredInput(for descriptor: ActionDescriptor, from reader: inout ByteReader) -> JSONObject {
        var names = descriptor.parameters.map(\.name)
        if let keywordArguments = descriptor.keywordArguments { names.append(keywordArguments.name) }
        var object = JSONObject()
        var entries = 0
        while !reader.isAtEnd, entries < 16 {
            let selector = reader.byte()
            let key: String
            if selector < 200, !names.isEmpty {
                key = names[Int(selector) % names.count]
            } else {
                key = ByteReader.interestingKeys[Int(selector) % ByteReader.interestingKeys.count]
            }
            object.updateValue(reader.json(), forKey: key)
            entries += 1
        }
        return object
    }

    private static func isJSONWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    /// Which security context the request carries.
    enum SecurityVariant: CaseIterable, Sendable {
        /// A token with its catalog, as Mistral sends it.
        case normal
        /// A token without the catalog (the client must look it up).
        case withoutCatalog
        /// No token at all (and no service credentials configured).
        case withoutToken
        /// A token the simulator does not know.
        case unknownToken
    }
}

/// The in-process simulator and the worker's OpenStack session, started once
/// per process and shared by every run.
final class FuzzCloud: Sendable {
    let simulator: OpenStackSimulator
    let session: OpenStackSession
    let token: IssuedToken
    let services: ActionServices
    let logger: Logger
    /// Runs since the last reset of the simulator.
    private let runs = Mutex(0)

    /// Resets the simulator's resources every so many runs, so that the
    /// backups and snapshots created by fuzzed inputs do not pile up.
    static let runsPerReset = 200

    private init(simulator: OpenStackSimulator, session: OpenStackSession, token: IssuedToken, logger: Logger) {
        self.simulator = simulator
        self.session = session
        self.token = token
        self.logger = logger
        var services = ActionServices()
        services[OpenStackSessionKey.self] = session
        self.services = services
    }

    private static let starting = Mutex<Task<FuzzCloud, any Error>?>(nil)

    static func shared() async throws -> FuzzCloud {
        let task = starting.withLock { task in
            if let task { return task }
            let started = Task { try await start() }
            task = started
            return started
        }
        return try await task.value
    }

    private static func start() async throws -> FuzzCloud {
        var logger = Logger(label: "fuzz.action-input")
        logger.logLevel = .critical
        // Transitions happen at once, and tokens outlive any fuzzing run.
        var configuration = SimulatorConfiguration.testing(delay: 0)
        configuration.settings.tokenTTL = 100_000_000
        configuration.logger = logger
        let simulator = try await OpenStackSimulator.start(configuration)
        let session = OpenStackSession(
            settings: OpenStackSettings(
                requestTimeout: .seconds(5), connectTimeout: .seconds(2), maxRetries: 1,
                retryBaseDelay: .milliseconds(1), maxRetryDelay: .milliseconds(10)),
            logger: logger)
        return FuzzCloud(simulator: simulator, session: session, token: try simulator.issueToken(), logger: logger)
    }

    func beforeRun() {
        let reset = runs.withLock { count in
            count += 1
            guard count >= Self.runsPerReset else { return false }
            count = 0
            return true
        }
        if reset { simulator.reset() }
    }

    /// The security context of a request, as Mistral sends it.
    func security(_ variant: ActionInputTarget.SecurityVariant) -> RequestContext {
        var fields: JSONObject = [
            "auth_token": .string(token.id),
            "project_id": .string(simulator.projectID),
            "region_name": "RegionOne",
            "service_catalog": token.token,
            "expires_at": .string(token.expiresAt),
            "is_trust_scoped": false,
        ]
        switch variant {
        case .normal: break
        case .withoutCatalog: fields.updateValue(.null, forKey: "service_catalog")
        case .withoutToken:
            fields.updateValue(.null, forKey: "auth_token")
            fields.updateValue(.null, forKey: "service_catalog")
        case .unknownToken: fields.updateValue("gAAAAA-not-a-token", forKey: "auth_token")
        }
        return RequestContext(fields: fields)
    }
}
