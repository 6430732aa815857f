import CommandRunner
import Foundation
import Testing

/// Runs a command line without a policy (the tests are trusted), resolving
/// commands in the default search path.
func run(
    _ commandLine: String,
    timeout: Duration = .seconds(20),
    outputLimit: Int = 1_048_576,
    killGracePeriod: Duration = .seconds(2),
    pipeGracePeriod: Duration = .milliseconds(500),
    environment: [String: String] = ["PATH": CommandPolicy.defaultSearchPath, "LANG": "C.UTF-8"]
) async throws -> CommandResult {
    let commands = try CommandRunner.resolve(CommandPipeline(parsing: commandLine))
    let options = CommandRunner.Options(
        timeout: timeout, outputLimit: outputLimit, killGracePeriod: killGracePeriod,
        pipeGracePeriod: pipeGracePeriod, environment: environment
    )
    return try await CommandRunner.run(commands, options: options)
}

/// A directory of its own under /tmp, removed by `remove()`; tests run in
/// parallel, so every instance has a unique name.
struct TemporaryDirectory {
    let path: String

    init() throws {
        // realpath: /tmp may itself be a link, and the policy compares real paths.
        let base = URL(fileURLWithPath: "/tmp").resolvingSymlinksInPath().path
        path = "\(base)/command-runner-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// Writes a file and returns its path.
    @discardableResult
    func file(_ name: String, contents: String = "", executable: Bool = false) throws -> String {
        let file = "\(path)/\(name)"
        try FileManager.default.createDirectory(
            atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(contents.utf8).write(to: URL(fileURLWithPath: file))
        try FileManager.default.setAttributes([.posixPermissions: executable ? 0o755 : 0o644], ofItemAtPath: file)
        return file
    }

    /// Creates a symbolic link `name` to `target` and returns its path.
    @discardableResult
    func link(_ name: String, to target: String) throws -> String {
        let file = "\(path)/\(name)"
        try FileManager.default.createDirectory(
            atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: file, withDestinationPath: target)
        return file
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Whether a process exists and is not a zombie (an orphan's zombie waits
/// for PID 1, which may be slow to reap it in a container).
func isRunning(_ processID: pid_t) -> Bool {
    guard kill(processID, 0) == 0 else { return false }
    guard let stat = try? String(contentsOfFile: "/proc/\(processID)/stat", encoding: .utf8),
          let afterName = stat.range(of: ") ", options: .backwards)
    else { return false }
    return stat[afterName.upperBound...].first != "Z"
}

/// Waits (without blocking a thread) until none of the processes runs; a
/// killed process may take a moment to be scheduled and die.
func waitUntilGone(_ processIDs: [pid_t], timeout: Duration = .seconds(60)) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while processIDs.contains(where: isRunning) {
        if ContinuousClock.now >= deadline { return false }
        try await Task.sleep(for: .milliseconds(20))
    }
    return true
}

/// Waits until a file holds `count` process IDs, one a line.
func processIDs(in file: String, count: Int, timeout: Duration = .seconds(60)) async throws -> [pid_t] {
    let deadline = ContinuousClock.now + timeout
    while true {
        let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        let lines = text.split(separator: "\n")
        if lines.count >= count, text.hasSuffix("\n") {
            return lines.compactMap { pid_t($0.trimmingCharacters(in: .whitespaces)) }
        }
        if ContinuousClock.now >= deadline {
            Issue.record("\(file) did not get \(count) process IDs in time; it holds '\(text)'")
            return []
        }
        try await Task.sleep(for: .milliseconds(20))
    }
}
