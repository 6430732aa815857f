#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `body` on a new detached system thread named `name` (Linux keeps the
/// first 15 bytes), for work that blocks in system calls and must not hold
/// one of the concurrency pool's threads. If the system refuses a thread,
/// `body` runs on a detached task instead: slower to share, never lost.
package func startDetachedThread(name: String, stackSize: Int? = nil, _ body: @escaping @Sendable () -> Void) {
    final class Start {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }
    let start = Unmanaged.passRetained(Start(name: name, body: body))
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    if let stackSize, stackSize > 0 {
        _ = pthread_attr_setstacksize(&attributes, stackSize)
    }
    #if canImport(Glibc)
    var thread = pthread_t()
    #else
    var thread: pthread_t? = nil
    #endif
    let created = pthread_create(&thread, &attributes, { argument in
        guard let argument else { return nil }
        let start = Unmanaged<Start>.fromOpaque(argument).takeRetainedValue()
        nameCurrentThread(start.name)
        start.body()
        return nil
    }, start.toOpaque())
    if created != 0 {
        start.release()
        Task.detached { body() }
    }
}

/// Names the calling thread as `ps`, `top` and /proc show it (Linux keeps
/// 15 bytes); best effort: `pthread_setname_np` is not in the Glibc module.
private func nameCurrentThread(_ name: String) {
    #if os(Linux)
    let descriptor = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
    guard descriptor >= 0 else { return }
    defer { close(descriptor) }
    let bytes = Array(name.utf8.prefix(15))
    _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    #elseif canImport(Darwin)
    _ = pthread_setname_np(name)
    #endif
}
