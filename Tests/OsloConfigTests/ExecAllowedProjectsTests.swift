import OsloConfig
import Testing

@Suite("exec_allowed_projects")
struct ExecAllowedProjectsTests {
    @Test("by default no project is listed, so only admin requests may run local commands")
    func defaultIsEmpty() throws {
        let loaded = try Configuration.load(from: ConfigFiles([]), overrides: [])
        #expect(loaded.configuration.mistralActions.execAllowedProjects.isEmpty)
    }

    @Test("the option is a list of project ids, <default-project> included")
    func readAsList() throws {
        let files = ConfigFiles([
            try IniFile.parse(
                "[mistral_actions]\nexec_allowed_projects = 4f1c2e, ops-project, <default-project>\n", path: "/a.conf")
        ])
        let loaded = try Configuration.load(from: files, overrides: [])
        #expect(loaded.configuration.mistralActions.execAllowedProjects == ["4f1c2e", "ops-project", "<default-project>"])
        #expect(loaded.warnings.isEmpty)
    }
}
