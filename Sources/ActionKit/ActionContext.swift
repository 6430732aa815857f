import Logging
import OrderedJSON
import OsloMessaging

/// What an action gets besides its input: who asked (the request's security
/// context: token, project, region, service catalog), which execution it
/// belongs to, a logger, and the worker's shared services.
public struct ActionContext: Sendable {
    /// The name Mistral knows the action by (with the prefix).
    public var actionName: String
    /// The security context the engine sent (`_context_*`). Treat as secret.
    public var security: RequestContext
    /// The execution ids from the request's `exec_ctx`.
    public var execution: ExecutionContext
    /// A logger carrying the action name and execution ids as metadata.
    public var logger: Logger
    /// Shared services of the worker (OpenStack session, command policy, ...).
    public var services: ActionServices

    /// A context; the worker builds one per request (tests build their own).
    public init(
        actionName: String,
        security: RequestContext,
        execution: ExecutionContext,
        logger: Logger,
        services: ActionServices = ActionServices()
    ) {
        self.actionName = actionName
        self.security = security
        self.execution = execution
        self.logger = logger
        self.services = services
    }
}

/// The execution ids Mistral sends in `exec_ctx`. All are optional: a
/// synchronous run-action sends `{}`.
public struct ExecutionContext: Sendable, Equatable {
    /// The workflow execution the action belongs to.
    public var workflowExecutionID: String?
    /// The task execution the action belongs to.
    public var taskExecutionID: String?
    /// The action execution itself.
    public var actionExecutionID: String?
    /// The workflow's name.
    public var workflowName: String?
    /// Where an asynchronous action would report (Mistral's `callback_url`).
    public var callbackURL: String?

    /// Execution ids; all optional.
    public init(
        workflowExecutionID: String? = nil,
        taskExecutionID: String? = nil,
        actionExecutionID: String? = nil,
        workflowName: String? = nil,
        callbackURL: String? = nil
    ) {
        self.workflowExecutionID = workflowExecutionID
        self.taskExecutionID = taskExecutionID
        self.actionExecutionID = actionExecutionID
        self.workflowName = workflowName
        self.callbackURL = callbackURL
    }
}

/// Names one shared service that actions can look up in ``ActionServices``.
public protocol ActionServiceKey {
    associatedtype Value: Sendable
}

/// The worker's shared services, looked up by key so that each action module
/// can define the services it needs without this module knowing them.
public struct ActionServices: Sendable {
    private var storage: [ObjectIdentifier: any Sendable] = [:]

    /// No services.
    public init() {}

    /// The service registered under `key`, `nil` when there is none.
    public subscript<Key: ActionServiceKey>(key: Key.Type) -> Key.Value? {
        get { storage[ObjectIdentifier(key)] as? Key.Value }
        set { storage[ObjectIdentifier(key)] = newValue }
    }
}

/// Thrown by an action to fail with a message or a specific error value.
///
/// A message becomes the result's `error` as `action <name> failed: <message>`;
/// an error value is passed through exactly (as a Python action returning
/// `Result(error=...)` does), for workflows that inspect structured errors.
public struct ActionFailure: Error, Sendable, CustomStringConvertible {
    /// What the result's `error` becomes.
    public enum Payload: Sendable, Equatable {
        /// `action <name> failed: <message>`.
        case message(String)
        /// This value, exactly.
        case value(JSON)
    }

    /// The message or the error value.
    public var payload: Payload

    /// Fails with a message.
    public init(_ message: String) { self.payload = .message(message) }
    /// Fails with this error value, passed through unchanged.
    public init(error: JSON) { self.payload = .value(error) }

    /// The message, or the value as Python writes it.
    public var description: String {
        switch payload {
        case .message(let message): return message
        case .value(let value): return value.pythonText
        }
    }
}

extension JSON {
    /// The value as Python's `json.dumps` writes it (for messages and the
    /// input string); JSON that cannot be encoded (a non-finite number) is
    /// shown as `null`.
    public var pythonText: String {
        (try? encodedString(style: .python)) ?? "null"
    }
}
