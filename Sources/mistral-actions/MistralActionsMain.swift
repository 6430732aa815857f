import ArgumentParser
import MistralActionsCLI
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

@main
enum MistralActionsMain {
    static func main() async {
        limitEventLoopThreads()
        await MistralActionsCommand.main(nil)
    }

    /// SwiftNIO's shared event loops (the status server and the OpenStack
    /// HTTP client) start one thread per core on first use; a sidecar needs
    /// two at most, however many cores the host has. NIO reads the setting
    /// once, so it is set here, first thing, and only when the operator did
    /// not choose with NIO_SINGLETON_GROUP_LOOP_COUNT.
    static func limitEventLoopThreads() {
        guard getenv("NIO_SINGLETON_GROUP_LOOP_COUNT") == nil else { return }
        NIOSingletons.groupLoopCountSuggestion = min(System.coreCount, 2)
    }
}
