import OrderedJSON

// The simulated cloud's rows. Each keeps what the real service stores, including fields
// the API hides (a Cinder backup's `parent_id`), so that `/_simulator/state` can show them.

struct VolumeRecord: Sendable {
    var id: String
    var name: String?
    var description: String?
    var size: Int
    var status: String
    /// Cinder keeps the status to return to after `backing-up`.
    var previousStatus: String?
    var projectID: String
    var userID: String
    var createdAt: Timestamp
    var updatedAt: Timestamp
    var bootable: Bool
    var availabilityZone = "nova"
    var volumeType = "lvmdriver-1"
    var metadata: JSONObject = [:]
    /// The server an `in-use` volume is attached to.
    var attachedServerID: String?
    /// Every backup of this volume ends in `error` (a per-volume forced failure).
    var failBackups = false
}

struct SnapshotRecord: Sendable {
    var id: String
    var name: String?
    var description: String?
    var volumeID: String
    var size: Int
    var status: String
    var projectID: String
    var userID: String
    var createdAt: Timestamp
    var updatedAt: Timestamp
    var metadata: JSONObject = [:]
}

struct VolumeBackupRecord: Sendable {
    var id: String
    var name: String?
    var description: String?
    var volumeID: String
    var snapshotID: String?
    var status: String
    var size: Int
    var objectCount: Int
    var container: String?
    var availabilityZone: String?
    var createdAt: Timestamp
    var updatedAt: Timestamp
    /// The moment the data was taken: the backup's `created_at`, or the snapshot's for a snapshot backup.
    var dataTimestamp: Timestamp
    var failReason: String?
    /// Internal in Cinder: the API only shows `is_incremental`.
    var parentID: String?
    /// Children that reached `available` (Cinder's `num_dependent_backups`).
    var numDependentBackups: Int
    var projectID: String
    var userID: String
    var metadata: JSONObject = [:]
}

struct ServerRecord: Sendable {
    var id: String
    var name: String
    var vmState: String
    var taskState: String?
    var powerState: Int
    var projectID: String
    var userID: String
    var createdAt: Timestamp
    var updatedAt: Timestamp
    var launchedAt: Timestamp?
    var imageID: String
    var flavorID: String
    var metadata: JSONObject = [:]
    var locked = false
    var tags: [String] = []
    var availabilityZone = "nova"
    var keyName: String?
    var description: String?
    var hostID: String
    var addresses: JSON

    /// The API `status` derived from vm_state and task_state (nova/api/openstack/common.py `_STATE_MAP`).
    var status: String {
        switch vmState {
        case "active":
            switch taskState {
            case "rebooting", "reboot_pending", "reboot_started": return "REBOOT"
            case "rebooting_hard", "reboot_pending_hard", "reboot_started_hard": return "HARD_REBOOT"
            case "updating_password": return "PASSWORD"
            case "rebuilding", "rebuild_block_device_mapping", "rebuild_spawning": return "REBUILD"
            case "migrating": return "MIGRATING"
            case "resize_prep", "resize_migrating", "resize_migrated", "resize_finish": return "RESIZE"
            default: return "ACTIVE"
            }
        case "building": return "BUILD"
        case "stopped":
            switch taskState {
            case "resize_prep", "resize_migrating", "resize_migrated", "resize_finish": return "RESIZE"
            case "rebuilding", "rebuild_block_device_mapping", "rebuild_spawning": return "REBUILD"
            default: return "SHUTOFF"
            }
        case "resized": return taskState == "resize_reverting" ? "REVERT_RESIZE" : "VERIFY_RESIZE"
        case "paused": return "PAUSED"
        case "suspended": return "SUSPENDED"
        case "rescued": return "RESCUE"
        case "error": return "ERROR"
        case "deleted": return "DELETED"
        case "soft-delete": return "SOFT_DELETED"
        case "shelved": return "SHELVED"
        case "shelved_offloaded": return "SHELVED_OFFLOADED"
        default: return "UNKNOWN"
        }
    }

    /// Every status value Nova knows (a filter on anything else is invalid).
    static let knownStatuses: Set<String> = [
        "ACTIVE", "BUILD", "DELETED", "ERROR", "HARD_REBOOT", "MIGRATING", "PASSWORD", "PAUSED", "REBOOT",
        "REBUILD", "RESCUE", "RESIZE", "REVERT_RESIZE", "SHELVED", "SHELVED_OFFLOADED", "SHUTOFF",
        "SOFT_DELETED", "SUSPENDED", "UNKNOWN", "VERIFY_RESIZE",
    ]

    /// The power state a freshly seeded server in `vmState` has.
    static func defaultPowerState(for vmState: String) -> Int {
        switch vmState {
        case "active", "rescued", "resized": return 1
        case "paused": return 3
        case "stopped", "suspended", "shelved": return 4
        default: return 0
        }
    }
}

struct ImageRecord: Sendable {
    var id: String
    var name: String?
    var status: String
    var visibility: String
    var containerFormat: String?
    var diskFormat: String?
    var size: Int64?
    var virtualSize: Int64?
    var checksum: String?
    var protected = false
    var minRam = 0
    var minDisk = 0
    var owner: String
    var osHidden = false
    var tags: [String] = []
    var createdAt: Timestamp
    var updatedAt: Timestamp
    /// Custom properties, shown as top-level keys (`instance_uuid`, `image_type`, ...).
    var properties: JSONObject = [:]
}

struct DatabaseInstanceRecord: Sendable {
    var id: String
    var name: String
    /// The status when no backup runs (a running backup shows `BACKUP`).
    var status: String
    var operatingStatus = "HEALTHY"
    var datastoreType = "mysql"
    var datastoreVersion = "8.0"
    var flavorID = "d2"
    var volumeSize = 5
    var projectID: String
    var createdAt: Timestamp
    var updatedAt: Timestamp
    /// Every backup of this instance ends `FAILED`.
    var failBackups = false
}

struct DatabaseBackupRecord: Sendable {
    var id: String
    var name: String
    var description: String?
    var instanceID: String?
    var status: String
    var parentID: String?
    var size: Double?
    var createdAt: Timestamp
    var updatedAt: Timestamp
    var projectID: String
    var datastoreType: String
    var datastoreVersion: String
    var storageDriver = "swift"
    var swiftContainer = "database_backups"

    /// Trove's running states (trove/backup/state.py).
    var isRunning: Bool { ["NEW", "BUILDING", "SAVING"].contains(status) }
}

/// A change the clock makes happen later (a backup finishing, a task state moving on).
enum Transition: Sendable {
    case volumeBackupFinished(id: String, fails: Bool)
    case volumeBackupDeleted(id: String)
    case snapshotFinished(id: String, fails: Bool)
    case snapshotDeleted(id: String)
    case serverTask(id: String, taskState: String?, vmState: String?, powerState: Int?)
    case imageStatus(id: String, status: String)
    case databaseBackupStatus(id: String, status: String)
}

struct PendingTransition: Sendable {
    var dueAt: Timestamp
    var sequence: Int
    var transition: Transition
}

/// A fault rule and how many more requests it applies to.
struct ActiveFault: Sendable {
    var rule: FaultRule
    var remaining: Int
}
