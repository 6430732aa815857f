import Logging
import OrderedJSON

// PUBLIC API CONTRACT (implementation to be filled in): the catalog actions
// are written against these signatures.

/// The worker's one HTTP client for OpenStack: connections are reused across
/// actions, requests to one service endpoint are limited, service tokens
/// are cached. Shut it down once, when the worker stops.
public final class OpenStackSession: Sendable {
    public let settings: OpenStackSettings

    public init(settings: OpenStackSettings, logger: Logger) {
        self.settings = settings
        fatalError("not implemented")
    }

    /// Closes the connections. Requests after this fail.
    public func shutdown() async throws {
        fatalError("not implemented")
    }

    /// A client acting with `credentials`. `region` is the action's own
    /// `action_region` input, which wins over the request's region and the
    /// configured default.
    public func client(credentials: OpenStackCredentials, region: String? = nil, logger: Logger) -> OpenStackClient {
        fatalError("not implemented")
    }
}

/// Calls OpenStack services on behalf of one request's credentials.
public struct OpenStackClient: Sendable {
    /// Sends the request (resolving the endpoint, adding the token and
    /// the microversion, retrying idempotent calls) and returns a 2xx
    /// answer.
    ///
    /// - Throws: ``OpenStackError`` for any non-2xx answer and any failure;
    ///   `CancellationError` when the task is cancelled.
    public func send(_ request: OpenStackRequest) async throws -> OpenStackResponse {
        fatalError("not implemented")
    }

    /// The endpoint URL the client uses for a service (after region,
    /// interface and `$(project_id)s` substitution), without a trailing `/`.
    public func endpoint(for service: OpenStackService) async throws -> String {
        fatalError("not implemented")
    }
}

extension OpenStackClient {
    public func get(
        _ service: OpenStackService, _ path: String, query: [(name: String, value: String)] = [],
        microversion: String? = nil
    ) async throws -> OpenStackResponse {
        try await send(OpenStackRequest("GET", service, path, query: query, microversion: microversion))
    }

    public func post(
        _ service: OpenStackService, _ path: String, body: JSON?, microversion: String? = nil
    ) async throws -> OpenStackResponse {
        try await send(OpenStackRequest("POST", service, path, body: body, microversion: microversion))
    }

    public func delete(_ service: OpenStackService, _ path: String, microversion: String? = nil) async throws -> OpenStackResponse {
        try await send(OpenStackRequest("DELETE", service, path, microversion: microversion))
    }
}
