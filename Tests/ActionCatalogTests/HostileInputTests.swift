import ActionKit
import OpenStackSimulator
import OrderedJSON
import Testing

@testable import ActionCatalog

/// Numbers a tenant can put in an action's input that would trap a naive
/// conversion (to an integer, or to a Duration): each must become a clear
/// error, or a value the action can use.
@Suite("Absurd numbers in action input are errors, never traps")
struct HostileInputTests {
    @Test("debug.sleep refuses 1e300, infinity, NaN and negative seconds with a message naming the value", arguments: [
        (JSON.double(1e300), "seconds must be a number of seconds between 0 and 31622400, got 1e+300"),
        (.double(-1), "got -1"),
        (.double(.infinity), "parameter 'seconds' must be a finite number, got Infinity"),
        (.double(.nan), "parameter 'seconds' must be a finite number, got NaN"),
        (.integer(Int64.max), "got 9.223372036854776e+18"),
    ] as [(JSON, String)])
    func sleepSeconds(seconds: JSON, message: String) async throws {
        let cloud = try await CloudHarness.start()
        defer { Task { await cloud.shutdown() } }
        let failure = try await cloud.failure("debug.sleep", ["seconds": seconds])
        #expect(failure.contains(message), "\(failure)")
    }

    @Test("debug.sleep of -0 and of a millisecond returns at once")
    func sleepTiny() async throws {
        let cloud = try await CloudHarness.start()
        defer { Task { await cloud.shutdown() } }
        #expect(try await cloud.run("debug.sleep", ["seconds": .double(-0.0)]) == .null)
        #expect(try await cloud.run("debug.sleep", ["seconds": 0.001]) == .null)
    }

    @Test("wait_timeout and interval out of range are refused before any request", arguments: [
        (["wait_timeout": .double(1e300)], "wait_timeout must be a number of seconds between 0 and 86400, got 1e+300"),
        (["wait_timeout": .double(-0.5)], "wait_timeout must be a number of seconds between 0 and 86400, got -0.5"),
        (["wait_timeout": 10, "interval": .double(1e-300)], "interval must be a number of seconds between 0.05 and 3600"),
        (["wait_timeout": 10, "interval": .double(1e19)], "interval must be a number of seconds between 0 and 3600, got 1e+19"),
        (["wait_timeout": .double(.infinity)], "must be a finite number"),
    ] as [(JSONObject, String)])
    func waitOptions(extra: JSONObject, message: String) async throws {
        let cloud = try await CloudHarness.start()
        defer { Task { await cloud.shutdown() } }
        let volume = try cloud.newVolume()
        cloud.simulator.clearRequestLog()
        let failure = try await cloud.failure(
            "cinder.volumes.assert_status", (["volume_id": .string(volume), "status": "available"] as JSONObject).merging(extra))
        #expect(failure.contains(message), "\(failure)")
        #expect(cloud.simulator.requestLog().filter { $0.service == .blockStorage }.isEmpty)
    }

    @Test("a whole-number filter of 1e19 is sent as Python writes it; 5.0 as 5; infinity is refused")
    func glanceWholeNumbers() async throws {
        let cloud = try await CloudHarness.start()
        defer { Task { await cloud.shutdown() } }
        _ = try cloud.seed(["images": [["name": "big", "status": "active", "size": 10]]])
        cloud.simulator.clearRequestLog()
        let huge = try await cloud.failure("glance.images.filter_by", ["size_min": .double(1e19)])
        #expect(huge.contains("size_min"), "\(huge)")
        let queries = cloud.simulator.requestLog().compactMap(\.query)
        #expect(queries.contains { $0.contains("size_min=1e%2B19") || $0.contains("size_min=1e+19") }, "\(queries)")
        let five = try await cloud.run("glance.images.filter_by", ["size_min": .double(5.0)])
        #expect(five.arrayValue?.contains { $0["name"] == "big" } == true)
        #expect(cloud.simulator.requestLog().compactMap(\.query).contains { $0.contains("size_min=5") && !$0.contains("5.0") })
        let infinite = try await cloud.failure("glance.images.filter_by", ["size_min": .double(.infinity)])
        #expect(infinite.contains("filter size_min must be a finite number, got inf"), "\(infinite)")
    }
}

@Suite("Names of created resources")
struct ResourceNameTests {
    @Test("the time in a name is read from a broken clock without trapping", arguments: [
        (0.0, "1970_01_01_00_00_00"), (1_764_064_445.9, "2025_11_25_09_54_05"),
        (Double.nan, "1970_01_01_00_00_00"), (1e300, "1970_01_01_00_00_00"), (-1e300, "1970_01_01_00_00_00"),
    ])
    func nameSuffix(seconds: Double, expected: String) {
        #expect(OpenStackTimestamp.nameSuffix(secondsSinceEpoch: seconds) == expected)
    }
}
