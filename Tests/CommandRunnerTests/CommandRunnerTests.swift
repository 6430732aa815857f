import CommandRunner
import Foundation
import Testing

@Suite("Running commands")
struct CommandRunnerTests {
    // MARK: Output and status

    @Test("echo's output is returned")
    func echo() async throws {
        let result = try await run("echo hello 'big world'")
        #expect(result.standardOutput == "hello big world\n")
        #expect(result.standardError == "")
        #expect(result.termination == .exited(0))
        #expect(result.succeeded)
        #expect(!result.timedOut && !result.standardOutputTruncated && !result.standardErrorTruncated)
        #expect(result.stages.map(\.command.arguments) == [["echo", "hello", "big world"]])
        #expect(result.stages[0].command.executable.hasSuffix("/echo"))
    }

    @Test("printf gets its arguments unchanged")
    func printf() async throws {
        let result = try await run(#"printf '%s-%s|' a 'b c' "d\"e" \$x"#)
        #expect(result.standardOutput == #"a-b c|d"e-$x|"#)
    }

    @Test("a pipeline connects its stages")
    func pipeline() async throws {
        let result = try await run(#"printf 'a\nb\n' | wc -l"#)
        #expect(result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == "2")
        #expect(result.stages.map(\.termination) == [.exited(0), .exited(0)])
        #expect(result.succeeded)
    }

    @Test("a pipeline of three stages")
    func threeStages() async throws {
        let result = try await run("seq 1 100 | grep 7 | wc -l")
        #expect(result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == "19")
        #expect(result.stages.count == 3)
    }

    @Test("a non-zero exit status is reported with standard error")
    func nonZeroExit() async throws {
        let result = try await run("sh -c 'echo out; echo oops >&2; exit 3'")
        #expect(result.termination == .exited(3))
        #expect(result.termination.description == "exit status 3")
        #expect(result.standardOutput == "out\n")
        #expect(result.standardError == "oops\n")
        #expect(result.failedStage == 0)
        #expect(!result.succeeded)
    }

    @Test("a failing first stage fails the pipeline (pipefail) though the last succeeds")
    func failingFirstStage() async throws {
        let result = try await run("sh -c 'echo partial; exit 2' | cat")
        #expect(result.stages.map(\.termination) == [.exited(2), .exited(0)])
        #expect(result.termination == .exited(0))
        #expect(result.failedStage == 0)
        #expect(!result.succeeded)
        #expect(result.standardOutput == "partial\n")
    }

    @Test("standard error of every stage is collected")
    func standardErrorOfAllStages() async throws {
        let result = try await run("sh -c 'echo one >&2; echo data' | sh -c 'cat; echo two >&2'")
        #expect(result.standardOutput == "data\n")
        #expect(result.standardError.split(separator: "\n").sorted() == ["one", "two"])
    }

    @Test("a signal that ends a command is reported")
    func signal() async throws {
        let result = try await run("sh -c 'kill -TERM $$'")
        #expect(result.termination == .signaled(SIGTERM))
        #expect(result.termination.description == "signal 15 (SIGTERM)")
        #expect(result.failedStage == 0)
    }

    @Test("an earlier stage ended by SIGPIPE does not fail the pipeline (signals start at their defaults)")
    func brokenPipe() async throws {
        let result = try await run("yes | head -n 1")
        #expect(result.standardOutput == "y\n")
        #expect(result.stages.map(\.termination) == [.signaled(SIGPIPE), .exited(0)])
        #expect(result.failedStage == nil)
        #expect(result.succeeded)
    }

    @Test("standard input is /dev/null, so cat ends at once")
    func standardInputIsEmpty() async throws {
        let result = try await run("cat", timeout: .seconds(600))
        #expect(result.standardOutput == "")
        #expect(result.succeeded)
        #expect(result.duration < .seconds(120))
        let link = try await run("readlink /proc/self/fd/0")
        #expect(link.standardOutput == "/dev/null\n")
    }

    @Test("the environment holds only PATH, LANG and what is added")
    func minimalEnvironment() async throws {
        let minimal = try await run("env")
        #expect(minimal.standardOutput.split(separator: "\n").sorted() == [
            "LANG=C.UTF-8", "PATH=\(CommandPolicy.defaultSearchPath)",
        ])
        let policy = CommandPolicy(environment: ["TZ": "UTC"])
        let added = try await run("env", environment: policy.commandEnvironment)
        #expect(added.standardOutput.split(separator: "\n").sorted() == [
            "LANG=C.UTF-8", "PATH=\(CommandPolicy.defaultSearchPath)", "TZ=UTC",
        ])
    }

    @Test("no descriptor of the worker reaches the command")
    func descriptorsAreClosed() async throws {
        let result = try await run("ls /proc/self/fd")
        // 0-2, and the descriptor ls opened to list the directory.
        #expect(result.standardOutput.split(separator: "\n").count <= 4, "\(result.standardOutput)")
    }

    // MARK: Output limit

    @Test("output beyond the limit is read and discarded, and the run completes promptly")
    func outputLimit() async throws {
        let result = try await run("head -c 5000000 /dev/zero", timeout: .seconds(600), outputLimit: 1000)
        #expect(result.standardOutput.utf8.count == 1000)
        #expect(result.standardOutputTruncated)
        #expect(!result.standardErrorTruncated)
        #expect(result.succeeded)
        #expect(result.duration < .seconds(120))
    }

    @Test("standard error has its own limit")
    func errorLimit() async throws {
        let result = try await run("sh -c 'head -c 100000 /dev/zero >&2; echo done'", outputLimit: 10)
        #expect(result.standardError.utf8.count == 10)
        #expect(result.standardErrorTruncated)
        #expect(result.standardOutput == "done\n")
        #expect(!result.standardOutputTruncated)
    }

    @Test("output larger than a pipe's buffer but within the limit is kept whole")
    func largeOutput() async throws {
        let result = try await run("head -c 300000 /dev/zero", outputLimit: 300_000)
        #expect(result.standardOutput.utf8.count == 300_000)
        #expect(!result.standardOutputTruncated)
    }

    @Test("output that is not UTF-8 is decoded lossily")
    func invalidUTF8() async throws {
        let result = try await run(#"printf 'a\377b'"#)
        #expect(result.standardOutput == "a\u{FFFD}b")
    }

    // MARK: Timeout, leftovers, cancellation

    @Test("a timeout kills the whole process group, grandchildren included")
    func timeoutKillsGroup() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let file = "\(directory.path)/pids"
        let result = try await run(
            "sh -c 'sleep 1000 & echo $! > \(file); sleep 1000 & echo $! >> \(file); wait'",
            timeout: .milliseconds(500), killGracePeriod: .milliseconds(500)
        )
        #expect(result.timedOut)
        #expect(!result.succeeded)
        #expect(result.termination == .signaled(SIGTERM))
        // Loose bounds: a loaded CI machine is slow, but nowhere near the commands' 1000 s.
        #expect(result.duration < .seconds(120))
        let sleepers = try await processIDs(in: file, count: 2)
        #expect(sleepers.count == 2)
        #expect(try await waitUntilGone(sleepers))
    }

    @Test("processes that ignore SIGTERM get SIGKILL after the grace period")
    func killAfterGrace() async throws {
        let clock = ContinuousClock()
        let start = clock.now
        let result = try await run(
            "sh -c 'trap \"\" TERM; sleep 1000'",
            timeout: .milliseconds(300), killGracePeriod: .milliseconds(300)
        )
        #expect(result.timedOut)
        #expect(result.termination == .signaled(SIGKILL))
        #expect(clock.now - start >= .milliseconds(600))
        // Loose bounds: a loaded CI machine is slow, but nowhere near the commands' 1000 s.
        #expect(result.duration < .seconds(120))
    }

    @Test("processes left in the background are killed once the command has exited")
    func leftoversAreKilled() async throws {
        let result = try await run(
            "sh -c 'sleep 1000 & echo $!'", timeout: .seconds(600), pipeGracePeriod: .milliseconds(200)
        )
        #expect(!result.timedOut)
        #expect(result.succeeded)
        // Loose bounds: a loaded CI machine is slow, but nowhere near the commands' 1000 s.
        #expect(result.duration < .seconds(120))
        let sleeper = try #require(pid_t(result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(try await waitUntilGone([sleeper]))
    }

    // A hang guard, not a timing assertion: cancellation must not wait for the 1000 s sleep.
    @Test("cancelling the task kills the process group promptly", .timeLimit(.minutes(2)))
    func cancellation() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let file = "\(directory.path)/pids"
        let task = Task {
            try await run(
                "sh -c 'sleep 1000 & echo $! > \(file); echo $$ >> \(file); wait'",
                timeout: .seconds(600), killGracePeriod: .seconds(5)
            )
        }
        let processes = try await processIDs(in: file, count: 2)
        #expect(processes.count == 2)
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(try await waitUntilGone(processes))
    }

    @Test("a task cancelled before the run starts nothing")
    func cancelledBeforeStart() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let marker = "\(directory.path)/started"
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await run("touch \(marker)")
        }
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    // A hang guard, not a timing assertion: a leaked pipe would hold an echo for 600 s.
    @Test("concurrent runs do not hold each other's output open", .timeLimit(.minutes(5)))
    func concurrentRuns() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Runs until cancelled below: a pipe of an `echo` leaked into it
            // would hold that run open for the whole pipe grace (600 s).
            group.addTask {
                _ = try? await run("sleep 900", timeout: .seconds(1200))
            }
            try await withThrowingTaskGroup(of: Void.self) { echoes in
                for index in 0..<12 {
                    echoes.addTask {
                        let result = try await run("echo \(index)", pipeGracePeriod: .seconds(600))
                        #expect(result.standardOutput == "\(index)\n")
                    }
                }
                try await echoes.waitForAll()
            }
            group.cancelAll()
        }
    }

    // MARK: Errors

    @Test("a command that is not in the search path")
    func notFound() throws {
        let error = #expect(throws: CommandError.self) {
            try CommandRunner.resolve(CommandPipeline(parsing: "echo x | no-such-command-here -v"))
        }
        #expect(error?.code == .notFound)
        #expect(error?.stage == 1)
        #expect(error?.message == "command 'no-such-command-here' not found in \(CommandPolicy.defaultSearchPath)")

        let path = #expect(throws: CommandError.self) {
            try CommandRunner.resolve(CommandPipeline(parsing: "/no/such/file"))
        }
        #expect(path?.code == .notFound)
        #expect(path?.message == "'/no/such/file' does not exist")
    }

    @Test("a file that cannot be executed")
    func notExecutable() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let plain = try directory.file("plain", contents: "echo hi\n")
        let error = #expect(throws: CommandError.self) {
            try CommandRunner.resolve(CommandPipeline([[plain]]))
        }
        #expect(error?.code == .notExecutable)
        #expect(error?.message == "'\(plain)' is not executable (Permission denied)")

        let directoryError = #expect(throws: CommandError.self) {
            try CommandRunner.resolve(CommandPipeline([[directory.path]]))
        }
        #expect(directoryError?.message == "'\(directory.path)' is a directory")

        let inSearchPath = #expect(throws: CommandError.self) {
            try CommandRunner.resolve(CommandPipeline([["plain"]]), searchPath: directory.path)
        }
        #expect(inSearchPath?.code == .notExecutable)
        #expect(inSearchPath?.message.hasPrefix("command 'plain' was found but '\(plain)' is not executable") == true)
    }

    // A hang guard: the run must not wait for the started stage's 1000 s sleep.
    @Test("a spawn failure carries the system's reason, and the stages already started are killed", .timeLimit(.minutes(2)))
    func spawnFailure() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let garbage = try directory.file("garbage", contents: "\u{7f}ELF not really", executable: true)
        let commands = [
            Command(executable: "/bin/sleep", arguments: ["sleep", "1000"]),
            Command(executable: garbage, arguments: ["garbage"]),
        ]
        let error = await #expect(throws: CommandError.self) {
            try await CommandRunner.run(commands, options: CommandRunner.Options(timeout: .seconds(600)))
        }
        #expect(error?.code == .notExecutable)
        #expect(error?.stage == 1)
        #expect(error?.message == "cannot run '\(garbage)': Exec format error")
    }
}
