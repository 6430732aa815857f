import ActionKit
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import OpenStackClient
import OrderedJSON

/// `trove.backups.create_backup`
struct TroveBackupCreateChainAware: MistralAction {
    static let name = "trove.backups.create_backup"
    static let description = """
        Backs up a database instance as part of a backup chain: incremental while the chain is short, full when it is long.

        The new backup builds on the instance's latest COMPLETED backup
        (given to Trove as parent_id) while that backup's chain holds fewer
        than max_chain_length backups; otherwise, or when there is none or
        its chain is broken, it is full. The backup is named
        {instance name}_backup_{UTC time}. With wait_timeout > 0 the action
        waits until the backup is COMPLETED; with keep_chains = N (which
        needs wait_timeout) it then deletes full backups older than the
        newest N, which deletes their chains. The instance must be ACTIVE or
        HEALTHY.
        """

    @Parameter("instance_id", help: "The database instance to back up.") var instanceID: String
    @Parameter("max_chain_length", help: "The most backups per chain, the full one included; default: [mistral_actions] max_chain_length.")
    var maxChainLength: Int?
    @Parameter("keep_chains", help: "Delete chains older than the newest N after a successful backup; default: delete nothing.")
    var keepChains: Int?
    @Parameter("wait_timeout", default: 0, help: "Seconds to wait for the backup (and each deletion); 0: do not wait.")
    var waitTimeout: Double
    @Parameter(default: 5, help: "Seconds between checks while waiting.") var interval: Double
    @Parameter("action_region", help: "Region of the Trove endpoint; default: the request's region.") var actionRegion: String?

    init() {}

    func run(context: ActionContext) async throws -> JSON {
        let id = try requireIdentifier(instanceID, "instance_id")
        let wait = try WaitOptions(timeout: waitTimeout, interval: interval)
        let maximum = try BackupSettings.chainLength(
            input: maxChainLength, keepChains: keepChains, wait: wait, readyStatus: "completed", context: context)
        let trove = TroveAPI(client: try context.openStack(region: actionRegion))
        let instance = try await trove.instance(id)
        let status = instance.string("status") ?? "UNKNOWN"
        guard TroveStatuses.backupReady.contains(status) else {
            throw ActionFailure("database instance \(id) cannot be backed up now: its status is '\(status)' (Trove needs ACTIVE or HEALTHY)")
        }
        let existing = try await trove.backups(ofInstance: id).compactMap(DatabaseBackup.init(json:))
        let decision = DatabaseBackupPlanner.decide(backups: existing, maxChainLength: maximum)
        let instanceName = instance.string("name").flatMap { $0.isEmpty ? nil : $0 } ?? id
        let name = "\(instanceName)_backup_\(OpenStackTimestamp.nameSuffix(secondsSinceEpoch: Date().timeIntervalSince1970))"
        let parentID: String?
        var result: JSONObject = [:]
        switch decision {
        case .full(let reason):
            parentID = nil
            result = ["incremental": false, "chain_length": 1, "parent_id": .null, "reason": .string("full backup: \(reason)")]
        case .incremental(let parent, let length):
            parentID = parent
            result = [
                "incremental": true, "chain_length": .integer(Int64(length)), "parent_id": .string(parent),
                "reason": .string("incremental backup: the current chain has \(length - 1) of at most \(maximum) backups"),
            ]
        }
        let created = try await trove.createBackup(
            instanceID: id, name: name, description: "Created by mistral-actions (\(context.actionName))", parentID: parentID)
        guard let backupID = created.string("id") else {
            throw ActionFailure("Trove accepted the backup but answered without its id")
        }
        result.updateValue(.string(backupID), forKey: "id")
        result.updateValue(.string(name), forKey: "name")
        result.updateValue(.string(id), forKey: "instance_id")
        result.updateValue(.integer(Int64(maximum)), forKey: "max_chain_length")
        guard wait.waits else {
            result.updateValue(.string(created.string("status") ?? "NEW"), forKey: "status")
            return .object(result)
        }
        _ = try await StatusWait.assertStatus(of: "database backup \(backupID)", expected: "COMPLETED", wait: wait) {
            let seen = try await trove.backup(backupID).string("status") ?? "UNKNOWN"
            return StatusObservation(status: seen, detail: nil, isTerminal: TroveStatuses.terminalBackup.contains(seen))
        }
        result.updateValue("COMPLETED", forKey: "status")
        if let keepChains {
            let backups = try await trove.backups(ofInstance: id).compactMap(DatabaseBackup.init(json:))
            var deleted: [String] = []
            for root in DatabaseBackupPlanner.rootsToPrune(backups: backups, keep: keepChains) {
                try await trove.deleteBackup(root.id)
                _ = try await StatusWait.assertStatus(of: "database backup \(root.id)", expected: "deleted", wait: wait) {
                    let seen = try await trove.backup(root.id).string("status") ?? "UNKNOWN"
                    return StatusObservation(status: seen, detail: nil, isTerminal: seen == "DELETE_FAILED")
                }
                deleted.append(root.id)
            }
            result.updateValue(.array(deleted.map { .string($0) }), forKey: "deleted_chains")
        }
        return .object(result)
    }
}
