import CommandRunner
import Testing

/// Who may run commands: requests with the admin role, and the projects
/// the operator lists.
@Suite("Command admission")
struct CommandAdmissionTests {
    static let policy = CommandPolicy(enabled: true, allowedCommands: ["cat"], allowedProjects: ["ops-project"])

    static let rule = """
        system.exec is allowed only for requests with the admin role or from the projects in \
        [mistral_actions] exec_allowed_projects
        """

    static func refusal(_ requester: CommandPolicy.Requester, policy: CommandPolicy = policy) -> CommandError? {
        #expect(throws: CommandError.self) { try policy.admit(requester, subject: "system.exec") }
    }

    @Test("a request with the admin role is admitted, whatever its project and the role's case")
    func admin() throws {
        for roles in [["admin"], ["reader", "Admin"], ["ADMIN"]] {
            try Self.policy.admit(CommandPolicy.Requester(roles: roles, projectID: "tenant-a", isAuthenticated: true))
        }
        try Self.policy.admit(CommandPolicy.Requester(roles: ["admin"], projectID: nil, isAuthenticated: true))
    }

    @Test("a request from a listed project is admitted without the admin role")
    func listedProject() throws {
        try Self.policy.admit(CommandPolicy.Requester(roles: ["member"], projectID: "ops-project", isAuthenticated: true))
    }

    @Test("a request from another project is refused, naming the project and the option")
    func otherProject() {
        let error = Self.refusal(CommandPolicy.Requester(roles: ["member", "administrator"], projectID: "tenant-a", isAuthenticated: true))
        #expect(error?.code == .forbidden)
        #expect(error?.message == Self.rule + #"; project "tenant-a" is not listed"#)
    }

    @Test("project ids compare byte for byte")
    func projectBytes() {
        let policy = CommandPolicy(enabled: true, allowedCommands: ["cat"], allowedProjects: ["caf\u{E9}"])
        let error = Self.refusal(CommandPolicy.Requester(roles: [], projectID: "cafe\u{301}", isAuthenticated: true), policy: policy)
        #expect(error?.code == .forbidden)
    }

    static let unauthenticatedReason = """
        ; this request was not authenticated by Keystone (its roles and project are whatever the API client sent), \
        so it counts as project <default-project>; list that project to let everyone who can reach Mistral's API \
        run commands
        """

    @Test("an unauthenticated request (Mistral without authentication) is refused unless <default-project> is listed")
    func unauthenticated() throws {
        let anonymous = CommandPolicy.Requester(roles: [], projectID: nil, isAuthenticated: false)
        let error = Self.refusal(anonymous)
        #expect(error?.code == .forbidden)
        #expect(error?.message == Self.rule + Self.unauthenticatedReason)
        let listed = CommandPolicy(enabled: true, allowedCommands: ["cat"], allowedProjects: [CommandPolicy.unauthenticatedProject])
        #expect(try listed.admit(anonymous) == .listedProject("<default-project>"))
        // An authenticated request without a project does not count as <default-project>.
        let projectless = CommandPolicy.Requester(roles: ["member"], projectID: nil, isAuthenticated: true)
        let projectlessError = Self.refusal(projectless, policy: listed)
        #expect(projectlessError?.message == Self.rule + "; this request has no project")
    }

    @Test("the admin role or a listed project claimed by an unauthenticated request counts for nothing")
    func claimsWithoutAuthentication() {
        for requester in [
            CommandPolicy.Requester(roles: ["admin"], projectID: "tenant-a", isAuthenticated: false),
            CommandPolicy.Requester(roles: ["admin"], projectID: "ops-project", isAuthenticated: false),
        ] {
            let error = Self.refusal(requester)
            #expect(error?.code == .forbidden)
            #expect(error?.message == Self.rule + Self.unauthenticatedReason)
        }
    }

    @Test("admission says why: the admin role, or the listed project")
    func admissionReason() throws {
        #expect(try Self.policy.admit(CommandPolicy.Requester(roles: ["admin"], projectID: "ops-project", isAuthenticated: true)) == .adminRole)
        #expect(try Self.policy.admit(CommandPolicy.Requester(roles: [], projectID: "ops-project", isAuthenticated: true))
            == .listedProject("ops-project"))
    }

    @Test("the default policy refuses everyone, admins included, as disabled")
    func disabledFirst() {
        let error = Self.refusal(CommandPolicy.Requester(roles: ["admin"], projectID: "p", isAuthenticated: true), policy: CommandPolicy())
        #expect(error?.code == .disabled)
        #expect(error?.message == """
            system.exec is disabled: set [mistral_actions] exec_enabled = true and list the commands in exec_allowed_commands
            """)
    }

    @Test("with no project listed, only admin requests are admitted")
    func emptyProjectList() throws {
        let policy = CommandPolicy(enabled: true, allowedCommands: ["cat"])
        try policy.admit(CommandPolicy.Requester(roles: ["admin"], projectID: "p", isAuthenticated: true))
        #expect(Self.refusal(CommandPolicy.Requester(roles: [], projectID: "", isAuthenticated: true), policy: policy)?.code == .forbidden)
    }
}
