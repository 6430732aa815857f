import ActionKit
import OrderedJSON

/// Fails with a message.
struct Fail: MistralAction {
    static let name = "debug.fail"
    static let description = "Fails with `message` as the action's error."

    @Parameter(default: "debug.fail was asked to fail", help: "The error message.") var message: String

    init() {}

    func run(context: ActionContext) async throws -> JSON {
        throw ActionFailure(message)
    }
}
