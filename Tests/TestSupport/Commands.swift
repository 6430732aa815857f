import Foundation
import Synchronization

/// The exit status of a `Process`, awaited without blocking a thread of the
/// cooperative pool and without polling `isRunning`. Make it before `run()`:
/// it installs the process's termination handler.
public final class ProcessExit: Sendable {
    private let exitStatus = Mutex<Int32?>(nil)
    private let exited = Signal()

    public init(of process: Process) {
        process.terminationHandler = { [self] process in
            exitStatus.withLock { $0 = process.terminationStatus }
            exited.raise()
        }
    }

    /// The status, once the process has exited.
    public var status: Int32? { exitStatus.withLock { $0 } }

    /// Waits for the exit, failing with ``TestTimeout`` after `limit` (a
    /// guard against a hang; the process is left running).
    @discardableResult
    public func wait(limit: Duration = .seconds(180), _ what: String = "a process to exit") async throws -> Int32 {
        try await exited.wait(limit: limit, what)
        return status ?? -1
    }
}

/// Runs a command without blocking a cooperative thread while it runs;
/// returns its standard output, throws ``TestFailure`` when it fails (with
/// both outputs) and ``TestTimeout`` when it takes longer than `limit`.
///
/// The output goes to files, not pipes, and the command starts with only
/// descriptors 0-2 open (a shell closes the others before `exec`): a daemon
/// it starts (RabbitMQ) must inherit neither a pipe nor the socket with which
/// Foundation notices that the command ended, or the wait never ends.
@discardableResult
public func runCommand(_ command: [String], limit: Duration = .seconds(180)) async throws -> String {
    let directory = FileManager.default.temporaryDirectory
    let name = "ma-test-command-\(UUID().uuidString)"
    let outputFile = directory.appendingPathComponent("\(name).out")
    let errorFile = directory.appendingPathComponent("\(name).err")
    for file in [outputFile, errorFile] {
        guard FileManager.default.createFile(atPath: file.path, contents: nil) else {
            throw TestFailure("cannot create \(file.path)")
        }
    }
    defer {
        try? FileManager.default.removeItem(at: outputFile)
        try? FileManager.default.removeItem(at: errorFile)
    }
    let output = try FileHandle(forWritingTo: outputFile)
    defer { try? output.close() }
    let errorOutput = try FileHandle(forWritingTo: errorFile)
    defer { try? errorOutput.close() }

    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/bash")
    process.arguments = [
        "-c",
        #"for fd in /proc/$$/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done 2>/dev/null; exec "$0" "$@""#,
    ] + command
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = output
    process.standardError = errorOutput
    let description = command.joined(separator: " ")
    let exit = ProcessExit(of: process)
    try process.run()
    let status: Int32
    do {
        status = try await exit.wait(limit: limit, description)
    } catch {
        process.terminate()
        throw error
    }
    let text = (try? String(contentsOf: outputFile, encoding: .utf8)) ?? ""
    guard status == 0 else {
        let errors = (try? String(contentsOf: errorFile, encoding: .utf8)) ?? ""
        throw TestFailure("\(description) failed (\(status)): \(text)\(errors)")
    }
    return text
}

/// Runs rabbitmqctl with `arguments` against the test broker
/// (``TestEnvironment/rabbitmqctl``); returns its standard output.
@discardableResult
public func rabbitmqctl(_ arguments: [String], limit: Duration = .seconds(180)) async throws -> String {
    try await runCommand(TestEnvironment.rabbitmqctl + arguments, limit: limit)
}

@discardableResult
public func rabbitmqctl(_ arguments: String...) async throws -> String {
    try await rabbitmqctl(arguments)
}
