import Synchronization

/// What the worker is doing, for `/readyz` and for systemd (`READY=1`,
/// `STATUS=`, `STOPPING=1` through a ``SystemdNotifier``).
///
/// The phases go forward only: starting → registering → waiting for
/// RabbitMQ → consuming → draining → stopped (a phase may be skipped).
public final class WorkerStatus: Sendable {
    public enum Phase: Int, Sendable, Comparable, CustomStringConvertible {
        case starting
        /// Registering the actions in Mistral's database (retried until it works).
        case registering
        /// RabbitMQ cannot be consumed from yet (retried until it can).
        case waitingForBroker
        case consuming
        /// Shutting down: nothing new starts; running actions finish.
        case draining
        case stopped

        public static func < (lhs: Phase, rhs: Phase) -> Bool { lhs.rawValue < rhs.rawValue }

        public var description: String {
            switch self {
            case .starting: "starting"
            case .registering: "registering"
            case .waitingForBroker: "waiting for RabbitMQ"
            case .consuming: "consuming"
            case .draining: "draining"
            case .stopped: "stopped"
            }
        }
    }

    /// `/readyz`'s answer.
    public enum Readiness: Sendable, Equatable {
        case ready
        case notReady(reason: String)
    }

    private struct State {
        var phase = Phase.starting
        var detail: String?
        var running = 0
        var capacity = 0
        var lastStatus: String?
        var stoppingSent = false
    }

    public let notifier: SystemdNotifier
    private let state = Mutex(State())

    public init(notifier: SystemdNotifier = .disabled) {
        self.notifier = notifier
    }

    public var phase: Phase { state.withLock { $0.phase } }

    /// Ready while consuming (the transport's connections are judged by the
    /// caller, which knows them).
    public var readiness: Readiness {
        state.withLock { state in
            switch state.phase {
            case .consuming: .ready
            case .starting: .notReady(reason: "starting")
            case .registering: .notReady(reason: "registering the actions in Mistral's database")
            case .waitingForBroker:
                .notReady(reason: "waiting for RabbitMQ" + (state.detail.map { ": \($0)" } ?? ""))
            case .draining:
                .notReady(reason: "draining: shutting down, \(state.running) action(s) still running")
            case .stopped: .notReady(reason: "stopped")
            }
        }
    }

    /// Moves to `phase` (never back) and tells systemd: `READY=1` on
    /// entering consuming, `STOPPING=1` on entering draining, and the new
    /// `STATUS=` line. `detail` says why the worker waits.
    public func enter(_ phase: Phase, detail: String? = nil) {
        let message: String? = state.withLock { state in
            guard phase >= state.phase else { return nil }
            let entering = phase != state.phase
            state.phase = phase
            state.detail = detail
            let status = Self.statusLine(state)
            if !entering && status == state.lastStatus { return nil }
            state.lastStatus = status
            var lines = ["STATUS=\(status)"]
            if entering && phase == .consuming { lines.insert("READY=1", at: 0) }
            if phase >= .draining && !state.stoppingSent {
                state.stoppingSent = true
                lines.insert("STOPPING=1", at: 0)
            }
            return lines.joined(separator: "\n")
        }
        if let message { notifier.send(message) }
    }

    /// The worker's slots (no message: ``refresh(watchdog:)`` reports them).
    public func slots(running: Int, capacity: Int) {
        state.withLock { state in
            state.running = running
            state.capacity = capacity
        }
    }

    /// Sends the `STATUS=` line again if it changed, with `WATCHDOG=1` when
    /// asked (from the loop that proves the worker is alive).
    public func refresh(watchdog: Bool) {
        let status: String? = state.withLock { state in
            let status = Self.statusLine(state)
            guard status != state.lastStatus else { return nil }
            state.lastStatus = status
            return status
        }
        var lines: [String] = []
        if watchdog { lines.append("WATCHDOG=1") }
        if let status { lines.append("STATUS=\(status)") }
        if !lines.isEmpty { notifier.send(lines.joined(separator: "\n")) }
    }

    private static func statusLine(_ state: State) -> String {
        let detail = state.detail.map { ": \($0)" } ?? ""
        switch state.phase {
        case .starting: return "starting"
        case .registering: return "registering the actions in Mistral's database" + detail
        case .waitingForBroker: return "waiting for RabbitMQ" + detail
        case .consuming: return "consuming: \(state.running) of \(state.capacity) action slots busy"
        case .draining: return "draining: \(state.running) action(s) still running"
        case .stopped: return "stopped"
        }
    }
}
