import ActionKit
import CheckedNumbers
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import PostgresClient
import SystemSupport

/// Keeps Mistral's `code_sources` and `dynamic_action_definitions` tables in
/// step with the actions of this binary (DESIGN §3): one code source holding
/// generated Python stubs, one dynamic action definition per action, written
/// in one transaction under a PostgreSQL advisory lock so that workers
/// starting together cannot race. The engine reads these tables on every
/// lookup, so no Mistral service needs a restart.
public struct ActionTableSync: Sendable {
    /// Where and how our rows are written.
    public struct Settings: Sendable, Equatable {
        /// The action name prefix (`int32bit`).
        public var prefix: String
        /// The code source's name (the Python module's name).
        public var codeSourceName: String
        /// `project_id` of our rows; Mistral's own `<default-project>` when Keystone is off.
        public var projectID: String
        /// `namespace` of our rows: `''`, never NULL.
        public var namespace: String
        /// `scope` of our rows: `public`, so every project's workflows see them.
        public var scope: String

        public init(prefix: String, codeSourceName: String = "mistral_actions", projectID: String = "<default-project>", namespace: String = "", scope: String = "public") {
            self.prefix = prefix
            self.codeSourceName = codeSourceName
            self.projectID = projectID
            self.namespace = namespace
            self.scope = scope
        }
    }

    /// What a sync did (or, with `dryRun`, would do).
    public struct Report: Sendable, Equatable {
        public var plan: SyncPlan
        /// Our code source's id (`nil` only for a dry run that would create it).
        public var codeSourceID: String?
        /// The code source version after the sync.
        public var version: Int
        public var dryRun: Bool
    }

    public let registry: ActionRegistry
    public let settings: Settings
    /// Written into the generated module's header, e.g. `mistral-actions 0.1.0`.
    public let generator: String
    /// How long a write waits for the action-table lock (and for any other
    /// lock in its transaction) before it fails with
    /// ``ActionSyncError/lockHeld(holders:waited:)``: a process that holds the
    /// lock and hangs must not block every other start for ever.
    public let lockTimeout: Duration

    /// The default ``lockTimeout``: a sync takes milliseconds, so a lock held
    /// this long belongs to a process that is stuck.
    public static let defaultLockTimeout: Duration = .seconds(10)

    public init(registry: ActionRegistry, settings: Settings, generator: String, lockTimeout: Duration = ActionTableSync.defaultLockTimeout) {
        self.registry = registry
        self.settings = settings
        self.generator = generator
        self.lockTimeout = lockTimeout
    }

    /// The advisory lock every mistral-actions process takes before touching the tables.
    public static let lockKey = PostgresConnection.advisoryLockKey(named: "mistral-actions.action-table-sync")

    /// The Python module for this binary's actions.
    public var content: String {
        PythonStubGenerator.module(for: registry.descriptors, prefix: settings.prefix, generator: generator)
    }

    var desired: [DesiredAction] {
        registry.descriptors.map {
            DesiredAction(name: $0.qualifiedName(prefix: settings.prefix), className: ActionRegistry.stubClassName(for: $0.name))
        }
    }

    /// Registers the selected actions. Idempotent: nothing is written when
    /// nothing changed. Rows that are not ours are replaced only with `override`.
    public func sync(
        on connection: PostgresConnection,
        selection: SyncSelection = .all,
        override: Bool = false,
        dryRun: Bool = false,
        logger: Logger
    ) async throws -> Report {
        let content = self.content
        let desired = self.desired
        if case .only(let names) = selection {
            let unknown = names.subtracting(desired.map(\.name))
            guard unknown.isEmpty else { throw ActionSyncError.unknownActions(unknown.sorted()) }
        }
        return try await withTableLock(on: connection) { connection in
            try await Self.checkSchema(on: connection)
            let state = try await readState(on: connection, names: desired.map(\.name))
            let plan = SyncPlanner.plan(
                state: state, desired: desired, content: content,
                codeSourceName: settings.codeSourceName, selection: selection, override: override
            )
            if dryRun {
                return Report(plan: plan, codeSourceID: state.codeSource?.id, version: Self.version(after: plan.codeSource), dryRun: true)
            }
            let codeSourceID = try await apply(plan, state: state, content: content, on: connection, logger: logger)
            return Report(plan: plan, codeSourceID: codeSourceID, version: Self.version(after: plan.codeSource), dryRun: false)
        }
    }

    /// Removes our definitions of these (qualified) names. Names that are not
    /// ours are reported, not touched.
    public func unregister(names: [String], on connection: PostgresConnection, logger: Logger) async throws -> (removed: [String], notOurs: [String]) {
        try await withTableLock(on: connection) { connection in
            try await Self.checkSchema(on: connection)
            guard let codeSource = try await readCodeSource(on: connection) else { return ([], names.sorted()) }
            var removed: [String] = []
            var notOurs: [String] = []
            for name in Set(names).sorted() {
                let deleted = try await connection.execute(
                    "DELETE FROM dynamic_action_definitions WHERE name = $1 AND namespace = $2 AND code_source_id = $3",
                    [.text(name), .text(settings.namespace), .text(codeSource.id)]
                )
                if deleted > 0 { removed.append(name) } else { notOurs.append(name) }
            }
            if !removed.isEmpty {
                logger.info("unregistered actions", metadata: ["actions.removed": "\(removed.joined(separator: ","))"])
            }
            return (removed, notOurs)
        }
    }

    /// Removes all our rows: the definitions and the code source.
    public func clear(on connection: PostgresConnection, logger: Logger) async throws -> [String] {
        try await withTableLock(on: connection) { connection in
            try await Self.checkSchema(on: connection)
            guard let codeSource = try await readCodeSource(on: connection) else { return [] }
            let rows = try await connection.query(
                "DELETE FROM dynamic_action_definitions WHERE code_source_id = $1 RETURNING name",
                [.text(codeSource.id)]
            )
            let names = try rows.map { try $0.decode("name", as: String.self) }.sorted()
            _ = try await connection.execute("DELETE FROM code_sources WHERE id = $1", [.text(codeSource.id)])
            logger.info("removed all registered actions", metadata: ["actions.removed": "\(names.count)", "code_source.id": "\(codeSource.id)"])
            return names
        }
    }

    /// Our registered actions as Mistral's database holds them.
    public func registeredActions(on connection: PostgresConnection) async throws -> (codeSource: CodeSourceRow?, definitions: [DefinitionRow]) {
        try await Self.checkSchema(on: connection)
        guard let codeSource = try await readCodeSource(on: connection) else { return (nil, []) }
        let rows = try await connection.query(
            """
            SELECT id, name, class_name, code_source_id, code_source_name, project_id, scope
            FROM dynamic_action_definitions WHERE code_source_id = $1 ORDER BY name
            """,
            [.text(codeSource.id)]
        )
        return (codeSource, try rows.map(Self.definition(from:)))
    }

    // MARK: - Locking

    /// Runs `body` in a transaction that holds the action-table lock, waiting
    /// at most `lockTimeout` for it.
    ///
    /// - Throws: ``ActionSyncError/lockHeld(holders:waited:)`` naming the
    ///   sessions that hold the lock, when the wait times out.
    func withTableLock<Value: Sendable>(
        on connection: PostgresConnection,
        _ body: (PostgresConnection) async throws -> Value
    ) async throws -> Value {
        do {
            return try await connection.withTransaction { connection in
                // SET LOCAL through set_config, so that the value is a parameter.
                _ = try await connection.query(
                    "SELECT set_config('lock_timeout', $1, true)", [.text("\(Self.lockTimeoutMilliseconds(lockTimeout))ms")]
                )
                do {
                    try await connection.advisoryTransactionLock(key: Self.lockKey)
                } catch let error as PostgresError where error.sqlState == "55P03" {
                    throw LockWaitTimedOut()
                }
                return try await body(connection)
            }
        } catch is LockWaitTimedOut {
            // The transaction is rolled back: the connection is free to ask who holds the lock.
            let holders = (try? await Self.lockHolders(on: connection)) ?? []
            throw ActionSyncError.lockHeld(holders: holders, waited: lockTimeout)
        }
    }

    /// lock_timeout in whole milliseconds within what PostgreSQL accepts:
    /// at least 1 (0 would mean no timeout), at most 2^31 - 1.
    static func lockTimeoutMilliseconds(_ timeout: Duration) -> Int64 {
        let milliseconds = (Seconds.seconds(of: timeout) * 1000).rounded(.up)
        if milliseconds.isNaN || milliseconds < 1 { return 1 }
        return Int64(truncating: milliseconds, within: 1...Int64(Int32.max)) ?? Int64(Int32.max)
    }

    /// The sessions that hold the action-table lock in this database.
    static func lockHolders(on connection: PostgresConnection) async throws -> [ActionSyncError.LockHolder] {
        // A bigint advisory key is stored as classid (high 32 bits), objid
        // (low 32 bits) and objsubid 1.
        let key = UInt64(bitPattern: lockKey)
        let rows = try await connection.query(
            """
            SELECT l.pid, a.application_name, host(a.client_addr) AS client_addr
            FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
              AND l.classid::bigint = $1 AND l.objid::bigint = $2
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            ORDER BY l.pid
            """,
            [.int(Int64(key >> 32)), .int(Int64(key & 0xffff_ffff))]
        )
        return try rows.map { row in
            ActionSyncError.LockHolder(
                pid: try row.decode("pid"),
                applicationName: try row.decode("application_name", as: String?.self),
                clientAddress: try row.decode("client_addr", as: String?.self)
            )
        }
    }

    // MARK: - Reading

    static func checkSchema(on connection: PostgresConnection) async throws {
        let rows = try await connection.query(
            "SELECT to_regclass('code_sources') IS NOT NULL AS code_sources, to_regclass('dynamic_action_definitions') IS NOT NULL AS definitions"
        )
        guard let row = rows.first,
              try row.decode("code_sources", as: Bool.self),
              try row.decode("definitions", as: Bool.self)
        else {
            throw ActionSyncError.schemaMissing
        }
    }

    func readCodeSource(on connection: PostgresConnection) async throws -> CodeSourceRow? {
        let rows = try await connection.query(
            "SELECT id, name, content, version FROM code_sources WHERE name = $1 AND namespace = $2 AND project_id = $3",
            [.text(settings.codeSourceName), .text(settings.namespace), .text(settings.projectID)]
        )
        return try rows.first.map { row in
            CodeSourceRow(
                id: try row.decode("id"),
                name: try row.decode("name"),
                content: try row.decode("content"),
                version: try row.decode("version")
            )
        }
    }

    func readState(on connection: PostgresConnection, names: [String]) async throws -> SyncState {
        let codeSource = try await readCodeSource(on: connection)
        // Ours, plus any row holding one of our names that the engine would see
        // for our project: same project, or public.
        let rows = try await connection.query(
            """
            SELECT id, name, class_name, code_source_id, code_source_name, project_id, scope
            FROM dynamic_action_definitions
            WHERE code_source_id = $1
               OR (name = ANY($2::text[]) AND namespace = $3 AND (project_id = $4 OR scope = 'public'))
            ORDER BY name
            """,
            [.text(codeSource?.id ?? ""), .text(Self.textArrayLiteral(names)), .text(settings.namespace), .text(settings.projectID)]
        )
        return SyncState(codeSource: codeSource, definitions: try rows.map(Self.definition(from:)))
    }

    static func definition(from row: PostgresRow) throws -> DefinitionRow {
        DefinitionRow(
            id: try row.decode("id"),
            name: try row.decode("name"),
            className: try row.decode("class_name"),
            codeSourceID: try row.decode("code_source_id"),
            codeSourceName: try row.decode("code_source_name"),
            projectID: try row.decode("project_id", as: String?.self),
            scope: try row.decode("scope", as: String?.self)
        )
    }

    /// A PostgreSQL array literal (`{"a","b"}`) for a text[] parameter.
    static func textArrayLiteral(_ values: [String]) -> String {
        "{" + values.map { value in
            "\"" + replacingLiterally(replacingLiterally(value, "\\", with: "\\\\"), "\"", with: "\\\"") + "\""
        }.joined(separator: ",") + "}"
    }

    static func version(after change: SyncPlan.CodeSourceChange) -> Int {
        switch change {
        case .create: return 1
        case .update(_, let to): return to
        case .unchanged(let version): return version
        }
    }

    // MARK: - Writing

    func apply(_ plan: SyncPlan, state: SyncState, content: String, on connection: PostgresConnection, logger: Logger) async throws -> String {
        let now = "(now() AT TIME ZONE 'UTC')"
        let codeSourceID: String
        switch plan.codeSource {
        case .create:
            codeSourceID = UUID().uuidString.lowercased()
            _ = try await connection.execute(
                """
                INSERT INTO code_sources (id, name, project_id, namespace, content, version, tags, scope, created_at)
                VALUES ($1, $2, $3, $4, $5, 1, NULL, $6, \(now))
                """,
                [.text(codeSourceID), .text(settings.codeSourceName), .text(settings.projectID),
                 .text(settings.namespace), .text(content), .text(settings.scope)]
            )
            logger.info("created the code source", metadata: ["code_source.id": "\(codeSourceID)", "code_source.name": "\(settings.codeSourceName)"])
        case .update(_, let version):
            guard let existing = state.codeSource else { throw SyncPlanMismatch() }
            codeSourceID = existing.id
            _ = try await connection.execute(
                "UPDATE code_sources SET content = $2, version = $3, scope = $4, updated_at = \(now) WHERE id = $1",
                [.text(codeSourceID), .text(content), .int(Int64(version)), .text(settings.scope)]
            )
            logger.info("updated the code source", metadata: ["code_source.id": "\(codeSourceID)", "code_source.version": "\(version)"])
        case .unchanged:
            guard let existing = state.codeSource else { throw SyncPlanMismatch() }
            codeSourceID = existing.id
        }

        for change in plan.actions {
            switch change {
            case .create(let action):
                try await insertDefinition(action, codeSourceID: codeSourceID, on: connection)
            case .update(let action, let rowID):
                _ = try await connection.execute(
                    "UPDATE dynamic_action_definitions SET class_name = $2, code_source_name = $3, scope = $4, updated_at = \(now) WHERE id = $1",
                    [.text(rowID), .text(action.className), .text(settings.codeSourceName), .text(settings.scope)]
                )
            case .delete(_, let rowID):
                _ = try await connection.execute("DELETE FROM dynamic_action_definitions WHERE id = $1", [.text(rowID)])
            case .replace(let action, let foreign):
                _ = try await connection.execute("DELETE FROM dynamic_action_definitions WHERE id = $1", [.text(foreign.id)])
                try await insertDefinition(action, codeSourceID: codeSourceID, on: connection)
                logger.warning("replaced an action definition that belonged to another code source", metadata: [
                    "action.name": "\(action.name)", "replaced.code_source": "\(foreign.codeSourceName)",
                    "replaced.class_name": "\(foreign.className)",
                ])
            case .unchanged, .skip:
                break
            }
        }
        return codeSourceID
    }

    func insertDefinition(_ action: DesiredAction, codeSourceID: String, on connection: PostgresConnection) async throws {
        _ = try await connection.execute(
            """
            INSERT INTO dynamic_action_definitions
                (id, name, class_name, scope, project_id, code_source_id, code_source_name, namespace, created_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, (now() AT TIME ZONE 'UTC'))
            """,
            [.text(UUID().uuidString.lowercased()), .text(action.name), .text(action.className), .text(settings.scope),
             .text(settings.projectID), .text(codeSourceID), .text(settings.codeSourceName), .text(settings.namespace)]
        )
    }
}

/// Why the action tables could not be synced.
public enum ActionSyncError: Error, Sendable, Equatable, CustomStringConvertible {
    case schemaMissing
    case unknownActions([String])
    /// Another session held the action-table lock for longer than the lock
    /// timeout. `holders` is empty when it let go before it could be named.
    case lockHeld(holders: [LockHolder], waited: Duration)

    /// A database session holding the action-table lock.
    public struct LockHolder: Sendable, Equatable, CustomStringConvertible {
        /// The server process id of the session (`pg_stat_activity.pid`).
        public var pid: Int32
        /// Its `application_name` (`mistral-actions` for this tool), when visible.
        public var applicationName: String?
        /// The client's address, when the server shows it to this user.
        public var clientAddress: String?

        public init(pid: Int32, applicationName: String? = nil, clientAddress: String? = nil) {
            self.pid = pid
            self.applicationName = applicationName
            self.clientAddress = clientAddress
        }

        public var description: String {
            var text = "pid \(pid)"
            if let applicationName, !applicationName.isEmpty { text += ", application \(applicationName)" }
            if let clientAddress, !clientAddress.isEmpty { text += ", client \(clientAddress)" }
            return text
        }
    }

    public var description: String {
        switch self {
        case .schemaMissing:
            return "Mistral's tables code_sources and dynamic_action_definitions are not in this database; check [database] connection, or run `mistral-db-manage upgrade head`"
        case .unknownActions(let names):
            return "no action named \(names.joined(separator: ", ")) in this binary (see `mistral-actions discover`)"
        case .lockHeld(let holders, let waited):
            let seconds = NumberOutOfRange.format(Seconds.seconds(of: waited))
            guard !holders.isEmpty else {
                return "another mistral-actions process held the action-table lock for more than \(seconds) s (lock_timeout) and has let go since; try again"
            }
            let who = holders.map { "(\($0))" }.joined(separator: ", ")
            let release = holders.map { "SELECT pg_terminate_backend(\($0.pid))" }.joined(separator: "; ")
            return "another mistral-actions process holds the action-table lock \(who); gave up after \(seconds) s (lock_timeout). "
                + "If it is stuck, ending its database session releases the lock: \(release)"
        }
    }
}

/// The wait for the action-table lock hit lock_timeout (turned into
/// ``ActionSyncError/lockHeld(holders:waited:)`` once the transaction is over).
struct LockWaitTimedOut: Error {}

/// The planner chose to keep a code source that the state read in the same
/// transaction does not have (a bug, reported instead of trapping).
struct SyncPlanMismatch: Error, CustomStringConvertible {
    var description: String { "internal error: the sync plan updates a code source that was not read" }
}
