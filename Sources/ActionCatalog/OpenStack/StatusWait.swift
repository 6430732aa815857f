import ActionKit
import CheckedNumbers
import OpenStackClient
import OrderedJSON

/// How long an assertion keeps checking: `wait_timeout` seconds (0: one
/// check, the original tool's behaviour) every `interval` seconds. Waiting
/// inside the action spares workflows a `retry:` loop around it.
///
/// The shipped actions take these as the inputs `wait_timeout` (default 0)
/// and `interval` (default 5); actions of your own can do the same and
/// pass the options to ``StatusWait/assertStatus(of:expected:wait:observe:)``.
public struct WaitOptions: Sendable {
    /// Seconds to keep checking; 0: check once.
    public var timeout: Double
    /// Seconds between checks.
    public var interval: Double
    /// `timeout` as a duration (checked once, in ``init(timeout:interval:)``).
    public var timeoutDuration: Duration
    /// `interval` as a duration.
    public var intervalDuration: Duration

    /// The longest wait an action accepts (a day); a task's own `timeout:`
    /// can end it sooner.
    public static let maximumTimeout = 86_400.0

    /// Checks the inputs as they come from a workflow (any number, NaN and
    /// infinities included).
    ///
    /// - Throws: ``ActionFailure`` naming `wait_timeout` or `interval` when
    ///   the timeout is negative, not finite or above ``maximumTimeout``, or
    ///   the interval is outside 0.05...3600 seconds.
    public init(timeout: Double, interval: Double) throws {
        do throws(NumberOutOfRange) {
            timeoutDuration = try Seconds.duration(timeout, name: "wait_timeout", maximum: Self.maximumTimeout)
            guard interval >= 0.05 else {
                throw NumberOutOfRange(name: "interval", value: interval, range: "a number of seconds between 0.05 and 3600")
            }
            intervalDuration = try Seconds.duration(interval, name: "interval", maximum: 3600)
        } catch {
            throw ActionFailure(error.description)
        }
        self.timeout = timeout
        self.interval = interval
    }

    /// Whether to wait at all (`timeout > 0`).
    public var waits: Bool { timeout > 0 }
}

/// One look at a resource's status.
public struct StatusObservation: Sendable {
    /// The status compared with the expected one.
    public var status: String
    /// More to say when it is not the expected one (a fail reason, a task state).
    public var detail: String?
    /// The status cannot become the expected one by itself (an error state).
    public var isTerminal: Bool
    /// The status counts as reached only when the resource is settled (no
    /// task running on a server).
    public var isSettled: Bool = true

    /// An observation; `isTerminal` stops the wait at once with a failure.
    public init(status: String, detail: String? = nil, isTerminal: Bool, isSettled: Bool = true) {
        self.status = status
        self.detail = detail
        self.isTerminal = isTerminal
        self.isSettled = isSettled
    }
}

/// The wait loop of the status assertions, shared with actions of your own.
public enum StatusWait {
    /// Checks (and, with a wait, re-checks) until the status is `expected`.
    ///
    /// Statuses compare case-insensitively. A 404 counts as the status
    /// `deleted`, so `status="deleted"` waits for a deletion.
    ///
    /// - Parameters:
    ///   - resource: how failures name the resource, e.g. `snapshot 1234`.
    ///   - expected: the status to reach.
    ///   - wait: how long and how often to check.
    ///   - observe: one look at the resource (usually one `GET`).
    /// - Returns: `true`, as the original actions did.
    /// - Throws: ``ActionFailure`` naming the status seen (and how long it
    ///   waited), or the service's error.
    public static func assertStatus(
        of resource: String,
        expected: String,
        wait: WaitOptions,
        observe: () async throws -> StatusObservation
    ) async throws -> JSON {
        let clock = ContinuousClock()
        let deadline = clock.now + wait.timeoutDuration
        let wanted = expected.lowercased()
        while true {
            let observation: StatusObservation
            do {
                observation = try await observe()
            } catch let error as OpenStackError where error.isNotFound && wanted == "deleted" {
                return .bool(true)
            }
            let seen = observation.status.lowercased()
            if seen == wanted, observation.isSettled {
                return .bool(true)
            }
            let detail = observation.detail.map { " (\($0))" } ?? ""
            if observation.isTerminal, seen != wanted {
                throw ActionFailure(
                    "\(resource) status is '\(observation.status)'\(detail), expected '\(expected)'; "
                        + "it cannot get there by itself")
            }
            let next = clock.now + wait.intervalDuration
            guard wait.waits, next <= deadline else {
                let waited = wait.waits ? " after waiting \(format(wait.timeout)) s" : ""
                throw ActionFailure("\(resource) status is '\(observation.status)'\(detail), expected '\(expected)'\(waited)")
            }
            try await Task.sleep(until: next, clock: clock)
        }
    }

    static func format(_ seconds: Double) -> String {
        NumberOutOfRange.format(seconds)
    }
}
