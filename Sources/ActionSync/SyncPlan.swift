/// What the action-table sync finds in Mistral's database and what it will
/// change there. Planning is a pure function of the two, unit-tested without
/// a database; ``ActionTableSync`` reads the state and applies the plan.
public struct SyncState: Sendable, Equatable {
    /// Our code source row, when it exists.
    public var codeSource: CodeSourceRow?
    /// Dynamic action definitions that are ours (point at our code source) or
    /// that hold one of the names we want.
    public var definitions: [DefinitionRow]

    public init(codeSource: CodeSourceRow?, definitions: [DefinitionRow]) {
        self.codeSource = codeSource
        self.definitions = definitions
    }
}

/// A row of `code_sources`.
public struct CodeSourceRow: Sendable, Equatable {
    public var id: String
    public var name: String
    public var content: String
    public var version: Int

    public init(id: String, name: String, content: String, version: Int) {
        self.id = id
        self.name = name
        self.content = content
        self.version = version
    }
}

/// A row of `dynamic_action_definitions`.
public struct DefinitionRow: Sendable, Equatable {
    public var id: String
    public var name: String
    public var className: String
    public var codeSourceID: String
    public var codeSourceName: String
    public var projectID: String?
    public var scope: String?

    public init(id: String, name: String, className: String, codeSourceID: String, codeSourceName: String, projectID: String?, scope: String?) {
        self.id = id
        self.name = name
        self.className = className
        self.codeSourceID = codeSourceID
        self.codeSourceName = codeSourceName
        self.projectID = projectID
        self.scope = scope
    }
}

/// One action as it should be registered.
public struct DesiredAction: Sendable, Equatable {
    public var name: String
    public var className: String

    public init(name: String, className: String) {
        self.name = name
        self.className = className
    }
}

/// Which of our actions a sync is about.
public enum SyncSelection: Sendable, Equatable {
    /// Every action of the binary; our rows for actions that left it are removed.
    case all
    /// Only these (qualified) names; other rows are left alone.
    case only(Set<String>)
}

/// The changes a sync makes.
public struct SyncPlan: Sendable, Equatable {
    public enum CodeSourceChange: Sendable, Equatable {
        case create
        case update(fromVersion: Int, toVersion: Int)
        case unchanged(version: Int)
    }

    public enum ActionChange: Sendable, Equatable {
        /// A new definition.
        case create(DesiredAction)
        /// Our definition, with a different class name or code source name.
        case update(DesiredAction, rowID: String)
        /// Our definition, already right.
        case unchanged(DesiredAction)
        /// Our definition for an action the binary no longer has.
        case delete(name: String, rowID: String)
        /// A definition of the same name that is not ours, replaced (`--override`).
        case replace(DesiredAction, foreign: DefinitionRow)
        /// A definition of the same name that is not ours, left alone.
        case skip(DesiredAction, foreign: DefinitionRow)
    }

    public var codeSource: CodeSourceChange
    public var actions: [ActionChange]

    /// True when applying the plan writes nothing.
    public var isEmpty: Bool {
        guard case .unchanged = codeSource else { return false }
        return actions.allSatisfy {
            switch $0 {
            case .unchanged, .skip: return true
            default: return false
            }
        }
    }

    /// The names left with a foreign owner (not registered).
    public var skipped: [String] {
        actions.compactMap { if case .skip(let action, _) = $0 { return action.name } else { return nil } }
    }
}

/// Plans a sync.
public enum SyncPlanner {
    public static func plan(
        state: SyncState,
        desired: [DesiredAction],
        content: String,
        codeSourceName: String,
        selection: SyncSelection,
        override: Bool
    ) -> SyncPlan {
        let codeSourceChange: SyncPlan.CodeSourceChange
        let ourID = state.codeSource?.id
        if let existing = state.codeSource {
            codeSourceChange = existing.content == content
                ? .unchanged(version: existing.version)
                // The version is a database row's: never overflow on it.
                : .update(fromVersion: existing.version, toVersion: existing.version < Int.max ? existing.version + 1 : 1)
        } else {
            codeSourceChange = .create
        }

        let selected: [DesiredAction]
        switch selection {
        case .all: selected = desired
        case .only(let names): selected = desired.filter { names.contains($0.name) }
        }

        var changes: [SyncPlan.ActionChange] = []
        for action in selected.sorted(by: { $0.name < $1.name }) {
            let sameName = state.definitions.filter { $0.name == action.name }
            if let ours = sameName.first(where: { $0.codeSourceID == ourID }) {
                if ours.className == action.className && ours.codeSourceName == codeSourceName {
                    changes.append(.unchanged(action))
                } else {
                    changes.append(.update(action, rowID: ours.id))
                }
            } else if let foreign = sameName.first {
                changes.append(override ? .replace(action, foreign: foreign) : .skip(action, foreign: foreign))
            } else {
                changes.append(.create(action))
            }
        }
        if case .all = selection, let ourID {
            let wanted = Set(desired.map(\.name))
            for row in state.definitions.sorted(by: { $0.name < $1.name })
            where row.codeSourceID == ourID && !wanted.contains(row.name) {
                changes.append(.delete(name: row.name, rowID: row.id))
            }
        }
        return SyncPlan(codeSource: codeSourceChange, actions: changes)
    }
}
