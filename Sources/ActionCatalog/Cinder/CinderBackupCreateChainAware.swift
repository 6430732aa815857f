import ActionKit
import Logging
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import OpenStackClient
import OrderedJSON

/// `cinder.backups.create_backup`
struct CinderBackupCreateChainAware: MistralAction {
    static let name = "cinder.backups.create_backup"
    static let description = """
        Backs up a volume as part of a backup chain: incremental while the current chain is short, full when it is long.

        The current chain is the volume's latest available full backup and
        the available incremental backups after it (by data timestamp). When
        it holds fewer than max_chain_length backups the new backup is
        incremental (Cinder makes the latest available backup its parent);
        otherwise, or when no full backup is available, it is full. The
        backup is named {volume name}_backup_{UTC time}.

        With wait_timeout > 0 the action waits until the new backup is
        available. With keep_chains = N (which needs wait_timeout) it then
        deletes whole chains older than the newest N, newest backup first,
        waiting for each deletion. The volume must be available or in-use
        and not already being backed up.
        """

    @Parameter("volume_id", help: "The volume to back up.") var volumeID: String
    @Parameter("max_chain_length", help: "The most backups per chain, the full one included; default: [mistral_actions] max_chain_length.")
    var maxChainLength: Int?
    @Parameter("keep_chains", help: "Delete chains older than the newest N after a successful backup; default: delete nothing.")
    var keepChains: Int?
    @Parameter("wait_timeout", default: 0, help: "Seconds to wait for the backup (and each deletion); 0: do not wait.")
    var waitTimeout: Double
    @Parameter(default: 5, help: "Seconds between checks while waiting.") var interval: Double
    @Parameter("action_region", help: "Region of the Cinder endpoint; default: the request's region.") var actionRegion: String?

    init() {}

    func run(context: ActionContext) async throws -> JSON {
        let id = try requireIdentifier(volumeID, "volume_id")
        let wait = try WaitOptions(timeout: waitTimeout, interval: interval)
        let maximum = try BackupSettings.chainLength(
            input: maxChainLength, keepChains: keepChains, wait: wait, readyStatus: "available", context: context)
        let cinder = CinderAPI(client: try context.openStack(region: actionRegion))

        let volume = try await cinder.volume(id)
        let volumeStatus = volume.string("status") ?? "unknown"
        guard volumeStatus == "available" || volumeStatus == "in-use" else {
            throw ActionFailure(
                "volume \(id) cannot be backed up now: its status is '\(volumeStatus)' (Cinder backs up available or in-use volumes)")
        }
        let existing = try await cinder.backups(ofVolume: id).compactMap(VolumeBackup.init(json:))
        if let running = existing.first(where: { $0.status == "creating" }) {
            throw ActionFailure("a backup of volume \(id) is already being created (\(running.id)); try again when it is done")
        }
        let decision = BackupChainPlanner.decide(backups: existing, maxChainLength: maximum)
        let volumeName = volume.string("name").flatMap { $0.isEmpty ? nil : $0 } ?? id
        let now = Date().timeIntervalSince1970
        let name = "\(volumeName)_backup_\(OpenStackTimestamp.nameSuffix(secondsSinceEpoch: now))"
        let description = "Created by mistral-actions (\(context.actionName))"

        var made = decision
        var created: JSONObject
        do {
            created = try await cinder.createBackup(
                volumeID: id, name: name, description: description, incremental: decision.isIncremental, force: true)
        } catch let error as OpenStackError where decision.isIncremental && CinderAPI.isNoIncrementalBase(error) {
            // The base went away between the listing and the request; a 400
            // leaves nothing behind, so a full backup is safe to ask for.
            made = .full(reason: "the backup to build on went away meanwhile")
            created = try await cinder.createBackup(
                volumeID: id, name: name, description: description, incremental: false, force: true)
        }
        guard let backupID = created.string("id") else {
            throw ActionFailure("Cinder accepted the backup but answered without its id")
        }
        var result: JSONObject = [
            "id": .string(backupID),
            "name": .string(name),
            "volume_id": .string(id),
        ]
        switch made {
        case .full(let reason):
            result.updateValue(false, forKey: "incremental")
            result.updateValue(1, forKey: "chain_length")
            result.updateValue(.null, forKey: "parent_id")
            result.updateValue(.string("full backup: \(reason)"), forKey: "reason")
        case .incremental(let parentID, let length):
            result.updateValue(true, forKey: "incremental")
            result.updateValue(.integer(Int64(length)), forKey: "chain_length")
            result.updateValue(.string(parentID), forKey: "parent_id")
            result.updateValue(.string("incremental backup: the current chain has \(length - 1) of at most \(maximum) backups"), forKey: "reason")
        }
        result.updateValue(.integer(Int64(maximum)), forKey: "max_chain_length")
        context.logger.info("backup requested", metadata: [
            "cinder.volume_id": "\(id)", "cinder.backup_id": "\(backupID)",
            "backup.incremental": "\(made.isIncremental)",
        ])
        guard wait.waits else {
            result.updateValue("creating", forKey: "status")
            return .object(result)
        }
        _ = try await StatusWait.assertStatus(of: "backup \(backupID)", expected: "available", wait: wait) {
            let backup = try await cinder.backup(backupID)
            let seen = backup.string("status") ?? "unknown"
            let reason = backup.string("fail_reason").flatMap { $0.isEmpty ? nil : "fail_reason: \($0)" }
            return StatusObservation(status: seen, detail: reason, isTerminal: CinderStatuses.terminalBackup.contains(seen))
        }
        result.updateValue("available", forKey: "status")
        if let keepChains {
            let pruned = try await prune(cinder: cinder, volumeID: id, keep: keepChains, wait: wait, context: context)
            result.updateValue(.array(pruned.map { .string($0) }), forKey: "deleted_backups")
        }
        return .object(result)
    }

    /// Deletes the chains older than the newest `keep`, newest backup
    /// first, each deletion awaited (a child still `deleting` blocks its
    /// parent). A chain whose deletion fails is left as it is and reported.
    func prune(cinder: CinderAPI, volumeID: String, keep: Int, wait: WaitOptions, context: ActionContext) async throws -> [String] {
        let backups = try await cinder.backups(ofVolume: volumeID).compactMap(VolumeBackup.init(json:))
        var deleted: [String] = []
        for chain in BackupChainPlanner.chainsToPrune(backups: backups, keep: keep) {
            for backup in chain.backups.reversed() {
                do {
                    try await cinder.deleteBackup(backup.id)
                    _ = try await StatusWait.assertStatus(of: "backup \(backup.id)", expected: "deleted", wait: wait) {
                        let seen = try await cinder.backup(backup.id).string("status") ?? "unknown"
                        return StatusObservation(status: seen, detail: nil, isTerminal: seen == "error_deleting")
                    }
                    deleted.append(backup.id)
                } catch let error as CancellationError {
                    throw error
                } catch {
                    context.logger.warning("an old backup chain was not deleted completely", metadata: [
                        "cinder.volume_id": "\(volumeID)", "cinder.backup_id": "\(backup.id)", "error": "\(error)",
                    ])
                    throw ActionFailure(
                        "the new backup is available, but deleting old chain \(chain.full.id) stopped at backup \(backup.id): \(error)"
                            + (deleted.isEmpty ? "" : " (deleted before: \(deleted.joined(separator: ", ")))"))
                }
            }
        }
        return deleted
    }
}
