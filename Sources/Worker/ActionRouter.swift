import ActionKit
import MistralProtocol
import OrderedJSON

/// Decides who runs a requested action: this worker (a Swift action it
/// ships) or somebody else (a Python executor, through the fallback topic).
///
/// Our actions reach the executor as `DynamicAction`s of our code source, or
/// as an ad-hoc action whose innermost base is one. When the worker knows the
/// id of its code source (it registered the actions or read them from the
/// database), the id must match; otherwise the stub class name alone decides.
public struct ActionRouter: Sendable {
    public enum Route: Sendable {
        /// Ours: run `descriptor` with `input` (the engine's `data`).
        case swift(ActionDescriptor, input: JSONObject)
        /// Not ours: `name` for messages.
        case foreign(name: String)
    }

    public let registry: ActionRegistry
    public let codeSourceIDs: Set<String>

    public init(registry: ActionRegistry, codeSourceIDs: Set<String>) {
        self.registry = registry
        self.codeSourceIDs = codeSourceIDs
    }

    public func route(_ action: SerializedAction) -> Route {
        guard case .dynamic(let dynamic) = action.innermost,
              codeSourceIDs.isEmpty || codeSourceIDs.contains(dynamic.codeSourceID),
              let descriptor = registry.descriptor(forClassName: dynamic.className)
        else {
            return .foreign(name: action.innermost.displayName)
        }
        return .swift(descriptor, input: dynamic.data)
    }
}
