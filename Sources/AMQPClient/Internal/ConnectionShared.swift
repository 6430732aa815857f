#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// What async callers and the connection thread share: the command queue,
/// the connection status and the waiters for a connection, behind one lock,
/// plus the pipe that wakes the thread when it sleeps.
final class ConnectionShared: Sendable {
    enum Phase: Sendable {
        /// `run()` was not called yet: commands queue up.
        case idle
        case running
        /// `run()` ended: commands fail at once.
        case stopped
    }

    struct State: Sendable {
        var phase: Phase = .idle
        var stopRequested = false
        var commands: [Command] = []
        /// The connection thread is (about to be) asleep in poll() and must be woken.
        var threadSleeping = false
        var connected = false
        var generation: UInt64 = 0
        var lastConnectionError: AMQPError?
        var waiters: [UInt64: UnsafeContinuation<Void, any Error>] = [:]
        /// Waiter ids handed out but not registered yet, and those of them
        /// cancelled before registering (cancellation can win that race).
        var unregisteredWaiters: Set<UInt64> = []
        var cancelledWaiters: Set<UInt64> = []
        var nextWaiterID: UInt64 = 0
    }

    let state = Mutex(State())
    let wake: WakeSignal
    let consumerTagCounter = Atomic<UInt64>(0)
    /// The incarnation of the consumer channel while it is open, 0 while it
    /// is closed (deliveries of other incarnations can no longer be acknowledged).
    let liveConsumerIncarnation = Atomic<UInt64>(0)

    init() {
        wake = WakeSignal()
    }

    // MARK: Callers

    /// Queues a command for the connection thread (failing it at once when
    /// the connection has stopped).
    func submit(_ command: Command) {
        enum Outcome { case queued, wake, rejected }
        let outcome: Outcome = state.withLock { state in
            if state.phase == .stopped {
                return .rejected
            }
            state.commands.append(command)
            if state.threadSleeping {
                state.threadSleeping = false
                return .wake
            }
            return .queued
        }
        switch outcome {
        case .queued:
            break
        case .wake:
            wake.signal()
        case .rejected:
            command.fail(AMQPError(code: .shutDown, message: "the connection is not running"))
        }
    }

    func requestStop() {
        state.withLock { $0.stopRequested = true }
        wake.signal()
    }

    /// Registers a waiter for the connection; resumes it at once if connected.
    func addConnectionWaiter(id: UInt64, _ continuation: UnsafeContinuation<Void, any Error>) {
        enum Outcome { case wait, connected, stopped, cancelled }
        let outcome: Outcome = state.withLock { state in
            state.unregisteredWaiters.remove(id)
            if state.cancelledWaiters.remove(id) != nil {
                return .cancelled
            }
            if state.connected {
                return .connected
            }
            if state.phase == .stopped {
                return .stopped
            }
            state.waiters[id] = continuation
            return .wait
        }
        switch outcome {
        case .wait:
            break
        case .connected:
            continuation.resume()
        case .stopped:
            continuation.resume(throwing: AMQPError(code: .shutDown, message: "the connection is not running"))
        case .cancelled:
            continuation.resume(throwing: CancellationError())
        }
    }

    func cancelConnectionWaiter(id: UInt64) {
        let continuation = state.withLock { state in
            if let continuation = state.waiters.removeValue(forKey: id) {
                return Optional(continuation)
            }
            if state.unregisteredWaiters.contains(id) {
                state.cancelledWaiters.insert(id)
            }
            return nil
        }
        continuation?.resume(throwing: CancellationError())
    }

    func makeWaiterID() -> UInt64 {
        state.withLock { state in
            state.nextWaiterID += 1
            state.unregisteredWaiters.insert(state.nextWaiterID)
            return state.nextWaiterID
        }
    }

    // MARK: Connection thread

    /// Moves queued commands to the end of `buffer`. When `buffer` is empty
    /// the storages are swapped, so steady state allocates nothing. Returns
    /// whether a stop was requested.
    func takeCommands(into buffer: inout [Command]) -> Bool {
        state.withLock { state in
            if buffer.isEmpty {
                swap(&state.commands, &buffer)
            } else if !state.commands.isEmpty {
                buffer.append(contentsOf: state.commands)
                state.commands.removeAll(keepingCapacity: true)
            }
            state.threadSleeping = false
            return state.stopRequested
        }
    }

    /// Called before the thread sleeps: false when there is work already.
    func prepareToSleep() -> Bool {
        state.withLock { state in
            if !state.commands.isEmpty || state.stopRequested {
                return false
            }
            state.threadSleeping = true
            return true
        }
    }

    /// Sleeps in poll() until the wake-up pipe or `socket` is readable or
    /// `timeoutMilliseconds` pass; returns at once when commands are queued.
    /// `descriptors` has room for two entries. Returns whether it slept.
    ///
    /// Why no wake-up is lost: the "sleeping" flag is set under the queue's
    /// lock in the same critical section that finds the queue empty
    /// (``prepareToSleep()``), and ``submit(_:)`` appends and reads the flag
    /// under that lock too. So a command is either queued before that check
    /// (the thread sees it and does not sleep) or after it (its producer sees
    /// the flag and writes the pipe, which makes the coming poll() return at
    /// once, even if the write lands before poll() starts). Only the first
    /// producer after the flag is set writes (it clears the flag): a
    /// producer that enqueues while a wake-up is already pending, or while
    /// the thread is awake in a turn, makes no system call.
    @discardableResult
    func waitForWork(
        timeoutMilliseconds: Int32, socket: Int32?, descriptors: UnsafeMutablePointer<pollfd>,
        beforePoll: (() -> Void)? = nil
    ) -> Bool {
        guard prepareToSleep() else {
            return false
        }
        beforePoll?()
        descriptors[0] = pollfd(fd: wake.readDescriptor, events: Int16(POLLIN), revents: 0)
        var count: nfds_t = 1
        if let socket {
            descriptors[1] = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            count = 2
        }
        let result = poll(descriptors, count, timeoutMilliseconds)
        if result > 0, descriptors[0].revents != 0 {
            wake.drain()
        }
        return true
    }

    var stopRequested: Bool {
        state.withLock { $0.stopRequested }
    }

    func markConnected(generation: UInt64) {
        let waiters = state.withLock { state in
            state.connected = true
            state.generation = generation
            state.lastConnectionError = nil
            let waiters = state.waiters
            state.waiters.removeAll()
            return waiters
        }
        for waiter in waiters.values {
            waiter.resume()
        }
    }

    func markDisconnected(error: AMQPError?) {
        state.withLock { state in
            state.connected = false
            if let error {
                state.lastConnectionError = error
            }
        }
    }

    var lastConnectionError: AMQPError? {
        state.withLock { $0.lastConnectionError }
    }

    /// The thread ends: no more commands are taken. Returns the commands
    /// still queued, for the caller to fail; fails the connection waiters.
    func markStopped() -> [Command] {
        let (commands, waiters) = state.withLock { state in
            state.phase = .stopped
            state.connected = false
            let commands = state.commands
            state.commands.removeAll()
            let waiters = state.waiters
            state.waiters.removeAll()
            return (commands, waiters)
        }
        let error = AMQPError(code: .shutDown, message: "the connection was shut down")
        for waiter in waiters.values {
            waiter.resume(throwing: error)
        }
        return commands
    }
}

/// A non-blocking pipe that wakes the connection thread from poll().
/// Owns both descriptors and closes them once, in deinit.
final class WakeSignal: Sendable {
    let readDescriptor: Int32
    let writeDescriptor: Int32
    /// Why the pipe could not be created (then `run()` refuses to start).
    let creationError: String?

    init() {
        var descriptors: [Int32] = [-1, -1]
        guard pipe(&descriptors) == 0 else {
            readDescriptor = -1
            writeDescriptor = -1
            creationError = String(cString: strerror(errno))
            return
        }
        for descriptor in descriptors {
            _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
            _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        }
        readDescriptor = descriptors[0]
        writeDescriptor = descriptors[1]
        creationError = nil
    }

    deinit {
        if creationError == nil {
            close(readDescriptor)
            close(writeDescriptor)
        }
    }

    func signal() {
        var byte: UInt8 = 1
        // A full pipe already holds a wake-up; nothing else can fail here.
        _ = write(writeDescriptor, &byte, 1)
    }

    /// Empties the pipe; returns how many wake-ups it held.
    @discardableResult
    func drain() -> Int {
        var buffer: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        var total = 0
        while true {
            let count = withUnsafeMutableBytes(of: &buffer) { read(readDescriptor, $0.baseAddress, $0.count) }
            guard count > 0 else {
                return total
            }
            total += count
        }
    }
}
