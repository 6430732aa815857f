import ActionKit
import OrderedJSON

/// Sleeps, cancellably.
struct Sleep: MistralAction {
    static let name = "debug.sleep"
    static let description = """
        Sleeps for `seconds`, then succeeds with a null result.

        The sleep ends early when the action is cancelled (task timeout or
        worker shutdown), which makes it a test of timeouts and heartbeats.
        """

    @Parameter(help: "How long to sleep, in seconds.") var seconds: Double

    init() {}

    func run(context: ActionContext) async throws -> JSON {
        guard seconds >= 0, seconds.isFinite else {
            throw ActionFailure("seconds must be a non-negative number, got \(seconds)")
        }
        try await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
        return .null
    }
}
