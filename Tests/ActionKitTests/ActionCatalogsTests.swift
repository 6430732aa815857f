import ActionCatalog
import ActionKit
import MistralActionsCLI
import OrderedJSON
import Testing

/// An operator's action that takes a name the standard catalog already has.
private struct OperatorEcho: MistralAction {
    static let name = "debug.echo"
    static let description = "Echoes, again."
    init() {}
    func run(context: ActionContext) async throws -> JSON { .null }
}

/// An operator's action with a name of its own.
private struct OperatorSnapshot: MistralAction {
    static let name = "acme.volumes.snapshot"
    static let description = "Snapshots."
    init() {}
    func run(context: ActionContext) async throws -> JSON { .null }
}

@Suite("Several catalogs in one binary")
struct ActionCatalogsTests {
    @Test("the standard catalog is the discovered list, named after its module")
    func standardCatalog() throws {
        #expect(ActionCatalog.standard.name == "ActionCatalog")
        let standard = ActionCatalog.standard.actionTypes.map { String(reflecting: $0) }
        #expect(standard == ActionCatalog.actionTypes.map { String(reflecting: $0) })
        #expect(standard.contains("ActionCatalog.Echo"))
    }

    @Test("catalogs combine into one registry")
    func combined() throws {
        let own = ActionSet(name: "AcmeActions", actionTypes: [OperatorSnapshot.self])
        let registry = try ActionRegistry(catalogs: [ActionCatalog.standard, own])
        #expect(registry.descriptors.count == ActionCatalog.actionTypes.count + 1)
        #expect(registry.descriptor(named: "acme.volumes.snapshot")?.summary == "Snapshots.")
        #expect(registry.descriptor(named: "debug.echo") != nil)
        #expect(registry.descriptor(forClassName: "AcmeVolumesSnapshotAction")?.name == "acme.volumes.snapshot")
    }

    @Test("a name taken in two catalogs is refused, naming both types")
    func duplicateAcrossCatalogs() throws {
        let own = ActionSet(name: "AcmeActions", actionTypes: [OperatorSnapshot.self, OperatorEcho.self])
        let error = #expect(throws: ActionRegistryError.self) {
            try ActionRegistry(catalogs: [ActionCatalog.standard, own])
        }
        guard case .duplicateName(let name, let types)? = error else {
            Issue.record("expected a duplicate name, got \(String(describing: error))")
            return
        }
        #expect(name == "debug.echo")
        #expect(Set(types) == ["ActionCatalog.Echo", String(reflecting: OperatorEcho.self)])
    }

    @Test("the commands refuse to start with such catalogs, naming both types and the catalogs")
    func commandsRefuse() throws {
        let own = ActionSet(name: "AcmeActions", actionTypes: [OperatorEcho.self])
        let error = #expect(throws: (any Error).self) {
            try CommandCatalogs.registry([ActionCatalog.standard, own])
        }
        let text = String(describing: error.map { "\($0)" } ?? "")
        #expect(text.contains("two actions are named 'debug.echo'"))
        #expect(text.contains("ActionCatalog.Echo"))
        #expect(text.contains(String(reflecting: OperatorEcho.self)))
        #expect(text.contains("catalogs: ActionCatalog, AcmeActions"))
        // Without the clash the same call gives both catalogs' actions.
        let fine = try CommandCatalogs.registry([ActionCatalog.standard, ActionSet(name: "AcmeActions", actionTypes: [OperatorSnapshot.self])])
        #expect(fine.descriptor(named: "acme.volumes.snapshot") != nil)
    }

    @Test("a process that chose no catalogs uses the standard one")
    func defaultCatalogs() {
        #expect(CommandCatalogs.current.map(\.name) == ["ActionCatalog"])
    }
}
