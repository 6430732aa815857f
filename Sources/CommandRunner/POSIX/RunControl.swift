#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// What other threads tell a running pipeline: the task was cancelled, a
/// stage exited. Each event is recorded, then the supervising thread is woken
/// through a pipe that it polls together with the command's output.
final class RunControl: Sendable {
    struct Events: Equatable {
        var cancelled = false
        var exited: [Bool]
    }

    private let events: Mutex<Events>
    /// The end the supervising thread polls (non-blocking).
    let wakeReadDescriptor: Int32
    /// The end other threads write a byte to (non-blocking: a full pipe
    /// already means "wake up").
    private let wakeWriteDescriptor: Int32

    init(stageCount: Int) throws(CommandError) {
        let (read, write) = try POSIXPipe.make(nonBlocking: true)
        self.wakeReadDescriptor = read
        self.wakeWriteDescriptor = write
        self.events = Mutex(Events(exited: Array(repeating: false, count: stageCount)))
    }

    // The descriptors live as long as this object, so a late `cancel()` from
    // the task's cancellation handler never writes to a reused descriptor.
    deinit {
        close(wakeReadDescriptor)
        close(wakeWriteDescriptor)
    }

    /// The task was cancelled: the pipeline is to be killed.
    func cancel() {
        events.withLock { $0.cancelled = true }
        wake()
    }

    /// A stage's process has exited (it is not reaped yet).
    func markExited(stage: Int) {
        events.withLock { $0.exited[stage] = true }
        wake()
    }

    var current: Events {
        events.withLock { $0 }
    }

    /// Empties the wake-up pipe (after `poll` reported it readable).
    func drainWakeUps() {
        var buffer = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        while withUnsafeMutableBytes(of: &buffer, { read(wakeReadDescriptor, $0.baseAddress, $0.count) }) > 0 {}
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWriteDescriptor, &byte, 1)
    }
}
