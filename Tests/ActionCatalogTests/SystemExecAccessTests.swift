@testable import ActionCatalog
import ActionKit
import CommandRunner
import OrderedJSON
import OsloMessaging
import Testing

/// Who may run `system.exec`, read from the request's security context, and
/// the `timeout` input's range.
@Suite("system.exec access")
struct SystemExecAccessTests {
    static let policy = CommandPolicy(
        enabled: true, allowedCommands: ["echo", "sleep"], allowedProjects: ["ops-project"],
        timeout: .seconds(20), killGracePeriod: .milliseconds(500)
    )

    static let rule = """
        system.exec is allowed only for requests with the admin role or from the projects in \
        [mistral_actions] exec_allowed_projects
        """

    /// The context Mistral sends without authentication (see the protocol
    /// captures): no user, project, token or roles; `is_admin` false.
    static let unauthenticated = RequestContext(fields: [
        "user": nil, "project_id": nil, "is_admin": false, "auth_token": nil, "roles": [],
        "user_identity": "- - - - -", "project": nil, "expires_at": nil,
    ])

    /// What keystonemiddleware leaves in the context of a validated token.
    static let expiry: JSON = "2030-01-01T00:00:00.000000Z"

    static func tenant(_ project: String, roles: [JSON] = ["member"]) -> RequestContext {
        RequestContext(fields: [
            "user": "u-1", "project_id": .string(project), "roles": .array(roles), "auth_token": "gAAAA-token",
            "expires_at": expiry,
        ])
    }

    static let unauthenticatedMessage = rule + """
        ; this request was not authenticated by Keystone (its roles and project are whatever the API client sent), \
        so it counts as project <default-project>; list that project to let everyone who can reach Mistral's API \
        run commands
        """

    @Test("a request with the admin role in its security context runs the command")
    func adminRuns() async throws {
        let security = RequestContext(fields: [
            "user": "u-1", "project_id": "tenant-a", "roles": ["reader", "admin"], "expires_at": Self.expiry,
        ])
        #expect(try await SystemExecTests.run(["cmd": "echo hi"], policy: Self.policy, security: security) == "hi\n")
    }

    @Test("a request from a project in exec_allowed_projects runs the command")
    func listedProjectRuns() async throws {
        #expect(try await SystemExecTests.run(["cmd": "echo hi"], policy: Self.policy, security: Self.tenant("ops-project")) == "hi\n")
    }

    @Test("a request from another project is refused with the project and the option, before the command line is read")
    func otherProjectRefused() async throws {
        // An allowed command, and an invalid line: the requester is refused first.
        for cmd in ["echo hi", "echo $(id)"] {
            let message = try await SystemExecTests.failure(["cmd": .string(cmd)], policy: Self.policy, security: Self.tenant("tenant-a"))
            #expect(message == Self.rule + #"; project "tenant-a" is not listed"#)
        }
    }

    @Test("is_admin without the admin role does not admit a request")
    func isAdminFlagIgnored() async throws {
        var security = Self.tenant("tenant-a")
        security["is_admin"] = true
        let message = try await SystemExecTests.failure(["cmd": "echo hi"], policy: Self.policy, security: security)
        #expect(message == Self.rule + #"; project "tenant-a" is not listed"#)
    }

    @Test("a request from a Mistral without authentication is refused unless <default-project> is listed")
    func unauthenticatedRequests() async throws {
        let message = try await SystemExecTests.failure(["cmd": "echo hi"], policy: Self.policy, security: Self.unauthenticated)
        #expect(message == Self.unauthenticatedMessage)
        #expect(try await SystemExecTests.failure(["cmd": "echo hi"], policy: Self.policy, security: RequestContext()) == message)

        var listed = Self.policy
        listed.allowedProjects.append("<default-project>")
        #expect(try await SystemExecTests.run(["cmd": "echo hi"], policy: listed, security: Self.unauthenticated) == "hi\n")
        // Listing it does not admit an authenticated request without a project.
        let projectless = RequestContext(fields: ["user": "u-1", "auth_token": "t", "roles": ["member"], "expires_at": Self.expiry])
        #expect(try await SystemExecTests.failure(["cmd": "echo hi"], policy: listed, security: projectless)
            == Self.rule + "; this request has no project")
    }

    @Test("oslo's project key stands in for a missing project_id")
    func osloProjectKey() async throws {
        let security = RequestContext(fields: ["user": "u-1", "project": "ops-project", "roles": [], "expires_at": Self.expiry])
        #expect(try await SystemExecTests.run(["cmd": "echo hi"], policy: Self.policy, security: security) == "hi\n")
    }

    @Test("the admin role and a project sent as headers to a Mistral without authentication count for nothing")
    func forgedHeaders() async throws {
        // Without authentication Mistral copies X-Roles, X-Project-Id and
        // X-Auth-Token into the context unchecked; there is no expires_at.
        for security in [
            RequestContext(fields: ["user": "u-1", "project_id": "tenant-a", "roles": ["admin"], "auth_token": "anything"]),
            RequestContext(fields: ["user": nil, "project_id": "ops-project", "roles": [], "auth_token": nil, "expires_at": nil]),
            // A trust scope claimed without a token is not one Mistral made.
            RequestContext(fields: ["project_id": "ops-project", "is_trust_scoped": true, "trust_id": "t-1"]),
        ] {
            let message = try await SystemExecTests.failure(["cmd": "echo hi"], policy: Self.policy, security: security)
            #expect(message == Self.unauthenticatedMessage)
        }
    }

    @Test("a trust-scoped request (a cron trigger with authentication) from a listed project runs the command")
    func trustScoped() async throws {
        let security = RequestContext(fields: [
            "user": "u-1", "project_id": "ops-project", "roles": [], "auth_token": "gAAAA-trust-token",
            "is_trust_scoped": true, "trust_id": "trust-1", "expires_at": nil,
        ])
        #expect(try await SystemExecTests.run(["cmd": "echo hi"], policy: Self.policy, security: security) == "hi\n")
        var other = security
        other["project_id"] = "tenant-a"
        let message = try await SystemExecTests.failure(["cmd": "echo hi"], policy: Self.policy, security: other)
        #expect(message == Self.rule + #"; project "tenant-a" is not listed"#)
    }

    @Test("a NUL in cmd is refused with its position")
    func nulInCommand() async throws {
        let message = try await SystemExecTests.failure(["cmd": "echo hi\u{0}; rm -rf /"], policy: Self.policy)
        #expect(message == "control character U+0000 (NUL) at character 8 is not allowed in a command line")
    }

    @Test("a timeout that is NaN, infinite, zero, -0 or negative is refused", arguments: [
        Double.nan, .infinity, -.infinity, 0, -0.0, -1, -1e300, -.leastNonzeroMagnitude,
    ])
    func invalidTimeouts(_ timeout: Double) {
        let error = #expect(throws: ActionFailure.self) {
            try Exec.requestedTimeout(timeout, within: .seconds(60))
        }
        #expect(error?.description.hasPrefix("timeout must be a positive number of seconds, got ") == true)
    }

    @Test("a timeout at or beyond the policy's, up to 1e300 and the largest Double, means the policy's")
    func hugeTimeouts() throws {
        for timeout in [60, 60.0004, 1e9, 9.3e15, 9.3e18, 1e300, .greatestFiniteMagnitude] {
            #expect(try Exec.requestedTimeout(timeout, within: .seconds(60)) == nil, "\(timeout)")
        }
        // Even when the policy's own limit is as long as a Duration of whole seconds gets.
        #expect(try Exec.requestedTimeout(1e300, within: .seconds(Int64.max)) == nil)
        #expect(try Exec.requestedTimeout(1e12, within: .seconds(Int64.max)) == .seconds(1_000_000_000_000))
    }

    @Test("a small positive timeout is rounded to milliseconds, at least one")
    func smallTimeouts() throws {
        #expect(try Exec.requestedTimeout(0.3, within: .seconds(60)) == .milliseconds(300))
        #expect(try Exec.requestedTimeout(1e-300, within: .seconds(60)) == .milliseconds(1))
        #expect(try Exec.requestedTimeout(.leastNonzeroMagnitude, within: .seconds(60)) == .milliseconds(1))
        #expect(try Exec.requestedTimeout(nil, within: .seconds(60)) == nil)
    }

    @Test("timeout=1e300 through the action runs the command within the policy's timeout")
    func hugeTimeoutRuns() async throws {
        #expect(try await SystemExecTests.run(["cmd": "echo hi", "timeout": 1e300], policy: Self.policy) == "hi\n")
    }

    @Test("a timeout the input cannot represent (NaN, infinity) fails the action instead of trapping", arguments: [
        Double.nan, .infinity, -.infinity,
    ])
    func nonFiniteTimeoutInput(_ timeout: Double) async throws {
        await #expect(throws: (any Error).self) {
            try await SystemExecTests.run(["cmd": "echo hi", "timeout": .double(timeout)], policy: Self.policy)
        }
    }

    @Test("the duration helpers do not overflow on extreme durations")
    func durationHelpers() {
        #expect(Exec.milliseconds(.seconds(Int64.max)) == .max)
        #expect(Exec.milliseconds(.seconds(Int64.min)) == .min)
        #expect(Exec.milliseconds(.milliseconds(1500)) == 1500)
    }
}
