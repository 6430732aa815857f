import ActionKit
import OrderedJSON

/// Returns its input.
struct Echo: MistralAction {
    static let name = "debug.echo"
    static let description = "Returns `output` unchanged as the action's result."

    @Parameter(help: "Any JSON value to return.") var output: JSON

    init() {}

    func run(context: ActionContext) async throws -> JSON { output }
}
