import Foundation
import GRDB

public enum JobTrigger: String, Codable, Sendable {
    case manual, scheduled, api
    case preRestore = "pre-restore"
}

public enum JobStatus: String, Codable, Sendable {
    case running, succeeded, failed, deleted
}

/// The catalog's row of one backup (the spec's Backup_Job; table `backup_job`). The operation that makes
/// one is a job (`DatabaseBackupJob`, `FileBackupJob`); this is its record. A row is never dropped:
/// deletion sets `status` and `deletedAt`.
public struct BackupRecord: Codable, Sendable, Equatable, Identifiable {
    public var id: Int64?
    /// Globally unique, written into the archive's manifest: how an archive found on disk or on Drive
    /// is matched to its record.
    public var uuid: String
    public var kind: BackupKind
    public var trigger: JobTrigger
    public var status: JobStatus
    public var startedAt: Date
    public var finishedAt: Date?
    public var size: Int64?
    public var sha256: String?
    public var path: String?
    public var parentId: Int64?
    public var error: String?
    public var errorDetail: String?
    public var userId: String?
    public var stationId: String?
    /// The process that runs the job; a `running` row whose process is gone was interrupted.
    public var pid: Int32?
    public var snapshotStartedAt: Date?
    public var snapshotFinishedAt: Date?
    public var imageSha256: String?
    /// `PRAGMA integrity_check` of the snapshot, run once the archive is published: "ok", or the
    /// first problems found (then the POS's own database is damaged, and an alert says so).
    public var integrityCheck: String?
    public var integrityCheckedAt: Date?
    public var deletedAt: Date?
    public var deletedBy: String?

    public init(uuid: String = UUID().uuidString.lowercased(), kind: BackupKind, trigger: JobTrigger,
                startedAt: Date, userId: String? = nil, stationId: String? = nil) {
        self.uuid = uuid
        self.kind = kind
        self.trigger = trigger
        self.status = .running
        self.startedAt = startedAt
        self.userId = userId
        self.stationId = stationId
        self.pid = getpid()
    }
}

/// The manifest of a successful backup, kept in the catalog so the list and the API need not open archives.
public struct BackupManifestRecord: Codable, Sendable, Equatable {
    public var jobId: Int64
    public var format: String
    public var entryCount: Int
    public var manifestJson: String
    public var createdAt: Date
}

/// Where an off-site copy stands. `pending` rows are the outbox an uploader drains.
public enum DestObjectStatus: String, Codable, Sendable, CaseIterable {
    /// `lost`: recorded as uploaded, gone from the destination, and its archive gone from this server too.
    case pending, uploaded, failed, deleted, lost
}

/// A checksum with the algorithm that made it: Drive reports MD5, S3 an ETag, a local copy SHA-256.
public struct Checksum: Codable, Sendable, Hashable {
    public enum Algorithm: String, Codable, Sendable { case md5, sha256, etag }
    public var algorithm: Algorithm
    public var value: String
    public init(_ algorithm: Algorithm, _ value: String) {
        self.algorithm = algorithm
        self.value = value.lowercased()
    }
}

/// A copy of a backup's archive on a destination: its remote id and state (R5.6, R6.7).
public struct BackupDestObject: Codable, Sendable, Equatable, Identifiable {
    public var id: Int64?
    public var jobId: Int64
    public var destination: String
    public var remoteId: String?
    public var status: DestObjectStatus
    public var size: Int64?
    public var checksumAlgorithm: Checksum.Algorithm?
    public var checksum: String?
    public var attempts: Int = 0
    public var lastAttemptAt: Date?
    public var uploadedAt: Date?
    /// Where an interrupted upload can continue (`Destination.put`'s session).
    public var uploadSession: String?
    public var createdAt: Date
    public var verifiedAt: Date?
    public var deletedAt: Date?
    /// The last attempt's error, for the dashboard.
    public var error: String?

    public init(jobId: Int64, destination: String, status: DestObjectStatus = .pending, createdAt: Date) {
        self.jobId = jobId
        self.destination = destination
        self.status = status
        self.createdAt = createdAt
    }

    /// The remote copy's checksum, with its algorithm.
    public var remoteChecksum: Checksum? {
        get {
            guard let checksumAlgorithm, let checksum else { return nil }
            return Checksum(checksumAlgorithm, checksum)
        }
        set { checksumAlgorithm = newValue?.algorithm; checksum = newValue?.value }
    }
}

/// A destination archives are copied to, and which kinds of backup it takes.
public struct DestinationRecord: Codable, Sendable, Equatable {
    public var name: String
    /// Comma-separated `BackupKind` raw values.
    public var kinds: String
    public var enabled: Bool
    /// Why it was disabled (a revoked grant, a full quota), for the dashboard.
    public var disabledReason: String?
    public var createdAt: Date

    public init(name: String, kinds: [BackupKind], enabled: Bool = true, createdAt: Date) {
        self.name = name
        self.kinds = kinds.map(\.rawValue).joined(separator: ",")
        self.enabled = enabled
        self.createdAt = createdAt
    }

    public var backupKinds: [BackupKind] { kinds.split(separator: ",").compactMap { BackupKind(rawValue: String($0)) } }
}

/// One setting: a key and its JSON value.
public struct BackupSetting: Codable, Sendable, Equatable {
    public var key: String
    public var value: String
    public var updatedAt: Date
}

public enum RestoreStatus: String, Codable, Sendable {
    case running, succeeded, failed
}

/// The catalog's row of one restore (the spec's Restore_Job; table `restore_job`); the operation is a
/// `DatabaseRestoreJob` or a `FileRestoreJob`.
public struct RestoreRecord: Codable, Sendable, Equatable, Identifiable {
    public var id: Int64?
    public var sourceJobId: Int64?
    public var sourceBackupId: String?
    public var sourcePath: String
    public var targetPath: String
    public var status: RestoreStatus
    public var startedAt: Date
    public var finishedAt: Date?
    /// The copy of the live database taken just before it was replaced; the way back.
    public var preRestorePath: String?
    public var restoredImageSha256: String?
    public var error: String?
    public var errorDetail: String?
    public var userId: String?
    public var stationId: String?
    public var pid: Int32?
}

public struct AuditEntry: Codable, Sendable, Equatable, Identifiable {
    public var id: Int64?
    public var at: Date
    public var userId: String?
    public var stationId: String?
    public var client: String?
    public var action: String
    public var target: String?
    public var outcome: String
    public var detail: String?
}

public enum AlertSeverity: String, Codable, Sendable {
    case info, warning, critical
}

public struct Alert: Codable, Sendable, Equatable, Identifiable {
    public var id: Int64?
    public var severity: AlertSeverity
    public var kind: String
    public var message: String
    public var detail: String?
    public var createdAt: Date
    public var lastSeenAt: Date
    public var count: Int
    public var acknowledgedAt: Date?
    /// When the webhook accepted this alert; nil while it is still to be sent.
    public var notifiedAt: Date?
}

// MARK: - GRDB persistence: snake_case columns, enums stored as their raw text.

extension BackupKind: DatabaseValueConvertible {}
extension JobTrigger: DatabaseValueConvertible {}
extension JobStatus: DatabaseValueConvertible {}
extension RestoreStatus: DatabaseValueConvertible {}
extension AlertSeverity: DatabaseValueConvertible {}
extension DestObjectStatus: DatabaseValueConvertible {}
extension Checksum.Algorithm: DatabaseValueConvertible {}

protocol SnakeCaseRecord: FetchableRecord, MutablePersistableRecord {}
extension SnakeCaseRecord {
    public static var databaseColumnDecodingStrategy: DatabaseColumnDecodingStrategy { .convertFromSnakeCase }
    public static var databaseColumnEncodingStrategy: DatabaseColumnEncodingStrategy { .convertToSnakeCase }
}

extension BackupRecord: SnakeCaseRecord {
    public static let databaseTableName = "backup_job"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

extension BackupManifestRecord: SnakeCaseRecord {
    public static let databaseTableName = "backup_manifest"
}

extension BackupDestObject: SnakeCaseRecord {
    public static let databaseTableName = "backup_dest_object"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

extension DestinationRecord: SnakeCaseRecord {
    public static let databaseTableName = "destination"
}

extension BackupSetting: SnakeCaseRecord {
    public static let databaseTableName = "backup_settings"
}

extension RestoreRecord: SnakeCaseRecord {
    public static let databaseTableName = "restore_job"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

extension AuditEntry: SnakeCaseRecord {
    public static let databaseTableName = "audit_log"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

extension Alert: SnakeCaseRecord {
    public static let databaseTableName = "alert"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}
