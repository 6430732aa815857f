import Logging
import OrderedJSON

/// An action that Mistral workflows can call and that mistral-actions runs.
///
/// One action is one type in one file; the build discovers it (no list to
/// edit). Its input is declared with ``Parameter`` properties, in order:
///
/// ```swift
/// struct AssertVolumeStatus: MistralAction {
///     static let name = "cinder.volumes.assert_status"
///     static let description = "Checks that a volume has the expected status."
///
///     @Parameter("volume_id", help: "The volume to check.") var volumeID: String
///     @Parameter(default: "available") var status: String
///
///     init() {}
///
///     func run(context: ActionContext) async throws -> JSON { ... }
/// }
/// ```
///
/// Mistral shows this action as `int32bit.cinder.volumes.assert_status` with
/// the input `volume_id, status="available"`.
public protocol MistralAction: Sendable {
    /// The name below the configured prefix, dotted:
    /// `<service>.<resource>.<verb>` for OpenStack actions.
    static var name: String { get }

    /// What the action does; the first line is the summary shown in tables.
    static var description: String { get }

    /// An instance with every parameter at its default; the framework fills
    /// the parameters from the request before calling ``run(context:)``.
    init()

    /// Runs the action. The returned value becomes the result's `data`;
    /// a thrown error becomes the result's `error`. Cancellation (timeout,
    /// shutdown) arrives as Swift task cancellation.
    func run(context: ActionContext) async throws -> JSON
}
