import ActionKit
import CheckedNumbers
import OpenStackClient
import OrderedJSON

/// How long an assertion keeps checking: `wait_timeout` seconds (0: one
/// check, the original tool's behaviour) every `interval` seconds. Waiting
/// inside the action spares workflows a `retry:` loop around it.
struct WaitOptions: Sendable {
    var timeout: Double
    var interval: Double
    /// `timeout` and `interval` as durations (checked once, here).
    var timeoutDuration: Duration
    var intervalDuration: Duration

    /// The longest wait an action accepts (a day); a task's own `timeout:`
    /// can end it sooner.
    static let maximumTimeout = 86_400.0

    init(timeout: Double, interval: Double) throws {
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

    var waits: Bool { timeout > 0 }
}

/// One look at a resource's status.
struct StatusObservation: Sendable {
    /// The status compared with the expected one.
    var status: String
    /// More to say when it is not the expected one (a fail reason, a task state).
    var detail: String?
    /// The status cannot become the expected one by itself (an error state).
    var isTerminal: Bool
    /// The status counts as reached only when the resource is settled (no
    /// task running on a server).
    var isSettled: Bool = true
}

enum StatusWait {
    /// Checks (and, with a wait, re-checks) until the status is `expected`.
    ///
    /// Statuses compare case-insensitively. A 404 counts as the status
    /// `deleted`, so `status="deleted"` waits for a deletion.
    ///
    /// - Returns: `true`, as the original actions did.
    /// - Throws: ``ActionFailure`` naming the status seen (and how long it
    ///   waited), or the service's error.
    static func assertStatus(
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
