import Logging
import MistralActionsTestSupport
import OpenStackClient
import OrderedJSON
import Synchronization
import Testing

/// Log records kept in memory, to check what was logged.
final class LogRecorder: Sendable {
    struct Record: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: Logger.Metadata
    }

    private let storage = Mutex<[Record]>([])
    /// Moves with every record: waits for a log line wake on it.
    private let appended = AsyncCounter()

    var records: [Record] { storage.withLock { $0 } }

    func records(containing text: String) -> [Record] {
        records.filter { $0.message.contains(text) }
    }

    /// Waits until a message containing `text` was logged; `limit` only
    /// guards against a hang.
    func waitForRecord(containing text: String, limit: Duration = .seconds(60)) async throws {
        try await appended.waitUntil("a log message containing '\(text)'", limit: limit) {
            !self.records(containing: text).isEmpty
        }
    }

    /// Everything logged, as text, to look for secrets.
    var allText: String {
        records.map { "\($0.level) \($0.message) \($0.metadata)" }.joined(separator: "\n")
    }

    fileprivate func append(_ record: Record) {
        storage.withLock { $0.append(record) }
        appended.increment()
    }

    func logger(label: String = "test") -> Logger {
        var logger = Logger(label: label) { _ in Handler(recorder: self) }
        logger.logLevel = .trace
        return logger
    }

    private struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var merged = metadata
            merged.merge(event.metadata ?? [:]) { _, new in new }
            recorder.append(Record(level: event.level, message: "\(event.message)", metadata: merged))
        }
    }
}

/// A Keystone v3 token body like `POST /v3/auth/tokens` returns
/// (keystone api-ref project-scoped-password.json), with endpoints at `base`.
func tokenBody(
    base: String, projectID: String = "a6944d763bf64ee6a275f1263fae0352",
    expiresAt: String = "2999-11-07T02:58:43.578887Z",
    services: [(type: String, path: String)] = [
        ("compute", "/compute/v2.1"), ("block-storage", "/volume/v3/$(project_id)s"), ("image", "/image"),
        ("identity", "/identity/v3"),
    ]
) -> String {
    let catalog = services.enumerated().map { index, service in
        """
        {"endpoints": [
            {"id": "e\(index)a", "interface": "admin", "region": "RegionOne", "region_id": "RegionOne", "url": "http://admin.invalid\(service.path)"},
            {"id": "e\(index)p", "interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": "\(base)\(service.path)"}
         ],
         "id": "s\(index)", "type": "\(service.type)", "name": "\(service.type)-service"}
        """
    }.joined(separator: ",\n")
    return """
        {"token": {
            "methods": ["password"],
            "roles": [{"id": "51cc68287d524c759f47c811e6463340", "name": "admin"}],
            "expires_at": "\(expiresAt)",
            "project": {"domain": {"id": "default", "name": "Default"}, "id": "\(projectID)", "name": "admin"},
            "catalog": [\(catalog)],
            "user": {"domain": {"id": "default", "name": "Default"}, "id": "ee4dfb6e5540447cb3741905149d9b6e",
                     "name": "admin", "password_expires_at": null},
            "audit_ids": ["3T2dc1CGQxyJsHdDu1xkcw"],
            "issued_at": "2015-11-07T01:58:43.578929Z"
        }}
        """
}

func parseJSON(_ text: String) throws -> JSON {
    try JSON(parsing: text)
}

/// Fast settings for tests: short delays, few retries.
func testSettings(
    serviceCredentials: ServiceCredentials? = nil,
    requestTimeout: Duration = .seconds(5),
    connectTimeout: Duration = .seconds(2),
    maxRetries: Int = 3,
    maxConcurrentRequestsPerService: Int = 16
) -> OpenStackSettings {
    OpenStackSettings(
        serviceCredentials: serviceCredentials, requestTimeout: requestTimeout, connectTimeout: connectTimeout,
        maxRetries: maxRetries, retryBaseDelay: .milliseconds(10), maxRetryDelay: .seconds(2),
        maxConcurrentRequestsPerService: maxConcurrentRequestsPerService)
}

/// Runs `body` with a started server and a session, and stops both.
func withServer<Result>(
    settings: OpenStackSettings = testSettings(),
    recorder: LogRecorder = LogRecorder(),
    _ body: (ScriptedHTTPServer, OpenStackSession) async throws -> Result
) async throws -> Result {
    try await withServer(settings: { _ in settings }, recorder: recorder, body)
}

/// Like the other `withServer`, with settings that need the server's URL.
func withServer<Result>(
    settings: (ScriptedHTTPServer) -> OpenStackSettings,
    recorder: LogRecorder = LogRecorder(),
    _ body: (ScriptedHTTPServer, OpenStackSession) async throws -> Result
) async throws -> Result {
    let server = try await ScriptedHTTPServer.start()
    let session = OpenStackSession(settings: settings(server), logger: recorder.logger(label: "session"))
    do {
        let result = try await body(server, session)
        try await session.shutdown()
        try await server.stop()
        return result
    } catch {
        try? await session.shutdown()
        try? await server.stop()
        throw error
    }
}

/// Credentials with a token and a catalog whose endpoints are on `server`.
func userCredentials(
    _ server: ScriptedHTTPServer, token: String = "user-token-123", projectID: String = "p-1"
) throws -> OpenStackCredentials {
    let catalog = try #require(ServiceCatalog(json: try parseJSON(tokenBody(base: server.baseURL))))
    return OpenStackCredentials(authToken: token, projectID: projectID, catalog: catalog)
}

/// A value shared between test tasks.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) { mutex = Mutex(value) }

    func withLock<Result>(_ body: (inout Value) -> Result) -> Result {
        mutex.withLock { body(&$0) }
    }

    var value: Value { mutex.withLock { $0 } }
}

/// A logger that drops everything (tests that do not look at logs).
let quietLogger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
