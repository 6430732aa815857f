import Foundation
import OrderedJSON
import Testing

// Nested in the serialized Mistral suite: its workers compete with the
// other suites' workers on Mistral's one executor topic.
extension ExecutorEndToEndTests {
    /// `system.exec` run by real Mistral 23 (without authentication, as the
    /// local stack runs it) through a real worker process.
    @Suite("system.exec end to end")
    struct SystemExecEndToEndTests {
        let mistral = MistralAPI()

        static let execConfiguration = """
            exec_enabled = true
            exec_allowed_commands = echo, cat
            """

        @Test("requests of a Mistral without authentication are refused until <default-project> is listed, X-Roles: admin or not")
        func unauthenticatedMistralIsRefused() async throws {
            let worker = try await WorkerProcess.start(extraConfiguration: Self.execConfiguration)
            defer { worker.kill() }
            // An allowed cat would print the worker's own configuration, with
            // the database password. The test client sends `X-Roles: admin`,
            // which a Mistral without authentication copies into the context.
            let (state, output, info) = try await mistral.runAction(
                "int32bit.system.exec", input: ["cmd": .string("cat \(worker.configURL.path)")], params: ["run_sync": true])
            #expect(state == "ERROR", "\(worker.log)")
            let text = "\(output) \(info ?? "")"
            #expect(text.contains("system.exec is allowed only for requests with the admin role"), "\(text)")
            #expect(text.contains("was not authenticated by Keystone"), "\(text)")
            #expect(text.contains("counts as project <default-project>"), "\(text)")
            #expect(!text.contains("ma-secret"), "\(text)")
        }

        @Test("with <default-project> listed, commands run; control characters are refused and the worker keeps serving")
        func listedDefaultProjectRuns() async throws {
            let worker = try await WorkerProcess.start(
                extraConfiguration: Self.execConfiguration + "\nexec_allowed_projects = <default-project>")
            defer { worker.kill() }
            let (state, output, _) = try await mistral.runAction(
                "int32bit.system.exec", input: ["cmd": "echo 'hello world'"], params: ["run_sync": true])
            #expect(state == "SUCCESS", "\(output)")
            #expect(output == ["result": "hello world\n"])

            for (cmd, message) in [
                ("echo a\u{1B}]0;x\u{7}", "control character U+001B (escape) at character 7"),
                ("echo 'a\r\nb'", "control character U+000D (carriage return) at character 8"),
            ] {
                let (state, output, info) = try await mistral.runAction(
                    "int32bit.system.exec", input: ["cmd": .string(cmd)], params: ["run_sync": true])
                #expect(state == "ERROR")
                #expect("\(output) \(info ?? "")".contains(message), "\(output) \(info ?? "")")
                #expect(worker.process.isRunning, "\(worker.log)")
            }
            let (after, afterOutput, _) = try await mistral.runAction(
                "int32bit.system.exec", input: ["cmd": "echo still here"], params: ["run_sync": true])
            #expect(after == "SUCCESS")
            #expect(afterOutput == ["result": "still here\n"])
        }
    }
}
