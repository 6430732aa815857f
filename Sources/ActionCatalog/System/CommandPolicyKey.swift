import ActionKit
import CommandRunner

/// The worker's command policy (`[mistral_actions] exec_*`), which decides
/// what `system.exec` may run. Without one, the action is disabled.
public enum CommandPolicyKey: ActionServiceKey {
    /// The policy.
    public typealias Value = CommandPolicy
}
