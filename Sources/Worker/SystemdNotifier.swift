#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Tells systemd how the service is doing (the `sd_notify` protocol, without
/// libsystemd): datagrams such as `READY=1`, `STATUS=...`, `WATCHDOG=1` and
/// `STOPPING=1` sent to the AF_UNIX socket named by `$NOTIFY_SOCKET` (a path,
/// or an abstract socket written with a leading `@`). Without that variable
/// (not started by systemd, or not `Type=notify`) every call does nothing.
///
/// Sending never blocks and never throws: a full or vanished socket loses
/// the message, as with libsystemd (systemd reads them at once).
public struct SystemdNotifier: Sendable {
    /// The socket address bytes (sun_path), nil when notifications are off.
    private let path: [UInt8]?
    /// Half of `$WATCHDOG_USEC`, when systemd expects `WATCHDOG=1` from
    /// this process (`WATCHDOG_PID` unset or ours); nil otherwise.
    public let watchdogInterval: Duration?

    /// Notifications off.
    public static let disabled = SystemdNotifier(socketPath: nil, watchdogInterval: nil)

    /// From the process environment (`NOTIFY_SOCKET`, `WATCHDOG_USEC`, `WATCHDOG_PID`).
    public static func fromEnvironment() -> SystemdNotifier {
        func variable(_ name: String) -> String? {
            guard let value = getenv(name) else { return nil }
            return String(cString: value)
        }
        return SystemdNotifier(
            environment: [
                "NOTIFY_SOCKET": variable("NOTIFY_SOCKET"),
                "WATCHDOG_USEC": variable("WATCHDOG_USEC"),
                "WATCHDOG_PID": variable("WATCHDOG_PID"),
            ].compactMapValues { $0 },
            processID: Int64(getpid())
        )
    }

    /// From these variables (tests pass their own). A socket path that
    /// does not fit `sun_path`, or is neither absolute nor abstract, turns
    /// notifications off; a watchdog value that is not a positive integer
    /// of microseconds turns the watchdog off.
    public init(environment: [String: String], processID: Int64) {
        let socket = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        var watchdog: Duration?
        if socket != nil, let text = environment["WATCHDOG_USEC"], let microseconds = UInt64(text), microseconds > 0 {
            let forUs = environment["WATCHDOG_PID"].map { Int64($0) == processID } ?? true
            // UInt64 microseconds / 2 always fits a Duration.
            if forUs { watchdog = .microseconds(microseconds / 2) }
        }
        self.init(socketPath: socket, watchdogInterval: watchdog)
    }

    /// A notifier writing to `socketPath` (`@name` for an abstract socket).
    public init(socketPath: String?, watchdogInterval: Duration? = nil) {
        var path: [UInt8]?
        if let socketPath, socketPath.hasPrefix("/") || socketPath.hasPrefix("@") {
            var bytes = Array(socketPath.utf8)
            if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
            let capacity = MemoryLayout.size(ofValue: sockaddr_un().sun_path)
            // An abstract name may fill sun_path; a path needs its NUL.
            if bytes.count < capacity || (bytes.first == 0 && bytes.count <= capacity) { path = bytes }
        }
        self.path = path
        self.watchdogInterval = path == nil ? nil : watchdogInterval
    }

    /// Whether messages go anywhere.
    public var isEnabled: Bool { path != nil }

    /// Sends one message: newline-separated `KEY=value` assignments.
    /// Returns whether the datagram was sent (false when disabled).
    @discardableResult
    public func send(_ message: String) -> Bool {
        guard let path else { return false }
        #if canImport(Glibc) || canImport(Musl)
            let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #else
            let fd = socket(AF_UNIX, SOCK_DGRAM, 0)
        #endif
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { sunPath in
            for (index, byte) in path.enumerated() where index < sunPath.count { sunPath[index] = byte }
        }
        // Abstract addresses are exactly as long as the name (no trailing NUL).
        let length = MemoryLayout<sa_family_t>.size + path.count + (path.first == 0 ? 0 : 1)
        let bytes = Array(message.utf8)
        let sent = bytes.withUnsafeBytes { buffer in
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                    #if canImport(Glibc) || canImport(Musl)
                        sendto(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL), socketAddress, socklen_t(length))
                    #else
                        sendto(fd, buffer.baseAddress, buffer.count, 0, socketAddress, socklen_t(length))
                    #endif
                }
            }
        }
        return sent == bytes.count
    }

    /// `STATUS=`: one line, what the service is doing (newlines would end it).
    @discardableResult
    public func status(_ text: String) -> Bool {
        send("STATUS=" + String(text.map { $0.isNewline ? " " : $0 }))
    }
}
