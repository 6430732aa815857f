// Registration of many actions (issue 13: 1,000 actions in under a second),
// for bench/startup.sh. Registers ACTIONS synthetic actions with two
// parameters each under their own code source in the given database, then
// registers them again (nothing changes), then removes them, and prints the
// seconds of each step.
//
//   mistral-actions-startup DATABASE_URL [ACTIONS]
//
// The actions are distinct types (a registry holds types): BenchAction of a
// type-level counter, Next<Next<...Zero>>, so that any count can be made
// without generating source.
#if canImport(Glibc)
import Glibc
#endif
import ActionKit
import ActionSync
import Logging
import OrderedJSON
import PostgresClient

protocol Counter { static var value: Int { get } }
enum Zero: Counter { static var value: Int { 0 } }
enum Next<Previous: Counter>: Counter { static var value: Int { Previous.value + 1 } }

struct BenchAction<Index: Counter>: MistralAction {
    static var name: String { "bench.action_\(Index.value)" }
    static var description: String { "Synthetic action \(Index.value) of the registration benchmark." }

    @Parameter(help: "Any JSON value.") var output: JSON
    @Parameter(default: 1) var repeats: Int

    init() {}

    func run(context: ActionContext) async throws -> JSON { output }
}

func actionTypes(count: Int) -> [any MistralAction.Type] {
    var types: [any MistralAction.Type] = []
    func add<Index: Counter>(_: Index.Type) {
        guard types.count < count else { return }
        types.append(BenchAction<Index>.self)
        add(Next<Index>.self)
    }
    add(Zero.self)
    return types
}

func seconds(_ duration: Duration) -> String {
    let (whole, attoseconds) = duration.components
    let milliseconds = whole * 1000 + attoseconds / 1_000_000_000_000_000
    return "\(milliseconds / 1000).\(String(repeating: "0", count: 3 - String(milliseconds % 1000).count))\(milliseconds % 1000)"
}

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    print("usage: mistral-actions-startup DATABASE_URL [ACTIONS]")
    exit(2)
}
let count = arguments.count > 2 ? Int(arguments[2]) ?? 1000 : 1000
var logger = Logger(label: "startup-bench")
logger.logLevel = .warning
let clock = ContinuousClock()

let started = clock.now
let registry = try ActionRegistry(actionTypes(count: count))
let sync = ActionTableSync(
    registry: registry,
    settings: .init(prefix: "startupbench", codeSourceName: "startup_bench_registration"),
    generator: "bench/startup"
)
let built = clock.now
let connection = try await PostgresConnection.connect(to: arguments[1], logger: logger)
_ = try await sync.clear(on: connection, logger: logger)
let cleared = clock.now
let first = try await sync.sync(on: connection, logger: logger)
let registered = clock.now
let again = try await sync.sync(on: connection, logger: logger)
let unchanged = clock.now
let removed = try await sync.clear(on: connection, logger: logger)
let done = clock.now
await connection.close()

func created(_ report: ActionTableSync.Report) -> Int {
    report.plan.actions.count { if case .create = $0 { true } else { false } }
}
print("registration of \(registry.descriptors.count) actions: registry \(seconds(built - started)) s, "
    + "first registration \(seconds(registered - cleared)) s (\(created(first)) created), "
    + "again \(seconds(unchanged - registered)) s (\(created(again)) created), removal \(seconds(done - unchanged)) s "
    + "(\(removed.count) removed)")
