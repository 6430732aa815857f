import Dispatch
import Synchronization

/// The fuzz targets: each takes raw bytes from outside and must never trap
/// (thrown errors are the expected outcome for most inputs).
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// An AMQP message body through the worker's decode, route and result path.
    case osloRequest = "oslo-request"
    /// An action's input through decoding, validation and a short run
    /// against the in-process OpenStack simulator.
    case actionInput = "action-input"
    /// OpenStack error bodies, `Retry-After` and timestamps.
    case openStackErrors = "openstack-errors"
    /// An INI file through the reader and the typed configuration load.
    case config

    /// Runs one input and returns a short description of the outcome (for
    /// replay output; the typed outcomes are on each target's enum).
    public func run(_ data: [UInt8]) async -> String {
        switch self {
        case .osloRequest: return "\(await OsloRequestTarget.run(data))"
        case .actionInput: return "\(await ActionInputTarget.run(data))"
        case .openStackErrors: return "\(OpenStackErrorsTarget.run(data))"
        case .config: return "\(ConfigTarget.run(data))"
        }
    }

    /// ``run(_:)`` for a synchronous caller (libFuzzer's entry point):
    /// blocks the calling thread until the input is done.
    ///
    /// Never call this from a task: it parks a thread of the cooperative pool.
    public func runBlocking(_ data: [UInt8]) -> String {
        switch self {
        case .openStackErrors: return "\(OpenStackErrorsTarget.run(data))"
        case .config: return "\(ConfigTarget.run(data))"
        default: return blockingWait { await self.run(data) }
        }
    }
}

/// Waits on a semaphore while a task computes `body`.
func blockingWait<Result: Sendable>(_ body: @escaping @Sendable () async -> Result) -> Result {
    let box = Mutex<Result?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
        let value = await body()
        box.withLock { $0 = value }
        done.signal()
    }
    done.wait()
    guard let value = box.withLock({ $0 }) else {
        preconditionFailure("the task signals only after storing its value")
    }
    return value
}
