import Logging
import OrderedJSON

/// The request (security) context that travels with every oslo RPC request
/// as flattened `_context_<name>` keys.
///
/// Mistral sends its `MistralContext.to_dict()` (33 keys, always the same
/// order; with Keystone it carries the user's token and service catalog). The
/// context keeps **all** keys with their values and order, exactly as
/// received, so that it re-encodes byte for byte onto the messages sent on
/// behalf of that request (the Python executor copies the incoming context
/// onto its `on_action_complete`). Typed accessors read the known keys;
/// unknown keys (`trace_info`, tracing propagation fields, ...) are kept.
///
/// Treat it as a secret: ``description`` and ``redactedFields`` hide tokens,
/// the service catalog and the trust id (see ``SecretRedaction``).
public struct RequestContext: Sendable, Hashable {
    /// The prefix of context keys in a message.
    public static let keyPrefix = "_context_"

    /// The members as they appear in a message: `_context_`-prefixed keys, in order.
    public private(set) var wireFields: JSONObject

    /// An empty context (no `_context_*` keys at all).
    public init() {
        wireFields = JSONObject()
    }

    /// A context from members named without the prefix (`["user": ..., "request_id": ...]`), in order.
    public init(fields: JSONObject) {
        var wire = JSONObject(minimumCapacity: fields.count)
        for (name, value) in fields {
            wire.updateValue(value, forKey: Self.keyPrefix + name)
        }
        wireFields = wire
    }

    /// A context from `_context_`-prefixed members; other keys are ignored.
    public init(wireFields: JSONObject) {
        self.wireFields = wireFields.filter { $0.key.hasPrefix(Self.keyPrefix) }
    }

    /// A context from members already known to be `_context_`-prefixed.
    init(prefixedFields: JSONObject) {
        self.wireFields = prefixedFields
    }

    /// Members named without the prefix, in order.
    public var fields: JSONObject {
        var result = JSONObject(minimumCapacity: wireFields.count)
        for (key, value) in wireFields {
            result.updateValue(value, forKey: String(key.dropFirst(Self.keyPrefix.count)))
        }
        return result
    }

    /// The number of members.
    public var count: Int { wireFields.count }

    /// The member `name` (without prefix). Setting replaces it in place or
    /// appends it; `nil` removes it.
    public subscript(name: String) -> JSON? {
        get { wireFields[Self.keyPrefix + name] }
        set { wireFields[Self.keyPrefix + name] = newValue }
    }

    // Typed accessors read the wire key directly (string literals, no
    // allocation). Missing keys and values of another type read as nil
    // (booleans as false).

    private func string(_ wireKey: String) -> String? { wireFields[wireKey]?.stringValue }
    private func flag(_ wireKey: String) -> Bool { wireFields[wireKey]?.boolValue ?? false }

    /// `user`: the user id.
    public var user: String? { string("_context_user") }
    /// `user_name`.
    public var userName: String? { string("_context_user_name") }
    /// `project_id`.
    public var projectID: String? { string("_context_project_id") }
    /// `project`: the project id as oslo.context names it (usually equal to ``projectID``).
    public var project: String? { string("_context_project") }
    /// `project_name`.
    public var projectName: String? { string("_context_project_name") }
    /// `domain`: the domain id.
    public var domain: String? { string("_context_domain") }
    /// `domain_name`.
    public var domainName: String? { string("_context_domain_name") }
    /// `user_domain`: the user's domain id.
    public var userDomain: String? { string("_context_user_domain") }
    /// `user_domain_name`.
    public var userDomainName: String? { string("_context_user_domain_name") }
    /// `project_domain`: the project's domain id.
    public var projectDomain: String? { string("_context_project_domain") }
    /// `project_domain_name`.
    public var projectDomainName: String? { string("_context_project_domain_name") }
    /// `system_scope`.
    public var systemScope: String? { string("_context_system_scope") }
    /// `roles`: the role names (non-string entries are skipped).
    public var roles: [String] { wireFields["_context_roles"]?.arrayValue?.compactMap(\.stringValue) ?? [] }
    /// `is_admin`.
    public var isAdmin: Bool { flag("_context_is_admin") }
    /// `is_admin_project`.
    public var isAdminProject: Bool { flag("_context_is_admin_project") }
    /// `read_only`.
    public var isReadOnly: Bool { flag("_context_read_only") }
    /// `show_deleted`.
    public var showDeleted: Bool { flag("_context_show_deleted") }
    /// `auth_token`: the Keystone token (secret).
    public var authToken: String? { string("_context_auth_token") }
    /// `auth_uri`: the Keystone endpoint (`""` without authentication).
    public var authURI: String? { string("_context_auth_uri") }
    /// `auth_cacert`.
    public var authCACert: String? { string("_context_auth_cacert") }
    /// `insecure`: skip TLS verification towards Keystone/OpenStack.
    public var isInsecure: Bool { flag("_context_insecure") }
    /// `service_catalog`: the token's catalog as sent (secret; `{}` or `null` without Keystone).
    public var serviceCatalog: JSON? { wireFields["_context_service_catalog"] }
    /// `region_name`.
    public var regionName: String? { string("_context_region_name") }
    /// `is_trust_scoped`.
    public var isTrustScoped: Bool { flag("_context_is_trust_scoped") }
    /// `trust_id` (secret).
    public var trustID: String? { string("_context_trust_id") }
    /// `expires_at`: the token expiry as sent (an ISO 8601 string or null).
    public var expiresAt: String? { string("_context_expires_at") }
    /// `is_target`.
    public var isTarget: Bool { flag("_context_is_target") }
    /// `redelivered`: Mistral's own redelivery flag (never set by Mistral 23).
    public var redelivered: Bool { flag("_context_redelivered") }
    /// `request_id` (`req-<uuid>`).
    public var requestID: String? { string("_context_request_id") }
    /// `global_request_id`.
    public var globalRequestID: String? { string("_context_global_request_id") }
    /// `resource_uuid`.
    public var resourceUUID: String? { string("_context_resource_uuid") }
    /// `user_identity` (`"- - - - -"` without authentication).
    public var userIdentity: String? { string("_context_user_identity") }
    /// `root_execution_id`: Mistral's root workflow execution.
    public var rootExecutionID: String? { string("_context_root_execution_id") }
    /// `trace_info`: osprofiler data, when profiling is on.
    public var traceInfo: JSON? { wireFields["_context_trace_info"] }

    /// The members without prefix, secrets replaced (see ``SecretRedaction``).
    public var redactedFields: JSONObject {
        SecretRedaction.redact(fields)
    }

    /// Non-secret identifiers for log metadata (`oslo.request_id`,
    /// `oslo.global_request_id`, `oslo.user`, `oslo.project_id`,
    /// `mistral.root_execution_id`), only those present.
    public var loggingMetadata: Logger.Metadata {
        var metadata: Logger.Metadata = [:]
        if let requestID { metadata["oslo.request_id"] = .string(requestID) }
        if let globalRequestID { metadata["oslo.global_request_id"] = .string(globalRequestID) }
        if let user { metadata["oslo.user"] = .string(user) }
        if let projectID { metadata["oslo.project_id"] = .string(projectID) }
        if let rootExecutionID { metadata["mistral.root_execution_id"] = .string(rootExecutionID) }
        return metadata
    }
}

extension RequestContext {
    /// The context a Mistral 23 service builds for its own periodic work
    /// (e.g. the executor's heartbeat sender): admin, no user, no token;
    /// the same 33 keys in the same order as `MistralContext.to_dict()`.
    public static func mistralAdmin(requestID: String = MessageID.generateRequestID()) -> RequestContext {
        RequestContext(fields: [
            "user": nil, "project_id": nil, "system_scope": nil, "project": nil, "domain": nil,
            "user_domain": nil, "project_domain": nil, "is_admin": true, "read_only": false,
            "show_deleted": false, "auth_token": nil, "request_id": .string(requestID),
            "global_request_id": nil, "resource_uuid": nil, "roles": [], "user_identity": "- - - - -",
            "is_admin_project": true, "user_name": nil, "project_name": nil, "domain_name": nil,
            "user_domain_name": nil, "project_domain_name": nil, "auth_uri": nil, "auth_cacert": nil,
            "insecure": false, "service_catalog": nil, "region_name": nil, "is_trust_scoped": false,
            "redelivered": false, "expires_at": nil, "trust_id": nil, "is_target": false,
            "root_execution_id": nil,
        ])
    }
}

extension RequestContext: CustomStringConvertible, CustomDebugStringConvertible {
    /// The members as compact JSON with secrets redacted.
    public var description: String {
        "RequestContext(" + JSON.object(redactedFields).description + ")"
    }

    /// Same as ``description``: secrets are never printed.
    public var debugDescription: String { description }
}
