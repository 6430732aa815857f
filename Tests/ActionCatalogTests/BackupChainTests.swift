import OrderedJSON
import Testing

@testable import ActionCatalog

/// Chain reconstruction from what Cinder shows (no parent_id), and Trove's
/// parent_id chains.
@Suite struct CinderBackupChainTests {
    func full(_ id: String, at time: Double, _ status: String = "available") -> VolumeBackup {
        VolumeBackup(id: id, status: status, isIncremental: false, dataTimestamp: time)
    }

    func incremental(_ id: String, at time: Double, _ status: String = "available") -> VolumeBackup {
        VolumeBackup(id: id, status: status, isIncremental: true, dataTimestamp: time)
    }

    @Test func noBackupMeansFull() {
        #expect(BackupChainPlanner.decide(backups: [], maxChainLength: 5) == .full(reason: "the volume has no backup yet"))
    }

    @Test func shortChainGetsAnIncrementalOnItsNewestBackup() {
        let backups = [full("f1", at: 10), incremental("i1", at: 20), incremental("i2", at: 30)]
        #expect(BackupChainPlanner.decide(backups: backups, maxChainLength: 5) == .incremental(expectedParentID: "i2", chainLength: 4))
    }

    @Test func fullChainStartsANewOne() {
        let backups = [full("f1", at: 10)] + (1...4).map { incremental("i\($0)", at: Double(10 + $0)) }
        guard case .full(let reason) = BackupChainPlanner.decide(backups: backups, maxChainLength: 5) else {
            Issue.record("expected a full backup")
            return
        }
        #expect(reason.contains("5 backups"))
        #expect(BackupChainPlanner.decide(backups: backups, maxChainLength: 6) == .incremental(expectedParentID: "i4", chainLength: 6))
    }

    @Test func lengthOneMeansAlwaysFull() {
        #expect(!BackupChainPlanner.decide(backups: [full("f1", at: 1)], maxChainLength: 1).isIncremental)
    }

    @Test func onlyTheNewestFullsChainCounts() {
        let backups = [
            full("f1", at: 10), incremental("i1", at: 11), incremental("i2", at: 12), incremental("i3", at: 13),
            full("f2", at: 20), incremental("j1", at: 21),
        ]
        #expect(BackupChainPlanner.decide(backups: backups, maxChainLength: 4) == .incremental(expectedParentID: "j1", chainLength: 3))
    }

    @Test func backupsInErrorOrCreatingAreNoParents() {
        // Cinder takes the latest *available* backup as parent: an error
        // incremental neither counts nor becomes the parent.
        let backups = [full("f1", at: 10), incremental("i1", at: 11), incremental("bad", at: 12, "error")]
        #expect(BackupChainPlanner.decide(backups: backups, maxChainLength: 5) == .incremental(expectedParentID: "i1", chainLength: 3))
    }

    @Test func aFailedFullDoesNotStartAChain() {
        let backups = [full("f1", at: 10), full("f2", at: 20, "error"), incremental("i1", at: 30)]
        let (chains, orphans) = BackupChainPlanner.chains(of: backups)
        #expect(chains.map(\.ids) == [["f1", "i1"], ["f2"]])
        #expect(orphans.isEmpty)
        #expect(BackupChainPlanner.decide(backups: backups, maxChainLength: 5) == .incremental(expectedParentID: "i1", chainLength: 3))
    }

    @Test func onlyErrorBackupsMeanFull() {
        let decision = BackupChainPlanner.decide(backups: [full("f1", at: 1, "error")], maxChainLength: 5)
        #expect(decision == .full(reason: "no full backup of the volume is available to build on"))
    }

    @Test func orphansAreKeptApartAndNeverLoop() {
        // Incrementals older than any full backup: their full is gone.
        let backups = [incremental("o1", at: 1), incremental("o2", at: 2), full("f1", at: 10), incremental("i1", at: 11)]
        let (chains, orphans) = BackupChainPlanner.chains(of: backups)
        #expect(chains.map(\.ids) == [["f1", "i1"]])
        #expect(orphans.map(\.id) == ["o1", "o2"])
        #expect(BackupChainPlanner.decide(backups: Array(backups.prefix(2)), maxChainLength: 5)
            == .full(reason: "no full backup of the volume is available to build on"))
    }

    @Test func deletingBackupsAreIgnored() {
        let backups = [full("f1", at: 10, "deleting"), incremental("i1", at: 11, "deleting")]
        #expect(BackupChainPlanner.decide(backups: backups, maxChainLength: 5) == .full(reason: "the volume has no backup yet"))
    }

    @Test func orderIsByDataTimestampNotListOrder() {
        let backups = [incremental("i2", at: 30), full("f1", at: 10), incremental("i1", at: 20)]
        #expect(BackupChainPlanner.chains(of: backups).chains.map(\.ids) == [["f1", "i1", "i2"]])
    }

    @Test func pruningKeepsTheNewestChainsAndSkipsBusyOnes() {
        let backups = [
            full("a", at: 1), incremental("a1", at: 2),
            full("b", at: 10), incremental("b1", at: 11, "restoring"),
            full("c", at: 20, "error"),
            full("d", at: 30), incremental("d1", at: 31),
            full("e", at: 40),
        ]
        let prune = BackupChainPlanner.chainsToPrune(backups: backups, keep: 2)
        // Kept: d and e. b is busy (restoring); the failed full c goes.
        #expect(prune.map(\.ids) == [["a", "a1"], ["c"]])
        #expect(BackupChainPlanner.chainsToPrune(backups: backups, keep: 4).isEmpty)
        #expect(BackupChainPlanner.chainsToPrune(backups: backups, keep: 0).isEmpty)
    }

    @Test func backupFromCinderJSON() throws {
        let json = try JSON(parsing: """
            {"id": "b1", "status": "available", "is_incremental": true,
             "created_at": "2023-06-23T11:56:02.509831", "data_timestamp": "2023-06-23T11:50:00.000000", "name": "x"}
            """)
        let object = try #require(json.objectValue)
        let backup = try #require(VolumeBackup(json: object))
        #expect(backup.isIncremental)
        #expect(backup.dataTimestamp < backup.createdAt)
        #expect(VolumeBackup(json: ["id": "x"]) == nil)
    }

    @Test func nextMarkerComesFromTheLink() {
        let links: JSON = [["rel": "next", "href": "http://internal:8776/v3/p/backups/detail?limit=2&marker=ab%2Dc"]]
        #expect(CinderAPI.nextMarker(links) == "ab-c")
        #expect(CinderAPI.nextMarker(nil) == nil)
        #expect(CinderAPI.nextMarker([["rel": "self", "href": "x"]]) == nil)
    }
}

@Suite struct TroveBackupChainTests {
    func backup(_ id: String, parent: String? = nil, at time: Double, _ status: String = "COMPLETED") -> DatabaseBackup {
        DatabaseBackup(id: id, status: status, parentID: parent, updated: time)
    }

    @Test func buildsOnTheLatestCompleted() {
        let backups = [backup("f", at: 1), backup("i1", parent: "f", at: 2), backup("run", parent: "i1", at: 3, "BUILDING")]
        #expect(DatabaseBackupPlanner.decide(backups: backups, maxChainLength: 5) == .incremental(parentID: "i1", chainLength: 3))
    }

    @Test func aChildWithTheSameSecondIsTheNewer() {
        // Trove's timestamps have whole seconds.
        let backups = [backup("zz-full", at: 5), backup("aa-child", parent: "zz-full", at: 5)]
        #expect(DatabaseBackupPlanner.decide(backups: backups, maxChainLength: 5) == .incremental(parentID: "aa-child", chainLength: 3))
        #expect(DatabaseBackupPlanner.decide(backups: backups.reversed(), maxChainLength: 2) == .full(reason: "the current chain already has 2 backups (max_chain_length 2)"))
    }

    @Test func longChainOrNoneMeansFull() {
        let chain = [backup("f", at: 1), backup("i1", parent: "f", at: 2), backup("i2", parent: "i1", at: 3)]
        #expect(DatabaseBackupPlanner.decide(backups: chain, maxChainLength: 3) == .full(reason: "the current chain already has 3 backups (max_chain_length 3)"))
        #expect(DatabaseBackupPlanner.decide(backups: [], maxChainLength: 3) == .full(reason: "the instance has no backup yet"))
        #expect(DatabaseBackupPlanner.decide(backups: [backup("x", at: 1, "FAILED")], maxChainLength: 3)
            == .full(reason: "no completed backup to build on"))
    }

    @Test func brokenOrLoopingChainsMeanFull() {
        let missing = [backup("i1", parent: "gone", at: 2)]
        guard case .full(let reason) = DatabaseBackupPlanner.decide(backups: missing, maxChainLength: 5) else {
            Issue.record("expected full")
            return
        }
        #expect(reason.contains("broken"))
        let loop = [backup("a", parent: "b", at: 1), backup("b", parent: "a", at: 2)]
        #expect(!(DatabaseBackupPlanner.decide(backups: loop, maxChainLength: 5) == .incremental(parentID: "b", chainLength: 3)))
        #expect(DatabaseBackupPlanner.chainLength(of: loop[1], in: ["a": loop[0], "b": loop[1]]) == nil)
    }

    @Test func pruningDeletesOldRootsExceptBusyChains() {
        let backups = [
            backup("f1", at: 1), backup("f1a", parent: "f1", at: 2),
            backup("f2", at: 10), backup("f2a", parent: "f2", at: 11, "BUILDING"),
            backup("f3", at: 20), backup("f4", at: 30),
        ]
        #expect(DatabaseBackupPlanner.rootsToPrune(backups: backups, keep: 2).map(\.id) == ["f1"])
        #expect(DatabaseBackupPlanner.rootsToPrune(backups: backups, keep: 1).map(\.id) == ["f1", "f3"])
    }
}

@Suite struct TimestampAndFilterTests {
    @Test func everyServicesTimestampFormat() throws {
        let keystone = try #require(OpenStackTimestamp.parse("2015-11-07T02:58:43.578887Z"))
        let nova = try #require(OpenStackTimestamp.parse("2015-11-07T02:58:43Z"))
        let cinder = try #require(OpenStackTimestamp.parse("2015-11-07T02:58:43.578887"))
        let trove = try #require(OpenStackTimestamp.parse("2015-11-07T02:58:43"))
        let offset = try #require(OpenStackTimestamp.parse("2015-11-07T04:58:43+02:00"))
        #expect(nova == 1_446_865_123)
        #expect(abs(keystone - 1_446_865_123.578887) < 0.000_01)
        #expect(cinder == keystone)
        #expect(trove == nova)
        #expect(offset == nova)
        #expect(OpenStackTimestamp.parse("yesterday") == nil)
        #expect(OpenStackTimestamp.parse("2015-13-07T02:58:43") == nil)
        #expect(OpenStackTimestamp.nameSuffix(secondsSinceEpoch: 1_446_865_123.9) == "2015_11_07_02_58_43")
    }

    @Test func glanceFilterQuery() throws {
        let query = try GlanceFilters.query([
            "name": "ubuntu:22.04", "status": ["active", "queued"], "tag": ["a", "b"], "id": "in:1,2",
            "instance_uuid": "x:y", "min_disk": 2, "visibility": .null,
        ])
        #expect(query.map { "\($0.name)=\($0.value)" } == [
            "name=eq:ubuntu:22.04", "status=in:active,queued", "tag=a", "tag=b", "id=in:1,2", "instance_uuid=x:y", "min_disk=2",
        ])
        #expect(throws: (any Error).self) { try GlanceFilters.query(["limit": 5]) }
        #expect(throws: (any Error).self) { try GlanceFilters.query(["owner": ["a", "b"]]) }
        #expect(throws: (any Error).self) { try GlanceFilters.query(["name": ["a,b"]]) }
    }
}
