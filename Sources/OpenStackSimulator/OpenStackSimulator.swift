import Logging
import OrderedJSON
import Synchronization

/// A token minted by ``OpenStackSimulator/issueToken(user:project:includeCatalog:)``.
public struct IssuedToken: Sendable, Hashable {
    /// The token id (what `X-Subject-Token` carries and clients send as `X-Auth-Token`).
    public let id: String
    /// The body Keystone returns on issue: `{"token": {...}}`.
    public let response: JSON
    /// `expires_at` in Keystone's format.
    public let expiresAt: String

    /// The token dictionary (`response["token"]`): what Mistral puts in `security.service_catalog`.
    public var token: JSON { response["token"] ?? .null }
}

/// An OpenStack cloud in one process: Keystone v3, Cinder v3, Nova v2.1, Glance v2 and
/// Trove v1.0 over HTTP, faithful to the behaviour in `api-facts.md`, plus a control API
/// under `/_simulator/` and the same controls as Swift methods.
///
/// Every catalog endpoint is `<baseURL>/<Region>/<interface>/<service>...` so that the
/// request log shows which endpoint a client picked; all of them reach the same state.
///
/// Tokens and trusts, for tests of token expiry:
/// * `POST /v3/auth/tokens` takes password and token methods, and a trust scope
///   (`{"OS-TRUST:trust": {"id": ...}}`) for the trust's trustee: the token gets the trust's
///   project and roles, and with impersonation the trustor as its user. Two trusts are seeded,
///   both from `admin` to `mistral` on `demo`: ``SimulatorDefaults/demoTrustID`` (member role,
///   no impersonation) and ``SimulatorDefaults/impersonatingTrustID`` (as Mistral makes them for
///   cron triggers: impersonation, admin's roles).
/// * `/v3/OS-TRUST/trusts` as Keystone has it (what Mistral calls when a cron trigger is
///   created and deleted): `POST` by the trustor (the token's user must be `trustor_user_id`,
///   with a project-scoped token, else 403) with `trustee_user_id`, `project_id`, `roles` by
///   id or name that the trustor has on the project (else 404 "Could not find role", as
///   Keystone answers), `impersonation`, `expires_at` (not in the past, else 400) and
///   `remaining_uses` (at least 1); 201 with Keystone's body (`roles`, `roles_links`,
///   `links`). `GET .../trusts/{id}` for admins, the trustor and the trustee; `GET .../trusts`
///   unfiltered for admins, with `trustor_user_id` / `trustee_user_id` for admins or that
///   user, else 403; `DELETE` by admins or the trustor, 204. A trust that is unknown,
///   deleted, expired or used up is 404 on show and delete, 401 when a token is asked for
///   it, and its tokens stop working (Keystone looks the trust up on every validation);
///   each token issued through a trust with `remaining_uses` uses one. Trusts made through
///   the API are dropped by ``reset()``.
/// * `POST /_simulator/tokens` mints a token without a password: `{"user", "project",
///   "nocatalog"}` for a project-scoped one, `{"trust": "<id>"}` for a trust-scoped one
///   (``issueToken(user:project:includeCatalog:)``, ``issueTrustToken(_:includeCatalog:)``).
/// * Lifetime: the `token_ttl` setting (`PUT /_simulator/settings {"token_ttl": 30}`, default
///   3600 s) applies to tokens issued after the change; `POST /_simulator/clock/advance
///   {"seconds": n}` ages every token; `POST /_simulator/tokens/expire` expires all of them, or
///   with `{"tokens": ["<id>", ...]}` only those (``expireTokens(_:)``).
///   Services then answer 401 as keystonemiddleware does; `GET /_simulator/requests` shows which
///   `X-Auth-Token` each request carried and whose it was (`credentials`: user, project, trust).
public final class OpenStackSimulator: Sendable {
    /// The port the server listens on (the ephemeral one when the configuration asked for 0).
    public let port: Int
    /// The public base URL, e.g. `http://127.0.0.1:28500`.
    public let baseURL: String
    private let server: HTTPServer
    private let core: SimulatorCore

    /// The Keystone auth URL to configure clients with (`<baseURL>/identity`).
    public var authURL: String { baseURL + "/identity" }
    /// The id of the `demo` project, which owns the seeded resources.
    public var projectID: String { SimulatorDefaults.demoProjectID }

    private init(server: HTTPServer, core: SimulatorCore) {
        self.server = server
        self.core = core
        port = server.port
        baseURL = core.baseURL
    }

    /// Binds, seeds and starts answering. Port 0 picks a free port.
    public static func start(_ configuration: SimulatorConfiguration = SimulatorConfiguration()) async throws
        -> OpenStackSimulator
    {
        // The base URL depends on the bound port, so the core is attached after binding;
        // requests arriving in between get 503.
        let slot = CoreSlot()
        let server = try await HTTPServer.start(host: configuration.host, port: configuration.port) { request in
            slot.core?.respond(to: request) ?? HTTPResponseData(status: 503)
        }
        let baseURL: String
        if let publicURL = configuration.publicURL {
            baseURL = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
        } else {
            let host = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
            baseURL = "http://\(host == "0.0.0.0" ? "127.0.0.1" : host):\(server.port)"
        }
        do {
            let core = try SimulatorCore(baseURL: baseURL, configuration: configuration)
            slot.core = core
            configuration.logger.info("OpenStack simulator listening", metadata: ["simulator.url": "\(baseURL)"])
            return OpenStackSimulator(server: server, core: core)
        } catch {
            await server.shutdown()
            throw error
        }
    }

    /// Stops listening and closes open connections.
    public func shutdown() async {
        await server.shutdown()
    }

    /// Returns when the server has stopped (after ``shutdown()``).
    public func waitUntilShutdown() async {
        await server.waitUntilClosed()
    }

    // MARK: - Control

    /// Back to the seed state: resources re-seeded; faults, request log and pending transitions
    /// cleared. Users, issued tokens and settings are kept.
    public func reset() {
        core.reset()
    }

    /// Adds resources (`{"volumes": [...], "servers": [...], "images": [...], "snapshots": [...],
    /// "backups": [...], "trove_instances": [...], "trove_backups": [...]}`) and returns them with their ids.
    @discardableResult
    public func seed(_ resources: JSON) throws(SimulatorError) -> JSON {
        try core.withState { (state: inout CloudState) throws(SimulatorError) -> JSON in try state.seed(resources) }
    }

    /// Replaces the fault rules (checked in order; each applies to its next `times` matching requests).
    public func setFaults(_ rules: [FaultRule]) {
        core.setFaults(rules)
    }

    /// Removes every fault rule.
    public func clearFaults() {
        core.setFaults([])
    }

    /// The service requests received since the last reset or clear, oldest first.
    public func requestLog() -> [LoggedRequest] {
        core.access { $0.requestLog }
    }

    /// Empties the request log.
    public func clearRequestLog() {
        core.access { $0.requestLog = [] }
    }

    /// Mints a token as `POST /v3/auth/tokens` would, without HTTP. `user` and `project`
    /// are names or ids; `project: nil` gives an unscoped token (no catalog).
    public func issueToken(
        user: String = SimulatorDefaults.adminUserName, project: String? = SimulatorDefaults.demoProjectName,
        includeCatalog: Bool = true
    ) throws(SimulatorError) -> IssuedToken {
        try core.issueToken(user: user, project: project, includeCatalog: includeCatalog)
    }

    /// Mints a token for the trustee of `trustID` (`mistral` for the seeded trusts), scoped to
    /// the trust, as Mistral's engine gets one for a cron trigger; without HTTP. With an
    /// impersonating trust (``SimulatorDefaults/impersonatingTrustID``) the token's user is the
    /// trustor. It lives ``SimulatorSettings/tokenTTL`` seconds.
    public func issueTrustToken(
        _ trustID: String = SimulatorDefaults.impersonatingTrustID, includeCatalog: Bool = true
    ) throws(SimulatorError) -> IssuedToken {
        try core.issueTrustToken(trustID: trustID, includeCatalog: includeCatalog)
    }

    /// Expires every token issued so far (services then answer 401); returns how many were valid.
    @discardableResult
    public func expireTokens() -> Int {
        core.expireTokens()
    }

    /// Expires the tokens `ids` only (others, e.g. of concurrent tests, keep working);
    /// returns how many of them were valid. Unknown ids are ignored.
    @discardableResult
    public func expireTokens(_ ids: [String]) -> Int {
        core.expireTokens(only: ids)
    }

    /// Moves the simulated clock `seconds` ahead and applies every transition that comes due,
    /// so tests can set long delays, observe intermediate states, then finish them without sleeping.
    /// Tokens age too (a jump past their lifetime expires them).
    public func advanceClock(by seconds: Double) {
        core.advanceClock(by: seconds)
    }

    /// The current settings.
    public var settings: SimulatorSettings {
        core.access { $0.settings }
    }

    /// Changes the settings in place and returns the result.
    @discardableResult
    public func updateSettings(_ change: (inout SimulatorSettings) -> Void) -> SimulatorSettings {
        core.access { state in
            change(&state.settings)
            return state.settings
        }
    }

    /// Applies a partial update in the control API's JSON form (see ``SimulatorSettings/apply(_:)``).
    @discardableResult
    public func updateSettings(json: JSON) throws(SimulatorError) -> SimulatorSettings {
        try core.withState { (state: inout CloudState) throws(SimulatorError) -> SimulatorSettings in
            var updated = state.settings
            try updated.apply(json)
            state.settings = updated
            return updated
        }
    }

    /// Everything the cloud holds, including fields the APIs hide (Cinder backups' `parent_id`).
    /// Due transitions are applied first, so the view matches what a request would see now.
    public func state() -> JSON {
        core.access { state in
            state.advance(to: state.clock.now())
            return state.stateView()
        }
    }

    /// The catalog URL of `service` in `region` for `interface`, with the demo project substituted.
    /// Cinder's URL is the `block-storage` one; pass `volumev3: true` for the second entry.
    public func endpointURL(
        _ service: OpenStackService, region: String = "RegionOne", interface: String = "public",
        projectID: String = SimulatorDefaults.demoProjectID, volumev3: Bool = false
    ) -> String {
        let prefix = "\(baseURL)/\(region)/\(interface)"
        switch service {
        case .identity: return prefix + "/identity/v3"
        case .compute: return prefix + "/compute/v2.1"
        case .blockStorage: return prefix + (volumev3 ? "/volumev3" : "/volume") + "/v3/" + projectID
        case .image: return prefix + "/image"
        case .database: return prefix + "/database/v1.0/" + projectID
        }
    }
}

/// Holds the core once it exists (see ``OpenStackSimulator/start(_:)``).
private final class CoreSlot: Sendable {
    private let slot = Mutex<SimulatorCore?>(nil)

    var core: SimulatorCore? {
        get { slot.withLock { $0 } }
        set { slot.withLock { $0 = newValue } }
    }
}
