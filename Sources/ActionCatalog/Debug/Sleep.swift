import ActionKit
import CheckedNumbers
import OrderedJSON

/// Sleeps, cancellably.
struct Sleep: MistralAction {
    static let name = "debug.sleep"
    static let description = """
        Sleeps for `seconds` (at most 31622400, i.e. 366 days), then succeeds with a null result.

        The sleep ends early when the action is cancelled (task timeout or
        worker shutdown), which makes it a test of timeouts and heartbeats.
        """

    @Parameter(help: "How long to sleep, in seconds.") var seconds: Double

    init() {}

    func run(context: ActionContext) async throws -> JSON {
        let duration: Duration
        do { duration = try Seconds.duration(seconds, name: "seconds") } catch { throw ActionFailure(error.description) }
        try await Task.sleep(for: duration)
        return .null
    }
}
