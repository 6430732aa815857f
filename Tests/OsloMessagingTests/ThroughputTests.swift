import MistralProtocol
import Foundation
import OrderedJSON
import OsloMessaging
import Testing

/// Measures the executor's per-action codec work on a real `run_action`
/// body: decode it completely (envelope, message, every Mistral argument,
/// the serialized action), then encode the heartbeat and the completion
/// carrying the request's context. Prints messages per second; the
/// assertion is a loose floor so that debug builds pass too, on the CPU time
/// of this thread, so that other processes on a loaded machine do not count.
/// Run `swift test -c release --filter ThroughputTests` for real numbers.
@Suite struct ThroughputTests {
    @Test func runActionDecodeAndEncode() throws {
        let body = try Fixtures.runActionCast().bodyBytes
        // MA_THROUGHPUT_ITERATIONS raises the count for profiling.
        let iterations = ProcessInfo.processInfo.environment["MA_THROUGHPUT_ITERATIONS"].flatMap(Int.init) ?? 2_000
        let clock = ContinuousClock()
        var checksum = 0

        let decodeTime = try clock.measure {
            for _ in 0..<iterations {
                checksum &+= try decodeRunAction(body).count
            }
        }
        let request = try RPCRequest(decodingBody: body)
        let encodeTime = try clock.measure {
            for _ in 0..<iterations {
                checksum &+= try encodeReplies(for: request)
            }
        }
        let roundTripTime = try clock.measure {
            for _ in 0..<iterations {
                checksum &+= try RPCRequest(decodingBody: body).encodedBody().count
            }
        }
        #expect(checksum > 0)
        // The same work once more, timed on this thread's CPU clock (the
        // code is synchronous: it stays on one thread).
        let cpuStart = threadCPUTime()
        for _ in 0..<iterations {
            checksum &+= try decodeRunAction(body).count
            checksum &+= try encodeReplies(for: request)
        }
        let cpuTime = threadCPUTime() - cpuStart

        func rate(_ duration: Duration) -> Int {
            let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
            return Int(Double(iterations) / seconds)
        }
        print("""
            run_action (\(body.count) B) per second, one core: \
            full decode \(rate(decodeTime)), \
            encode heartbeat + completion \(rate(encodeTime)), \
            decode + re-encode body \(rate(roundTripTime)), \
            full decode + both encodes \(rate(decodeTime + encodeTime))
            """)
        #expect(rate(cpuTime) > 200, "\(rate(cpuTime)) per CPU second")
    }

    /// Everything the executor reads from a run_action.
    private func decodeRunAction(_ body: [UInt8]) throws -> JSONObject {
        let request = try RPCRequest(decodingBody: body)
        var arguments = try request.mistralArguments()
        if let action = arguments["action"], let serialized = try MistralSerializedObject(decoding: action) {
            arguments["action"] = serialized.data
        }
        _ = request.context.requestID
        return arguments
    }

    /// CPU time this thread has used.
    private func threadCPUTime() -> Duration {
        var spec = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
        return .seconds(spec.tv_sec) + .nanoseconds(spec.tv_nsec)
    }

    /// report_running_actions + on_action_complete with the request's context.
    private func encodeReplies(for request: RPCRequest) throws -> Int {
        let actionID: JSON = "fe126647-8db3-40a0-8b41-7a4b6247c00e"
        let heartbeat = try RPCRequest(
            method: "report_running_actions",
            mistralArguments: ["action_ex_ids": [actionID]],
            context: request.context
        )
        let result = MistralSerializedObject(
            key: "mistral_lib.actions.types.Result",
            data: ["data": "hello from the harness", "error": nil, "cancel": false]
        )
        let completion = try RPCRequest(
            method: "on_action_complete",
            mistralArguments: ["action_ex_id": actionID, "result": try result.encoded(), "wf_action": false],
            context: request.context
        )
        return try heartbeat.encodedBody().count + completion.encodedBody().count
    }
}
