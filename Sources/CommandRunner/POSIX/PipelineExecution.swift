#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization
import SystemSupport

/// Held while spawning, and while creating a pipe where close-on-exec cannot
/// be set atomically, so that no child inherits another run's pipe.
let spawnLock = Mutex(())

/// One run of a pipeline, on its own thread: spawns the stages, reads their
/// output, enforces the deadline, kills the process group and reaps the
/// stages. Everything here blocks, which is why it never runs on Swift's
/// cooperative pool.
struct PipelineExecution {
    enum Outcome: Sendable {
        case finished(CommandResult)
        case failed(CommandError)
        case cancelled
    }

    let commands: [Command]
    let options: CommandRunner.Options
    let control: RunControl

    /// The processes of a started pipeline and the parent's ends of its output.
    private struct Spawned {
        var processIDs: [pid_t]
        var processGroup: pid_t
        var outputDescriptor: Int32
        var errorDescriptor: Int32
    }

    private enum Phase: Equatable {
        case running
        /// `SIGTERM` was sent at this instant.
        case terminating(since: ContinuousClock.Instant)
        /// `SIGKILL` was sent.
        case killed
    }

    func run() -> Outcome {
        if control.current.cancelled {
            return .cancelled
        }
        let clock = ContinuousClock()
        let start = clock.now
        let spawned: Spawned
        do {
            spawned = try spawn()
        } catch {
            return .failed(error)
        }
        for (stage, processID) in spawned.processIDs.enumerated() {
            startExitWatcher(stage: stage, processID: processID)
        }
        let supervised = supervise(spawned, clock: clock, start: start)
        // Whatever is left in the group (processes the stages put in the
        // background) goes now. The group's ID cannot have been reused: its
        // leader, the first stage, is not reaped yet.
        kill(-spawned.processGroup, SIGKILL)
        let terminations = spawned.processIDs.map(reap)
        if supervised.cancelled {
            return .cancelled
        }
        return .finished(CommandResult(
            stages: zip(commands, terminations).map { CommandResult.Stage(command: $0, termination: $1) },
            standardOutput: String(decoding: supervised.output.bytes, as: UTF8.self),
            standardError: String(decoding: supervised.errors.bytes, as: UTF8.self),
            standardOutputTruncated: supervised.output.truncated,
            standardErrorTruncated: supervised.errors.truncated,
            duration: clock.now - start,
            timedOut: supervised.timedOut
        ))
    }

    // MARK: Spawning

    private func spawn() throws(CommandError) -> Spawned {
        // The parent's copies of the children's ends, closed once all are started.
        var childEnds: [Int32] = []
        defer { for descriptor in childEnds { close(descriptor) } }

        let nullDevice = try POSIXPipe.openNullDevice()
        childEnds.append(nullDevice)
        let output = try POSIXPipe.make()
        childEnds.append(output.write)
        let errors: (read: Int32, write: Int32)
        do {
            errors = try POSIXPipe.make()
        } catch {
            close(output.read)
            throw error
        }
        childEnds.append(errors.write)

        var processIDs: [pid_t] = []
        var input = nullDevice
        do throws(CommandError) {
            for (stage, command) in commands.enumerated() {
                var stageOutput = output.write
                var nextInput: Int32 = -1
                if stage < commands.count - 1 {
                    let link = try POSIXPipe.make()
                    childEnds.append(contentsOf: [link.read, link.write])
                    stageOutput = link.write
                    nextInput = link.read
                }
                do throws(CommandError) {
                    let processID = try spawn(
                        command, input: input, output: stageOutput, errors: errors.write,
                        processGroup: processIDs.first ?? 0
                    )
                    processIDs.append(processID)
                } catch {
                    var error = error
                    error.stage = stage
                    throw error
                }
                input = nextInput
            }
        } catch {
            if let group = processIDs.first {
                kill(-group, SIGKILL)
                for processID in processIDs { _ = reap(processID) }
            }
            close(output.read)
            close(errors.read)
            throw error
        }
        for descriptor in [output.read, errors.read] {
            _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
        }
        return Spawned(
            processIDs: processIDs, processGroup: processIDs[0],
            outputDescriptor: output.read, errorDescriptor: errors.read
        )
    }

    /// Starts one command. `processGroup` 0 makes it the leader of a new group.
    private func spawn(
        _ command: Command, input: Int32, output: Int32, errors: Int32, processGroup: pid_t
    ) throws(CommandError) -> pid_t {
        var fileActions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fileActions)
        defer { posix_spawn_file_actions_destroy(&fileActions) }
        posix_spawn_file_actions_adddup2(&fileActions, input, 0)
        posix_spawn_file_actions_adddup2(&fileActions, output, 1)
        posix_spawn_file_actions_adddup2(&fileActions, errors, 2)
        // Every descriptor of this module is close-on-exec; this also keeps
        // those of libraries that forgot (a broker socket) from the command.
        if let addCloseFrom = Self.addCloseFrom {
            _ = addCloseFrom(&fileActions, 3)
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, processGroup)
        // The worker blocks or ignores some signals (SIGPIPE); the command
        // starts with none blocked and all at their defaults.
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)

        let environment = options.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        var argumentVector = command.arguments.map { strdup($0) } + [nil]
        var environmentVector = environment.map { strdup($0) } + [nil]
        defer {
            for pointer in argumentVector { free(pointer) }
            for pointer in environmentVector { free(pointer) }
        }

        var processID: pid_t = 0
        let status = spawnLock.withLock { _ in
            posix_spawn(&processID, command.executable, &fileActions, &attributes, &argumentVector, &environmentVector)
        }
        guard status == 0 else {
            let reason = systemErrorText(status)
            switch status {
            case ENOENT:
                throw CommandError(code: .notFound, message: "cannot run '\(command.executable)': \(reason)")
            case EACCES, ENOEXEC, EISDIR:
                throw CommandError(code: .notExecutable, message: "cannot run '\(command.executable)': \(reason)")
            default:
                throw CommandError(code: .spawnFailed, message: "cannot start '\(command.executable)': \(reason)")
            }
        }
        return processID
    }

    /// `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34), which Swift's
    /// Glibc module does not declare; looked up by name, absent on older glibc.
    private static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32)? = {
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(
            symbol,
            to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32).self
        )
    }()

    // MARK: Supervising

    /// Waits on a thread of its own until the stage exits, without reaping
    /// it (`WNOWAIT`): the leader's zombie keeps the process group's ID from
    /// being reused until the group has been killed.
    private func startExitWatcher(stage: Int, processID: pid_t) {
        let control = self.control
        startDetachedThread(name: "command-wait", stackSize: 256 * 1024) {
            var information = siginfo_t()
            while waitid(P_PID, id_t(processID), &information, WEXITED | WNOWAIT) != 0, errno == EINTR {}
            control.markExited(stage: stage)
        }
    }

    private struct Supervised {
        var output: CappedBuffer
        var errors: CappedBuffer
        var timedOut = false
        var cancelled = false
    }

    /// Reads the output until every stage has exited and the output is
    /// closed, killing the group on timeout, on cancellation, or when
    /// processes left behind keep the output open too long.
    private func supervise(_ spawned: Spawned, clock: ContinuousClock, start: ContinuousClock.Instant) -> Supervised {
        var result = Supervised(
            output: CappedBuffer(limit: options.outputLimit),
            errors: CappedBuffer(limit: options.outputLimit)
        )
        var outputDescriptor = spawned.outputDescriptor
        var errorDescriptor = spawned.errorDescriptor
        defer {
            if outputDescriptor >= 0 { close(outputDescriptor) }
            if errorDescriptor >= 0 { close(errorDescriptor) }
        }
        let deadline = start + options.timeout
        var phase = Phase.running
        var drainDeadline: ContinuousClock.Instant?
        var scratch = [UInt8](repeating: 0, count: 65_536)

        func drain(_ descriptor: inout Int32, into buffer: inout CappedBuffer) {
            guard descriptor >= 0 else { return }
            while true {
                let count = scratch.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                if count > 0 {
                    scratch.withUnsafeBytes { buffer.append(UnsafeRawBufferPointer(rebasing: $0.prefix(count))) }
                    continue
                }
                if count < 0, errno == EINTR { continue }
                if count < 0, errno == EAGAIN || errno == EWOULDBLOCK { return }
                // End of file, or an error that will not go away.
                close(descriptor)
                descriptor = -1
                return
            }
        }

        func signalGroup(_ signal: Int32) {
            kill(-spawned.processGroup, signal)
        }

        while true {
            let now = clock.now
            let events = control.current
            if phase == .running, events.cancelled || now >= deadline {
                if events.cancelled {
                    result.cancelled = true
                } else {
                    result.timedOut = true
                }
                signalGroup(SIGTERM)
                // A stopped process handles SIGTERM only once continued.
                signalGroup(SIGCONT)
                phase = .terminating(since: now)
            }
            if case .terminating(let since) = phase, now >= since + options.killGracePeriod {
                signalGroup(SIGKILL)
                phase = .killed
            }
            if events.exited.allSatisfy({ $0 }) {
                if outputDescriptor < 0 && errorDescriptor < 0 {
                    break
                }
                if let drainDeadline {
                    if now >= drainDeadline {
                        // Keep what is already in the pipes, then give up on them.
                        drain(&outputDescriptor, into: &result.output)
                        drain(&errorDescriptor, into: &result.errors)
                        break
                    }
                } else {
                    drainDeadline = now + options.pipeGracePeriod
                }
            }

            var nextDeadline: ContinuousClock.Instant?
            switch phase {
            case .running: nextDeadline = deadline
            case .terminating(let since): nextDeadline = since + options.killGracePeriod
            case .killed: nextDeadline = nil
            }
            if let drainDeadline {
                nextDeadline = min(nextDeadline ?? drainDeadline, drainDeadline)
            }
            var descriptors = [
                pollfd(fd: control.wakeReadDescriptor, events: Int16(POLLIN), revents: 0),
                pollfd(fd: outputDescriptor, events: Int16(POLLIN), revents: 0),
                pollfd(fd: errorDescriptor, events: Int16(POLLIN), revents: 0),
            ]
            // poll ignores negative descriptors (a closed pipe).
            let ready = poll(&descriptors, nfds_t(descriptors.count), Self.milliseconds(until: nextDeadline, now: now))
            if ready < 0 {
                if errno == EINTR { continue }
                // Cannot happen with valid descriptors; avoid spinning.
                usleep(10_000)
                continue
            }
            if descriptors[0].revents != 0 { control.drainWakeUps() }
            if descriptors[1].revents != 0 { drain(&outputDescriptor, into: &result.output) }
            if descriptors[2].revents != 0 { drain(&errorDescriptor, into: &result.errors) }
        }
        return result
    }

    /// A `poll` timeout: the milliseconds until `deadline`, rounded up; -1
    /// (forever) without a deadline.
    private static func milliseconds(until deadline: ContinuousClock.Instant?, now: ContinuousClock.Instant) -> Int32 {
        guard let deadline else { return -1 }
        let remaining = deadline - now
        guard remaining > .zero else { return 0 }
        let (seconds, attoseconds) = remaining.components
        let milliseconds = seconds.multipliedReportingOverflow(by: 1000)
        guard !milliseconds.overflow else { return Int32.max }
        // The rounded-up fraction can still carry past Int64.max.
        let total = milliseconds.partialValue.addingReportingOverflow((attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
        guard !total.overflow else { return Int32.max }
        return Int32(clamping: total.partialValue)
    }

    /// Collects a stage's status (it has exited, or been killed).
    private func reap(_ processID: pid_t) -> Termination {
        var status: Int32 = 0
        while true {
            let result = waitpid(processID, &status, 0)
            if result == processID { return Termination(waitStatus: status) }
            if result < 0, errno == EINTR { continue }
            return .unknown
        }
    }
}

/// Bytes up to a limit; what goes beyond is counted as truncation and dropped.
struct CappedBuffer {
    let limit: Int
    private(set) var bytes: [UInt8] = []
    private(set) var truncated = false

    init(limit: Int) {
        self.limit = max(0, limit)
    }

    mutating func append(_ chunk: UnsafeRawBufferPointer) {
        let room = limit - bytes.count
        if chunk.count <= room {
            bytes.append(contentsOf: chunk)
        } else {
            bytes.append(contentsOf: chunk.prefix(room))
            truncated = true
        }
    }
}
