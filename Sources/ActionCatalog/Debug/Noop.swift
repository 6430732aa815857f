import ActionKit
import OrderedJSON

/// Does nothing and returns null: measures the cost of the path itself.
struct Noop: MistralAction {
    static let name = "debug.noop"
    static let description = """
        Does nothing and succeeds with a null result.

        Useful to check that workflows reach the Swift worker and to measure the
        cost of the execution path itself.
        """

    init() {}

    func run(context: ActionContext) async throws -> JSON { .null }
}
