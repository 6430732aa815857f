import Logging
import OrderedJSON
import OsloMessaging
import Testing

@Suite struct RequestContextTests {
    static let keystoneContext = RequestContext(fields: [
        "user": "u-123", "project_id": "p-456", "project": "p-456", "domain": nil, "is_admin": false,
        "auth_token": "gAAAAABsecret-token", "request_id": "req-1", "global_request_id": "req-g",
        "roles": ["member", "reader", 5], "user_name": "alice", "project_name": "demo",
        "auth_uri": "http://keystone:5000/v3", "auth_cacert": "/etc/ssl/ca.pem", "insecure": true,
        "service_catalog": [["type": "identity", "endpoints": [["url": "http://keystone:5000"]]]],
        "region_name": "RegionOne", "is_trust_scoped": true, "trust_id": "trust-789",
        "expires_at": "2026-11-25T02:00:00.000000Z", "redelivered": true,
        "root_execution_id": "root-1", "trace_info": ["hmac_key": "SECRET_KEY", "base_id": "b"],
        "x_admin_password": "hunter2", "client_secret": "s3cr3t", "note": "visible",
    ])

    @Test func typedAccessors() {
        let context = Self.keystoneContext
        #expect(context.user == "u-123")
        #expect(context.projectID == "p-456")
        #expect(context.project == "p-456")
        #expect(context.domain == nil)
        #expect(context.isAdmin == false)
        #expect(context.authToken == "gAAAAABsecret-token")
        #expect(context.requestID == "req-1")
        #expect(context.globalRequestID == "req-g")
        #expect(context.roles == ["member", "reader"])
        #expect(context.userName == "alice")
        #expect(context.projectName == "demo")
        #expect(context.authURI == "http://keystone:5000/v3")
        #expect(context.authCACert == "/etc/ssl/ca.pem")
        #expect(context.isInsecure)
        #expect(context.serviceCatalog?[0]?["type"] == "identity")
        #expect(context.regionName == "RegionOne")
        #expect(context.isTrustScoped)
        #expect(context.trustID == "trust-789")
        #expect(context.expiresAt == "2026-11-25T02:00:00.000000Z")
        #expect(context.redelivered)
        #expect(context.rootExecutionID == "root-1")
        #expect(context.traceInfo?["base_id"] == "b")
        #expect(context["note"] == "visible")
        #expect(context.isTarget == false)
        #expect(context.isAdminProject == false)
    }

    @Test func keepsAllKeysInOrder() {
        var context = Self.keystoneContext
        #expect(context.fields.keys.first == "user")
        #expect(context.fields.keys.last == "note")
        #expect(context.wireFields.keys.first == "_context_user")
        context["user"] = "other"
        #expect(context.fields.keys.first == "user")
        context["new_key"] = 1
        #expect(context.fields.keys.last == "new_key")
        context["new_key"] = nil
        #expect(context.fields.keys.last == "note")
        #expect(RequestContext(wireFields: ["_context_a": 1, "method": "x"]).fields == ["a": 1])
    }

    @Test func descriptionRedactsSecrets() {
        let context = Self.keystoneContext
        let text = context.description
        for secret in ["gAAAAABsecret-token", "trust-789", "keystone:5000\"}", "identity", "SECRET_KEY", "hunter2", "s3cr3t"] {
            #expect(!text.contains(secret), "\(secret) leaked: \(text)")
        }
        #expect(text.contains("\"auth_token\":\"***\""))
        #expect(text.contains("\"service_catalog\":\"***\""))
        #expect(text.contains("\"trust_id\":\"***\""))
        #expect(text.contains("\"trace_info\":{\"hmac_key\":\"***\",\"base_id\":\"b\"}"))
        #expect(text.contains("\"request_id\":\"req-1\""))
        #expect(text.contains("\"note\":\"visible\""))
        #expect(text.contains("\"domain\":null"))
        #expect(String(reflecting: context) == text)
        #expect("\(context)" == text)
        // A null secret stays null: "no token" is worth seeing.
        #expect(RequestContext(fields: ["auth_token": nil]).description == #"RequestContext({"auth_token":null})"#)
    }

    @Test(arguments: [
        ("auth_token", true), ("_context_auth_token", true), ("service_catalog", true), ("_context_trust_id", true),
        ("password", true), ("admin_password", true), ("PASSWORD", true), ("db_passwd", true), ("client_secret", true),
        ("secret_key", true), ("X-Auth-Token", true), ("token", true), ("credentials", true), ("ssh_private_key", true),
        ("api_key", true), ("passphrase", true), ("hmac_key", true), ("aws_access_key", true),
        ("user", false), ("trust", false), ("is_trust_scoped", false), ("auth_uri", false), ("request_id", false),
        ("roles", false), ("catalog", false), ("key", false),
    ])
    func secretKeys(key: String, secret: Bool) {
        #expect(SecretRedaction.isSecret(key: key) == secret, "\(key)")
    }

    @Test func redactionReachesNestedValues() {
        let value: JSON = ["args": ["auth": ["password": "p", "user": "u"], "list": [["token": "t"], ["ok": 1]]]]
        #expect(SecretRedaction.redact(value) == ["args": ["auth": ["password": "***", "user": "u"], "list": [["token": "***"], ["ok": 1]]]])
    }

    @Test func loggingMetadataHasNoSecrets() {
        let metadata = Self.keystoneContext.loggingMetadata
        #expect(metadata["oslo.request_id"] == "req-1")
        #expect(metadata["oslo.global_request_id"] == "req-g")
        #expect(metadata["oslo.user"] == "u-123")
        #expect(metadata["oslo.project_id"] == "p-456")
        #expect(metadata["mistral.root_execution_id"] == "root-1")
        #expect(metadata.count == 5)
    }

    @Test func mistralAdminContextMatchesCapturedHeartbeat() throws {
        // Scenario 05: the periodic heartbeat (second report_running_actions) uses the admin context.
        let heartbeats = try Fixtures.events(in: "05-long-action.jsonl").filter {
            $0.kind == "publish" && $0.decoded["msg"]?["method"] == "report_running_actions"
        }
        let periodic = try RPCRequest(decodingBody: heartbeats[1].bodyBytes)
        let requestID = try #require(periodic.context.requestID)
        let ours = RequestContext.mistralAdmin(requestID: requestID)
        #expect(ours.wireFields.isIdentical(to: periodic.context.wireFields))
        #expect(RequestContext.mistralAdmin().requestID?.hasPrefix("req-") == true)
        #expect(RequestContext.mistralAdmin().requestID?.count == 40)
    }
}
