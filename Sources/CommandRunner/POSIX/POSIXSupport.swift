#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Pipes and descriptors whose close-on-exec flag is set from the start, so
/// that a command spawned concurrently by another thread never inherits them
/// (an inherited write end would keep another run's output open forever).
enum POSIXPipe {
    /// A new pipe: (read end, write end), both close-on-exec and above the
    /// standard descriptors 0-2.
    static func make(nonBlocking: Bool = false) throws(CommandError) -> (read: Int32, write: Int32) {
        var descriptors: [Int32] = [-1, -1]
        let flags = O_CLOEXEC | (nonBlocking ? O_NONBLOCK : 0)
        guard createPipe(&descriptors, flags) == 0 else {
            throw CommandError(code: .systemError, message: "cannot create a pipe: \(systemErrorText(errno))")
        }
        do {
            let read = try aboveStandardDescriptors(descriptors[0])
            descriptors[0] = read
            let write = try aboveStandardDescriptors(descriptors[1])
            return (read, write)
        } catch {
            for descriptor in descriptors where descriptor >= 0 { close(descriptor) }
            throw error
        }
    }

    /// `/dev/null` for reading, close-on-exec.
    static func openNullDevice() throws(CommandError) -> Int32 {
        let descriptor = open("/dev/null", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw CommandError(code: .systemError, message: "cannot open /dev/null: \(systemErrorText(errno))")
        }
        return try aboveStandardDescriptors(descriptor)
    }

    /// A descriptor numbered 3 or more. When the worker runs with a standard
    /// descriptor closed, a new descriptor may get its number, and then
    /// `dup2` onto the child's 0-2 could overwrite one source with another.
    private static func aboveStandardDescriptors(_ descriptor: Int32) throws(CommandError) -> Int32 {
        guard descriptor < 3 else { return descriptor }
        let moved = fcntl(descriptor, F_DUPFD_CLOEXEC, 3)
        let failure = errno
        close(descriptor)
        guard moved >= 0 else {
            throw CommandError(code: .systemError, message: "cannot duplicate a descriptor: \(systemErrorText(failure))")
        }
        return moved
    }

    #if canImport(Glibc)
    /// `pipe2`, which sets the flags atomically. Swift's Glibc module does not
    /// declare this GNU extension, so it is looked up by name (glibc has had
    /// it since 2.9).
    private static let pipe2: (@convention(c) (UnsafeMutablePointer<Int32>?, Int32) -> Int32)? = {
        guard let symbol = dlsym(nil, "pipe2") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<Int32>?, Int32) -> Int32).self)
    }()
    #endif

    private static func createPipe(_ descriptors: inout [Int32], _ flags: Int32) -> Int32 {
        #if canImport(Glibc)
        if let pipe2 {
            return descriptors.withUnsafeMutableBufferPointer { pipe2($0.baseAddress, flags) }
        }
        #endif
        // Without pipe2 the flags are set right after creation; spawns of this
        // module hold `spawnLock` meanwhile, so none of them inherits the pipe.
        return spawnLock.withLock { _ in
            guard descriptors.withUnsafeMutableBufferPointer({ pipe($0.baseAddress) }) == 0 else { return -1 }
            for descriptor in descriptors {
                _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
                if flags & O_NONBLOCK != 0 {
                    _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
                }
            }
            return 0
        }
    }
}

/// Wait statuses as `waitpid` reports them (the `W*` macros are not
/// imported into Swift).
extension Termination {
    init(waitStatus status: Int32) {
        let signal = status & 0x7f
        if signal == 0 {
            self = .exited((status >> 8) & 0xff)
        } else if signal != 0x7f {
            self = .signaled(signal)
        } else {
            // Stopped; never reported without WUNTRACED.
            self = .unknown
        }
    }
}
