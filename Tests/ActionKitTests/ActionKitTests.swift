import ActionCatalog
@testable import ActionKit
import ActionSync
import MistralActionsCLI
import Foundation
import Logging
import MistralActionsTestSupport
import OrderedJSON
import OsloMessaging
import Testing

/// A test action exercising every kind of parameter.
struct SampleAction: MistralAction {
    static let name = "sample.things.do_it"
    static let description = "Does \"things\" with 'quotes', a backslash \\ and \"\"\"triple quotes\"\"\".\n\nSecond paragraph: ünïcödé ✓."

    @Parameter("volume_id", help: "The volume.") var volumeID: String
    @Parameter var backupName: String
    @Parameter var snapshotID: String?
    @Parameter(default: true) var incremental: Bool
    @Parameter(default: 5) var maxChainLength: Int
    @Parameter(default: ["a", "b"]) var tags: [String]
    @Parameter(default: 0.5) var ratio: Double

    init() {}

    func run(context: ActionContext) async throws -> JSON {
        ["volume_id": .string(volumeID), "backup_name": .string(backupName), "snapshot_id": snapshotID.map(JSON.string) ?? .null,
         "incremental": .bool(incremental), "max_chain_length": .integer(Int64(maxChainLength))]
    }
}

/// A parameter and a `**kwargs` catch-all.
struct KeywordSample: MistralAction {
    static let name = "sample.things.filter"
    static let description = "Keyword arguments."
    @Parameter(default: 1) var limit: Int
    @KeywordArguments var filters: JSONObject
    init() {}
    func run(context: ActionContext) async throws -> JSON { ["limit": .integer(Int64(limit)), "filters": .object(filters)] }
}

/// An init that creates its parameters in another order than declared.
struct ReorderedInitSample: MistralAction {
    static let name = "sample.things.reordered"
    static let description = "Parameters created in reverse order."
    @Parameter var first: String
    @Parameter var second: String
    init() {
        _second = Parameter()
        _first = Parameter()
    }
    func run(context: ActionContext) async throws -> JSON { ["first": .string(first), "second": .string(second)] }
}

struct OtherSample: MistralAction {
    static let name = "sample.things.do_it"
    static let description = "Same name as SampleAction."
    init() {}
    func run(context: ActionContext) async throws -> JSON { .null }
}

@Suite("Action declarations")
struct ActionDeclarationTests {
    @Test("parameters keep declaration order, derive snake_case names and defaults")
    func parameters() {
        let descriptor = ActionDescriptor(SampleAction.self)
        #expect(descriptor.parameters.map(\.name) == ["volume_id", "backup_name", "snapshot_id", "incremental", "max_chain_length", "tags", "ratio"])
        #expect(descriptor.parameters.map(\.isRequired) == [true, true, false, false, false, false, false])
        #expect(descriptor.inputString == #"volume_id, backup_name, snapshot_id=null, incremental=true, max_chain_length=5, tags=["a", "b"], ratio=0.5"#)
        #expect(descriptor.summary == #"Does "things" with 'quotes', a backslash \ and """triple quotes"""."#)
    }

    @Test("input is decoded into typed parameters")
    func decoding() async throws {
        let action = try ActionDescriptor(SampleAction.self).instantiate(input: [
            "volume_id": "v1", "backup_name": "b", "incremental": false, "max_chain_length": 3.0,
        ])
        let output = try await action.run(context: ActionContext(
            actionName: "x", security: RequestContext(), execution: ExecutionContext(), logger: .init(label: "test")
        ))
        #expect(output == ["volume_id": "v1", "backup_name": "b", "snapshot_id": nil, "incremental": false, "max_chain_length": 3])
    }

    @Test("keyword arguments: loose keys and the stub's kwargs object both land in the catch-all; each instance has its own values")
    func keywordArguments() async throws {
        let descriptor = ActionDescriptor(KeywordSample.self)
        let context = ActionContext(actionName: "x", security: RequestContext(), execution: ExecutionContext(), logger: .init(label: "test"))
        let loose = try descriptor.instantiate(input: ["name": "ubuntu", "limit": 3])
        let wrapped = try descriptor.instantiate(input: ["kwargs": ["status": "active"]])
        #expect(try await loose.run(context: context) == ["limit": 3, "filters": ["name": "ubuntu"]])
        #expect(try await wrapped.run(context: context) == ["limit": 1, "filters": ["status": "active"]])
        #expect(throws: ActionInputError.self) { try descriptor.instantiate(input: ["limit": "three"]) }
    }

    @Test("input lands in the right parameters whether init() creates them in declaration order or not")
    func creationOrder() async throws {
        let context = ActionContext(actionName: "x", security: RequestContext(), execution: ExecutionContext(), logger: .init(label: "test"))
        let inOrder = ActionDescriptor(SampleAction.self)
        let reordered = ActionDescriptor(ReorderedInitSample.self)
        // Declaration order: decoded without reflection; the other falls back to it.
        #expect(inOrder.initCreatesParametersInOrder)
        #expect(!reordered.initCreatesParametersInOrder)
        #expect(ActionDescriptor(KeywordSample.self).initCreatesParametersInOrder)
        #expect(reordered.parameters.map(\.name) == ["first", "second"])
        let action = try reordered.instantiate(input: ["first": "1", "second": "2"])
        #expect(try await action.run(context: context) == ["first": "1", "second": "2"])
        // Two instances never share their values.
        let one = try inOrder.instantiate(input: ["volume_id": "a", "backup_name": "b"])
        let two = try inOrder.instantiate(input: ["volume_id": "c", "backup_name": "d"])
        #expect(try await one.run(context: context)["volume_id"] == "a")
        #expect(try await two.run(context: context)["volume_id"] == "c")
    }

    @Test("every problem with the input is reported at once")
    func invalidInput() {
        #expect {
            _ = try ActionDescriptor(SampleAction.self).instantiate(input: [
                "volume_id": 42, "incremental": "yes", "extra": 1, "max_chain_length": 2.5,
            ])
        } throws: { error in
            guard let error = error as? ActionInputError else { return false }
            let text = error.description
            return text.hasPrefix("invalid input for action sample.things.do_it: ")
                && text.contains("parameter 'volume_id' must be a string, got 42")
                && text.contains("parameter 'incremental' must be a boolean, got \"yes\"")
                && text.contains("parameter 'max_chain_length' must be an integer, got 2.5")
                && text.contains("unexpected parameter 'extra'")
                && text.contains("missing required parameter 'backup_name'")
        }
    }

    @Test("two actions with one name are refused, naming both types")
    func duplicateNames() {
        #expect(throws: ActionRegistryError.self) { try ActionRegistry([SampleAction.self, OtherSample.self]) }
        do {
            _ = try ActionRegistry([SampleAction.self, OtherSample.self])
        } catch {
            #expect(error.description.contains("SampleAction") && error.description.contains("OtherSample"))
        }
    }

    @Test("stub class names are UpperCamelCase with an Action suffix")
    func classNames() {
        #expect(ActionRegistry.stubClassName(for: "cinder.backups.create_backup") == "CinderBackupsCreateBackupAction")
        #expect(ActionRegistry.stubClassName(for: "debug.noop") == "DebugNoopAction")
    }

    @Test("snake_case derivation", arguments: [
        ("volumeID", "volume_id"), ("backupName", "backup_name"), ("httpURLPath", "http_url_path"), ("status", "status"), ("v2Thing", "v2_thing"),
    ])
    func snakeCase(input: String, expected: String) {
        #expect(ActionDescriptor.snakeCase(input) == expected)
    }
}

@Suite("The catalog")
struct CatalogTests {
    @Test("the build discovered every action file, and the set is consistent")
    func discovery() throws {
        let registry = try ActionCatalog.registry()
        let names = Set(registry.descriptors.map(\.name))
        #expect(names.isSuperset(of: ["debug.noop", "debug.echo", "debug.sleep", "debug.fail"]))
        #expect(registry.descriptor(forClassName: "DebugEchoAction")?.name == "debug.echo")
        #expect(registry.descriptor(named: "debug.sleep")?.inputString == "seconds")
    }

    @Test("every action of the catalog decodes its input without reflection (init creates its parameters in declaration order)")
    func decodedWithoutReflection() throws {
        let slow = try ActionCatalog.registry().descriptors.filter { !$0.initCreatesParametersInOrder }.map(\.name)
        #expect(slow.isEmpty, "\(slow)")
    }
}

@Suite("Generated Python stubs, checked by Python and mistral_lib")
struct PythonStubTests {
    static var venvPython: String { TestEnvironment.python }

    @Test("Mistral derives the same input and description from the stubs as the Swift declarations")
    func stubsAgreeWithMistralLib() throws {
        let registry = try ActionRegistry([SampleAction.self] + ActionCatalog.actionTypes)
        let module = PythonStubGenerator.module(for: registry.descriptors, prefix: "int32bit", generator: "test")
        let script = """
            import json, sys, types
            from mistral_lib.utils import inspect_utils
            module = types.ModuleType("stubs")
            exec(sys.stdin.read(), module.__dict__)
            out = {}
            for name in dir(module):
                cls = getattr(module, name)
                if isinstance(cls, type) and name.endswith("Action") and not name.startswith("_"):
                    out[name] = {"input": inspect_utils.get_arg_list_as_str(cls.__init__),
                                 "doc": inspect_utils.get_docstring(cls),
                                 "public": sorted(inspect_utils.get_public_fields(cls))}
            print(json.dumps(out))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.venvPython)
        process.arguments = ["-c", script]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data(module.utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let python = try JSON(parsing: data)
        for descriptor in registry.descriptors {
            let className = ActionRegistry.stubClassName(for: descriptor.name)
            let entry = try #require(python[className], "no class \(className) in the generated module")
            #expect(entry["input"]?.stringValue == descriptor.inputString)
            #expect(entry["doc"]?.stringValue == descriptor.description)
            // No public class attributes: Mistral would send them as cls_attrs.
            #expect(entry["public"] == [])
        }
    }
}

@Suite("The catalog document")
struct CatalogDocumentTests {
    @Test("docs/actions.md is what `mistral-actions markdown-dump` prints")
    func catalogDocumentIsFresh() throws {
        let path = TestEnvironment.packageRoot.appendingPathComponent("docs/actions.md")
        let committed = try String(contentsOf: path, encoding: .utf8)
        let generated = Catalog.markdown(registry: try ActionCatalog.registry(), prefix: "int32bit") + "\n"
        #expect(committed == generated, "docs/actions.md is stale: regenerate it with `mistral-actions markdown-dump > docs/actions.md`")
    }
}
