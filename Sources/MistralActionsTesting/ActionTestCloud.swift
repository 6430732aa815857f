import ActionCatalog
import ActionKit
import Logging
import OpenStackClient
import OpenStackSimulator
import OrderedJSON
import OsloMessaging

/// An OpenStack cloud for the unit tests of actions: the OpenStack
/// simulator in this process (Keystone, Cinder, Nova, Glance, Trove on a
/// free loopback port, with its default resources), a token of its demo
/// project, and the worker's OpenStack session pointed at it. Actions run
/// here as the worker runs them: input decoded from JSON, then `run`.
///
/// ```swift
/// @Test func snapshotIsTagged() async throws {
///     try await ActionTestCloud.withCloud { cloud in
///         let result = try await cloud.run(SnapshotAndTag.self, input: [
///             "volume_id": .string(SimulatorDefaults.demoVolumeID), "wait_timeout": 30,
///         ])
///         #expect(result["status"]?.stringValue == "available")
///     }
/// }
/// ```
///
/// ``withCloud(transitionDelay:_:)`` shuts the cloud down even when the
/// test throws; with ``start(transitionDelay:)`` call ``shutdown()`` yourself.
public final class ActionTestCloud: Sendable {
    /// The simulator: seed resources, inject faults, read its request log.
    public let simulator: OpenStackSimulator
    /// The session the actions' clients use (as the worker's, with short
    /// timeouts and retry delays).
    public let session: OpenStackSession
    /// The token the requests carry (admin user, demo project, with catalog).
    public let token: IssuedToken

    private init(simulator: OpenStackSimulator, session: OpenStackSession, token: IssuedToken) {
        self.simulator = simulator
        self.session = session
        self.token = token
    }

    /// Starts a cloud.
    ///
    /// - Parameter transitionDelay: seconds a resource spends in a transient
    ///   status (`creating`, ...) before it settles.
    /// - Throws: when the simulator cannot listen or mint a token.
    public static func start(transitionDelay: Double = 0.05) async throws -> ActionTestCloud {
        let simulator = try await OpenStackSimulator.start(.testing(delay: transitionDelay))
        var logger = Logger(label: "mistral-actions.testing.openstack")
        logger.logLevel = .warning
        let session = OpenStackSession(
            settings: OpenStackSettings(
                requestTimeout: .seconds(10), maxRetries: 3, retryBaseDelay: .milliseconds(20), maxRetryDelay: .seconds(2)),
            logger: logger)
        let token: IssuedToken
        do {
            token = try simulator.issueToken()
        } catch {
            try? await session.shutdown()
            await simulator.shutdown()
            throw error
        }
        return ActionTestCloud(simulator: simulator, session: session, token: token)
    }

    /// Runs `body` with a started cloud and shuts the cloud down afterwards,
    /// whether `body` returns or throws.
    public static func withCloud<Result: Sendable>(
        transitionDelay: Double = 0.05, _ body: (ActionTestCloud) async throws -> Result
    ) async throws -> Result {
        let cloud = try await start(transitionDelay: transitionDelay)
        do {
            let result = try await body(cloud)
            await cloud.shutdown()
            return result
        } catch {
            await cloud.shutdown()
            throw error
        }
    }

    /// Stops the session and the simulator.
    public func shutdown() async {
        try? await session.shutdown()
        await simulator.shutdown()
    }

    /// The security context Mistral's engine sends with a request of the
    /// token's user: token, project, region and the token's service catalog.
    public func security(region: String? = "RegionOne") -> RequestContext {
        var fields: JSONObject = [
            "auth_token": .string(token.id),
            "project_id": .string(simulator.projectID),
            "region_name": region.map(JSON.string) ?? .null,
            "service_catalog": token.token,
            "expires_at": .string(token.expiresAt),
        ]
        fields.updateValue(.bool(false), forKey: "is_trust_scoped")
        return RequestContext(fields: fields)
    }

    /// The context an action gets from the worker, with this cloud's
    /// session as the OpenStack service (``ActionKit/ActionContext/openStack(region:)``).
    ///
    /// - Parameters:
    ///   - actionName: the name as Mistral knows it (with the prefix).
    ///   - services: more shared services; the OpenStack session is added.
    public func context(actionName: String, services: ActionServices = ActionServices()) -> ActionContext {
        var logger = Logger(label: "mistral-actions.testing.action")
        logger.logLevel = .warning
        var services = services
        services[OpenStackSessionKey.self] = session
        return ActionContext(
            actionName: actionName, security: security(), execution: ExecutionContext(), logger: logger,
            services: services)
    }

    /// Runs an action as the worker does: `input` decoded into its
    /// parameters (defaults, type checks, unknown names refused), then
    /// ``MistralAction/run(context:)``.
    ///
    /// - Parameters:
    ///   - action: the action type.
    ///   - input: the action's input as a workflow passes it.
    ///   - prefix: the action prefix of the context's action name.
    /// - Returns: the action's result (`data`).
    /// - Throws: ``ActionInputError`` for input the action refuses, or what
    ///   the action throws (``ActionFailure``, an `OpenStackError`, ...).
    public func run(
        _ action: any MistralAction.Type, input: JSONObject = [:], prefix: String = "int32bit",
        services: ActionServices = ActionServices()
    ) async throws -> JSON {
        let descriptor = ActionDescriptor(action)
        let instance = try descriptor.instantiate(input: input)
        return try await instance.run(
            context: context(actionName: descriptor.qualifiedName(prefix: prefix), services: services))
    }
}
