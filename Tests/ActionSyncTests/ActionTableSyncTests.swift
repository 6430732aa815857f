import ActionKit
import ActionSync
import Foundation
import Logging
import MistralActionsTestSupport
import OrderedJSON
import PostgresClient
import Testing

struct SyncAlpha: MistralAction {
    static let name = "sync.things.alpha"
    static let description = "Alpha."
    @Parameter var value: String
    init() {}
    func run(context: ActionContext) async throws -> JSON { .null }
}

struct SyncBeta: MistralAction {
    static let name = "sync.things.beta"
    static let description = "Beta."
    @Parameter(default: 1) var count: Int
    init() {}
    func run(context: ActionContext) async throws -> JSON { .null }
}

struct SyncBetaReworded: MistralAction {
    static let name = "sync.things.beta"
    static let description = "Beta, described differently."
    @Parameter(default: 1) var count: Int
    init() {}
    func run(context: ActionContext) async throws -> JSON { .null }
}

/// A name longer than Mistral's varchar(255): inserting it fails mid-sync.
struct SyncTooLong: MistralAction {
    static let name = "sync.things." + String(repeating: "x", count: 300)
    static let description = "Cannot be stored."
    init() {}
    func run(context: ActionContext) async throws -> JSON { .null }
}

/// The sync against Mistral's real schema (created by mistral-db-manage in
/// the `mistral` database by scripts/mistral.sh). Each test uses its own
/// prefix and code source name, so it never touches other rows.
@Suite("Action-table sync on Mistral's schema")
struct ActionTableSyncTests {
    static var databaseURL: String { TestEnvironment.mistralDatabaseURL }
    let logger = Logger(label: "sync-tests")

    func sync(_ types: [any MistralAction.Type], tag: String) throws -> ActionTableSync {
        ActionTableSync(
            registry: try ActionRegistry(types),
            settings: .init(prefix: "t\(tag)", codeSourceName: "sync_test_\(tag)"),
            generator: "sync tests",
            // The lock is one per database, and other suites' workers register
            // on this database at the same time: on a loaded machine the queue
            // for it can pass the 10 s default (a worker retries then; these
            // tests check what a sync writes, not how long it waits). The
            // timeout itself is tested in RegistrationRetryTests.
            lockTimeout: .seconds(120)
        )
    }

    func withConnection<T>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        let connection = try await PostgresConnection.connect(to: Self.databaseURL, logger: logger)
        do {
            let result = try await body(connection)
            await connection.close()
            return result
        } catch {
            await connection.close()
            throw error
        }
    }

    func rows(_ connection: PostgresConnection, tag: String) async throws -> (versions: [Int], names: [String], updated: [String]) {
        let sources = try await connection.query(
            "SELECT version, coalesce(updated_at::text, '') AS updated FROM code_sources WHERE name = $1", [.text("sync_test_\(tag)")]
        )
        let definitions = try await connection.query(
            "SELECT name, coalesce(updated_at::text, '') AS updated FROM dynamic_action_definitions WHERE code_source_name = $1 OR name LIKE $2 ORDER BY name",
            [.text("sync_test_\(tag)"), .text("t\(tag).%")]
        )
        return (
            try sources.map { try $0.decode("version", as: Int.self) },
            try definitions.map { try $0.decode("name", as: String.self) },
            try sources.map { try $0.decode("updated", as: String.self) } + definitions.map { try $0.decode("updated", as: String.self) }
        )
    }

    /// Runs `body`, then removes the test's rows whatever happened.
    func cleaningUp(_ tag: String, _ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch {
            try? await cleanUp(tag)
            throw error
        }
        try await cleanUp(tag)
    }

    func cleanUp(_ tag: String) async throws {
        try await withConnection { connection in
            _ = try await connection.execute("DELETE FROM dynamic_action_definitions WHERE name LIKE $1", [.text("t\(tag).%")])
            _ = try await connection.execute("DELETE FROM code_sources WHERE name = $1 OR name = $2", [.text("sync_test_\(tag)"), .text("foreign_\(tag)")])
        }
    }

    @Test("first run creates; second changes nothing; a change bumps the version; a removed action is deleted")
    func lifecycle() async throws {
        let tag = String(UUID().uuidString.prefix(8)).lowercased()
        try await cleaningUp(tag) { try await withConnection { connection in
            let first = try await sync([SyncAlpha.self, SyncBeta.self], tag: tag).sync(on: connection, logger: logger)
            #expect(first.plan.codeSource == .create)
            var state = try await rows(connection, tag: tag)
            #expect(state.versions == [1])
            #expect(state.names == ["t\(tag).sync.things.alpha", "t\(tag).sync.things.beta"])

            let second = try await sync([SyncAlpha.self, SyncBeta.self], tag: tag).sync(on: connection, logger: logger)
            #expect(second.plan.isEmpty)
            let unchanged = try await rows(connection, tag: tag)
            #expect(unchanged.versions == [1])
            #expect(unchanged.updated == state.updated, "nothing may be written when nothing changed")

            let reworded = try await sync([SyncAlpha.self, SyncBetaReworded.self], tag: tag).sync(on: connection, logger: logger)
            #expect(reworded.plan.codeSource == .update(fromVersion: 1, toVersion: 2))
            state = try await rows(connection, tag: tag)
            #expect(state.versions == [2])

            _ = try await sync([SyncAlpha.self], tag: tag).sync(on: connection, logger: logger)
            state = try await rows(connection, tag: tag)
            #expect(state.names == ["t\(tag).sync.things.alpha"])
            #expect(state.versions == [3])
        } }
    }

    @Test("a foreign definition of the same name is left alone, or replaced with override")
    func foreignRows() async throws {
        let tag = String(UUID().uuidString.prefix(8)).lowercased()
        try await cleaningUp(tag) { try await withConnection { connection in
            let foreignSource = UUID().uuidString.lowercased()
            _ = try await connection.execute(
                "INSERT INTO code_sources (id, name, project_id, namespace, content, version, scope, created_at) VALUES ($1, $2, '<default-project>', '', $3, 1, 'public', now())",
                // A valid module: Mistral lists every dynamic action, and a class
                // missing from its module would break the listing for everyone.
                [.text(foreignSource), .text("foreign_\(tag)"),
                 .text("from mistral_lib import actions\n\n\nclass Theirs(actions.Action):\n    def run(self, context):\n        return None\n")]
            )
            _ = try await connection.execute(
                "INSERT INTO dynamic_action_definitions (id, name, class_name, scope, project_id, code_source_id, code_source_name, namespace, created_at) VALUES ($1, $2, 'Theirs', 'public', '<default-project>', $3, $4, '', now())",
                [.text(UUID().uuidString.lowercased()), .text("t\(tag).sync.things.alpha"), .text(foreignSource), .text("foreign_\(tag)")]
            )
            let plain = try await sync([SyncAlpha.self], tag: tag).sync(on: connection, logger: logger)
            #expect(plain.plan.skipped == ["t\(tag).sync.things.alpha"])
            let owner = try await connection.query("SELECT class_name FROM dynamic_action_definitions WHERE name = $1", [.text("t\(tag).sync.things.alpha")])
            #expect(try owner.map { try $0.decode("class_name", as: String.self) } == ["Theirs"])

            let overriding = try await sync([SyncAlpha.self], tag: tag).sync(on: connection, override: true, logger: logger)
            #expect(overriding.plan.actions.contains { if case .replace = $0 { return true } else { return false } })
            let replaced = try await connection.query("SELECT class_name FROM dynamic_action_definitions WHERE name = $1", [.text("t\(tag).sync.things.alpha")])
            #expect(try replaced.map { try $0.decode("class_name", as: String.self) } == ["SyncThingsAlphaAction"])
        } }
    }

    @Test("four workers registering at once leave one consistent result")
    func concurrentRegistration() async throws {
        let tag = String(UUID().uuidString.prefix(8)).lowercased()
        try await cleaningUp(tag) {
            let synchronizer = try sync([SyncAlpha.self, SyncBeta.self], tag: tag)
            let logger = self.logger
            let url = Self.databaseURL
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        let connection = try await PostgresConnection.connect(to: url, logger: logger)
                        _ = try await synchronizer.sync(on: connection, logger: logger)
                        await connection.close()
                    }
                }
                try await group.waitForAll()
            }
            try await withConnection { connection in
                let state = try await rows(connection, tag: tag)
                #expect(state.versions == [1])
                #expect(state.names == ["t\(tag).sync.things.alpha", "t\(tag).sync.things.beta"])
            }
        }
    }

    @Test("a failure in the middle of a sync leaves the tables as they were")
    func failureRollsBack() async throws {
        let tag = String(UUID().uuidString.prefix(8)).lowercased()
        try await cleaningUp(tag) { try await withConnection { connection in
            _ = try await sync([SyncAlpha.self], tag: tag).sync(on: connection, logger: logger)
            let before = try await rows(connection, tag: tag)
            await #expect(throws: PostgresError.self) {
                _ = try await sync([SyncAlpha.self, SyncBeta.self, SyncTooLong.self], tag: tag).sync(on: connection, logger: logger)
            }
            let after = try await rows(connection, tag: tag)
            #expect(after.versions == before.versions)
            #expect(after.names == before.names)
            #expect(after.updated == before.updated)
        } }
    }
}
