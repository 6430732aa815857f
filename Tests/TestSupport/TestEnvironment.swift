import Foundation
import Logging

/// Where the servers the integration tests talk to are: environment variables
/// with loopback defaults (`scripts/local-services.sh env`, `scripts/mistral.sh`,
/// `scripts/simulator.sh`, `scripts/python-env.sh`). Test targets add their own
/// members (a client configuration, the binary under test) in an extension.
public enum TestEnvironment {
    public static var variables: [String: String] { ProcessInfo.processInfo.environment }

    // MARK: RabbitMQ

    /// `MA_TEST_AMQP_URL`: the broker of `scripts/local-services.sh`.
    public static var amqpURL: String {
        variables["MA_TEST_AMQP_URL"] ?? "rabbit://guest:guest@127.0.0.1:26672/"
    }

    /// `MA_TEST_AMQP_TLS_PORT`: the broker's TLS listener.
    public static var amqpTLSPort: Int {
        variables["MA_TEST_AMQP_TLS_PORT"].flatMap { Int($0) } ?? 26671
    }

    /// `MA_TEST_TLS_DIR`: the CA, certificates and keys the TLS listener uses.
    public static var tlsDirectory: String {
        variables["MA_TEST_TLS_DIR"] ?? "/var/tmp/mistral-actions-\(getuid())/tls"
    }

    /// `MA_TEST_DISRUPTIVE=1` allows tests that stop or restart the broker.
    public static var disruptive: Bool {
        variables["MA_TEST_DISRUPTIVE"] == "1"
    }

    /// `MA_TEST_RABBITMQCTL`: the command that runs rabbitmqctl against the
    /// test broker (split at spaces); by default through `scripts/local-services.sh`.
    public static var rabbitmqctl: [String] {
        if let command = variables["MA_TEST_RABBITMQCTL"], !command.isEmpty {
            return command.split(separator: " ").map(String.init)
        }
        return [script("local-services.sh"), "rabbitmqctl"]
    }

    // MARK: PostgreSQL and Mistral

    /// `MA_TEST_POSTGRES_URL`: a database without Mistral's tables.
    public static var postgresURL: String {
        variables["MA_TEST_POSTGRES_URL"] ?? "postgresql://mistral_actions:ma-secret@127.0.0.1:26432/mistral_actions_test"
    }

    /// `MA_TEST_MISTRAL_DATABASE_URL`: Mistral's database (schema made by mistral-db-manage).
    public static var mistralDatabaseURL: String {
        variables["MA_TEST_MISTRAL_DATABASE_URL"] ?? "postgresql://mistral_actions:ma-secret@127.0.0.1:26432/mistral"
    }

    /// `MA_TEST_MISTRAL_URL`: Mistral's REST API.
    public static var mistralURL: String { variables["MA_TEST_MISTRAL_URL"] ?? "http://127.0.0.1:28989/v2" }

    /// `MA_TEST_FALLBACK_TOPIC`: the Python executor's topic in router mode.
    public static var fallbackTopic: String { variables["MA_TEST_FALLBACK_TOPIC"] ?? "mistral_executor_python" }

    /// `MA_TEST_SIMULATOR_URL`: the OpenStack simulator (`scripts/simulator.sh`).
    public static var simulatorURL: String { variables["MA_TEST_SIMULATOR_URL"] ?? "http://127.0.0.1:28500" }

    // MARK: The source tree and Python

    /// The package root, found from this file's path (Tests/TestSupport/…).
    public static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The path of `scripts/<name>`.
    public static func script(_ name: String) -> String {
        packageRoot.appendingPathComponent("scripts").appendingPathComponent(name).path
    }

    /// `MA_VENV`: the Python virtual environment with oslo.messaging, kombu
    /// and mistral_lib (`scripts/python-env.sh`); `.venv` in the package root by default.
    public static var venv: URL {
        if let path = variables["MA_VENV"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return packageRoot.appendingPathComponent(".venv")
    }

    /// The virtual environment's interpreter.
    public static var python: String { venv.appendingPathComponent("bin/python").path }

    // MARK: Names and logs

    /// `<prefix>_<purpose>_<12 hex digits>`: a name no other test (or test run)
    /// uses, valid as a queue, exchange, SQL identifier or connection name.
    public static func uniqueName(_ purpose: String, prefix: String = "test") -> String {
        let hex = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        return "\(prefix)_\(purpose)_\(hex.prefix(12))"
    }

    /// `MA_TEST_LOG_LEVEL`: the level from which tests show what the code
    /// under test logs (nil: unset or not a level).
    public static var logLevel: Logger.Level? {
        variables["MA_TEST_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) }
    }
}
