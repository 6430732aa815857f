import Foundation
import FuzzTargets
import MistralProtocol
import OrderedJSON
import Testing

/// The fuzz corpus (`Fuzz/corpus/<target>/`): every input the fuzzers kept,
/// replayed through the same functions libFuzzer calls. A trap would end the
/// test process, so reaching the end of a replay is the assertion; seeds
/// whose outcome is known are checked too.
enum Corpus {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/corpus")

    static func files(_ target: FuzzTarget) throws -> [URL] {
        let directory = root.appendingPathComponent(target.rawValue)
        return try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { !$0.lastPathComponent.hasPrefix(".") }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    static func input(_ target: FuzzTarget, _ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: root.appendingPathComponent(target.rawValue).appendingPathComponent(name)))
    }
}

@Suite("Fuzz corpus replay")
struct FuzzCorpusReplayTests {
    @Test("every kept input of every target returns without trapping", arguments: FuzzTarget.allCases)
    func replay(_ target: FuzzTarget) async throws {
        let files = try Corpus.files(target)
        #expect(files.count >= 10, "the corpus of \(target.rawValue) holds only \(files.count) files")
        for file in files {
            let data = [UInt8](try Data(contentsOf: file))
            #expect(data.count <= 64 * 1024, "\(file.lastPathComponent) is too large for the kept corpus")
            _ = await target.run(data)
        }
    }
}

@Suite("Fuzz seeds with known outcomes: oslo-request")
struct OsloRequestSeedTests {
    func outcome(_ name: String) async throws -> OsloRequestTarget.Outcome {
        await OsloRequestTarget.run(try Corpus.input(.osloRequest, name))
    }

    @Test("every captured run_action decodes and is relayed (none of them is ours)")
    func capturedRunActionsAreRelayed() async throws {
        let captures = try Corpus.files(.osloRequest).filter { $0.lastPathComponent.hasSuffix("-run_action.json") }
        #expect(!captures.isEmpty)
        for capture in captures {
            let outcome = await OsloRequestTarget.run([UInt8](try Data(contentsOf: capture)))
            guard case .relayed = outcome else {
                Issue.record("\(capture.lastPathComponent): \(outcome)")
                continue
            }
        }
    }

    @Test("captured engine methods are decoded and refused as methods the executor does not serve")
    func capturedEngineMethodsAreUnsupported() async throws {
        #expect(try await outcome("capture-09-rpc-failures-04-no_such_method.json") == .unsupportedMethod("no_such_method"))
    }

    @Test("a run_action for our debug.echo routes to it and its result encodes for the caller")
    func debugEchoRuns() async throws {
        #expect(try await outcome("seed-debug-echo-call.json") == .ran(action: "int32bit.debug.echo", result: .success("hello"), encoded: true))
    }

    @Test("debug.fail's message becomes the error of the on_action_complete")
    func debugFailReports() async throws {
        guard case .ran(_, let result, let encoded) = try await outcome("seed-debug-fail.json") else {
            Issue.record("debug.fail did not run")
            return
        }
        #expect(result.isError && encoded)
        #expect(result.error.stringValue?.contains("boom") == true)
    }

    @Test("debug.sleep with seconds=1e300 is answered, not a trap", arguments: [
        "seed-debug-sleep-1e300.json", "seed-debug-sleep-infinity.json",
    ])
    func hugeSleepIsAnswered(_ name: String) async throws {
        guard case .ran(_, let result, _) = try await outcome(name) else {
            Issue.record("\(name) did not reach the action")
            return
        }
        // Either refused with an error, or checked and replaced by the no-op: never a trap.
        _ = result
    }

    @Test("a run_action timeout out of any range runs the action instead of trapping", arguments: [
        "seed-debug-noop-timeout-1e300.json", "seed-debug-noop-timeout-1e19.json",
        "seed-debug-noop-timeout-9223372036854775807.json", "seed-debug-noop-timeout-nan.json",
    ])
    func hugeTimeoutIsAnswered(_ name: String) async throws {
        #expect(try await outcome(name) == .ran(action: "int32bit.debug.noop", result: .success(.null), encoded: true))
    }

    @Test("a redelivered request that is not safe to rerun is failed, not run")
    func redeliveredIsNotRerun() async throws {
        guard case .ran(_, let result, _) = try await outcome("seed-debug-noop-redelivered.json") else {
            Issue.record("not routed to debug.noop")
            return
        }
        #expect(result.isError)
    }

    @Test("actions we do not ship are relayed")
    func unknownActionIsRelayed() async throws {
        #expect(try await outcome("seed-unknown-action.json") == .relayed(action: "NoSuchActionAction"))
    }

    @Test("system.exec without a command policy fails and runs nothing")
    func execIsDisabled() async throws {
        guard case .ran(_, let result, _) = try await outcome("seed-system-exec.json") else {
            Issue.record("system.exec was not routed to the catalog")
            return
        }
        #expect(result.error.stringValue?.contains("disabled") == true)
    }

    @Test("bodies that are no oslo message are unreadable", arguments: [
        "seed-empty.json", "seed-deep-nesting.json", "seed-envelope-version-9.json",
    ])
    func garbageIsUnreadable(_ name: String) async throws {
        guard case .unreadable = try await outcome(name) else {
            Issue.record("\(name) was read")
            return
        }
    }
}

@Suite("Fuzz seeds with known outcomes: action-input")
struct ActionInputSeedTests {
    /// A seed's outcome, with a deadline no loaded machine reaches for the
    /// seeds that finish (the fuzzer's own is 0.2 s).
    func outcome(_ name: String) async throws -> ActionInputTarget.Outcome {
        await ActionInputTarget.run(try Corpus.input(.actionInput, name), deadline: 120)
    }

    @Test("the first byte can pick every action of the catalog")
    func everyActionIsReachable() {
        #expect(ActionInputTarget.actionNames.count >= 20)
        #expect(ActionInputTarget.actionNames.count <= 256)
    }

    @Test("debug.echo returns its input")
    func echo() async throws {
        let result = try #require(try await outcome("seed-debug-echo.txt").result)
        #expect(result == .success([1, "two", ["three": 3.5]]))
    }

    @Test("an input for an unknown parameter is refused with a message")
    func unexpected() async throws {
        let result = try #require(try await outcome("seed-debug-noop-unexpected.txt").result)
        #expect(result.error.stringValue?.contains("surprise") == true)
    }

    @Test("debug.sleep with seconds out of range gives an error or a timeout, never a success", arguments: [
        "seed-debug-sleep-1e300.txt", "seed-debug-sleep-1e19.txt", "seed-debug-sleep-negative.txt",
        "seed-debug-sleep-string.txt",
    ])
    func hugeSleep(_ name: String) async throws {
        let result = try #require(try await outcome(name).result)
        #expect(result.isError)
    }

    @Test("an OpenStack action reaches the simulator: the demo volume is available")
    func volumeAssertion() async throws {
        let result = try #require(try await outcome("seed-cinder-volume-assert-status.txt").result)
        #expect(!result.isError, "\(result.error)")
    }

    @Test("an image filter with size_min=1e19 gives an error, not a trap")
    func glanceWholeNumberFilter() async throws {
        let result = try #require(try await outcome("seed-glance-filter-by-size-min-1e19.txt").result)
        #expect(result.isError)
    }

    @Test("system.exec stays disabled")
    func execDisabled() async throws {
        let result = try #require(try await outcome("seed-system-exec.txt").result)
        #expect(result.error.stringValue?.contains("disabled") == true)
    }
}

@Suite("Fuzz seeds with known outcomes: openstack-errors")
struct OpenStackErrorsSeedTests {
    func outcome(_ name: String) throws -> OpenStackErrorsTarget.Outcome {
        OpenStackErrorsTarget.run(try Corpus.input(.openStackErrors, name))
    }

    @Test("Nova's envelope gives the fault and message")
    func novaEnvelope() throws {
        let error = try #require(try outcome("seed-nova-404.txt").error)
        #expect(error.contains("404 itemNotFound: Instance x could not be found."))
    }

    @Test("a token in Keystone's message never reaches the error")
    func tokenIsRedacted() throws {
        let error = try #require(try outcome("seed-keystone-404-token.txt").error)
        #expect(!error.contains("gAAAAAB-fuzz-secret-token"))
    }

    @Test("Retry-After values out of range are no wait longer than the policy's maximum", arguments: [
        "seed-retry-after-1e300.txt", "seed-retry-after-1e19.txt", "seed-retry-after-9.3e15.txt",
        "seed-retry-after-infinity.txt", "seed-retry-after-nan.txt", "seed-retry-after-year-huge.txt",
    ])
    func hugeRetryAfter(_ name: String) throws {
        let outcome = try outcome(name)
        if let seconds = outcome.retryAfterSeconds { #expect(seconds.isFinite && seconds >= 0) }
        #expect(outcome.idempotentDelay.map { $0 <= .seconds(30) } ?? true)
        #expect(outcome.nonIdempotentDelay.map { $0 <= .seconds(30) } ?? true)
    }

    @Test("an HTTP-date in the past means no wait")
    func pastDate() throws {
        #expect(try outcome("seed-retry-after-http-date.txt").retryAfterSeconds == 0)
    }

    @Test("Cinder's quota 413 (Retry-After: 0) is final for a write")
    func quotaIsFinal() throws {
        #expect(try outcome("seed-cinder-413-over-limit.txt").nonIdempotentDelay == nil)
    }

    @Test("a 2xx answer whose body is not JSON is an error")
    func successNotJSON() throws {
        #expect(try outcome("seed-success-200-not-json.txt").error != nil)
        #expect(try outcome("seed-success-204-empty.txt").error == nil)
    }
}

@Suite("Fuzz seeds with known outcomes: config")
struct ConfigSeedTests {
    func outcome(_ name: String) throws -> ConfigTarget.Outcome {
        ConfigTarget.run(try Corpus.input(.config, name))
    }

    @Test("the shipped sample configuration loads")
    func sampleLoads() throws {
        guard case .loaded(_, nil) = try outcome("seed-sample.conf") else {
            Issue.record("the sample did not load: \(try outcome("seed-sample.conf"))")
            return
        }
    }

    @Test("a file that is not UTF-8 is refused")
    func notUTF8() throws {
        #expect(try outcome("seed-invalid-utf8.conf") == .notText)
    }

    @Test("a section header without its bracket is refused")
    func badHeader() throws {
        guard case .refused = try outcome("seed-bad-header.conf") else {
            Issue.record("an unterminated section header was accepted")
            return
        }
    }
}
