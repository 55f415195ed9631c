import Foundation

/// The problems caps-backup alerts a store manager about (R11), each with its catalog `kind`,
/// severity and a message in plain words.
///
/// The message is fixed per event and kind of backup, never carrying times or byte counts: the
/// catalog counts an unacknowledged alert with the same kind and message again instead of adding a
/// row (and the webhook sends a row once), so a failing hourly job is one alert with a count, not 24.
/// What varies goes into `detail`.
public enum AlertEvent: Sendable, Equatable {
    /// A backup failed before its job could record the failure (it could not start).
    case backupFailed(BackupKind, BackupError)
    /// A scheduled backup failed, and so did its retry 15 minutes later (R4.5).
    case scheduledBackupFailedTwice(BackupKind, BackupError)
    /// Not enough free space to start a backup (R11.1).
    case insufficientSpace(BackupKind, BackupError)
    /// An incremental's parent is missing or damaged; the next backup will be a full one.
    case brokenIncrementalChain(backupId: Int64?, detail: String)
    /// The retention settings would delete every backup of a kind; the newest was kept (R6.5).
    case retentionWouldDeleteAll(BackupKind)
    /// Old backups could not be deleted; the new backup itself is fine.
    case retentionFailed(BackupError)
    /// The scheduler hit an error; it keeps scheduling (R11.6).
    case schedulerError(String)
    /// An off-site destination refused our grant (`invalid_grant`): its copies wait until it is reconnected (R11.3).
    case offsiteDisconnected(destination: String, detail: String)
    /// An off-site destination is full (Drive's `storageQuotaExceeded`): its copies wait (R11.4).
    case offsiteQuotaExceeded(destination: String, detail: String)

    public var kind: String {
        switch self {
        case .backupFailed: "backup-failed"
        case .scheduledBackupFailedTwice: "scheduled-backup-failed"
        case .insufficientSpace: "disk-space"
        case .brokenIncrementalChain: "broken-chain"
        case .retentionWouldDeleteAll: "retention-keep-all"
        case .retentionFailed: "retention-failed"
        case .schedulerError: "scheduler-error"
        case .offsiteDisconnected: "offsite-disconnected"
        case .offsiteQuotaExceeded: "offsite-quota"
        }
    }

    public var severity: AlertSeverity {
        switch self {
        case .scheduledBackupFailedTwice, .insufficientSpace, .offsiteDisconnected, .offsiteQuotaExceeded: .critical
        case .backupFailed, .brokenIncrementalChain, .retentionWouldDeleteAll, .retentionFailed, .schedulerError: .warning
        }
    }

    public var message: String {
        switch self {
        case .backupFailed(let kind, _):
            "The \(kind.displayName) could not run. See the backup log for details."
        case .scheduledBackupFailedTwice(let kind, _):
            "The scheduled \(kind.displayName) failed twice in a row (the retry 15 minutes later failed too). Recent data may not be backed up."
        case .insufficientSpace(let kind, _):
            "There is not enough free disk space for the \(kind.displayName); it was not started. Free some space on the backup disk."
        case .brokenIncrementalChain:
            "An hourly backup could not be linked to the one before it; the next database backup will be a full one."
        case .retentionWouldDeleteAll(let kind):
            "The retention settings would delete every \(kind.displayName); the newest one was kept. Check the retention settings."
        case .retentionFailed:
            "Old backups could not be cleaned up; new backups are fine, but the disk may fill up."
        case .schedulerError:
            "The backup scheduler hit an error; it keeps running and will try again."
        case .offsiteDisconnected(let destination, _):
            "\(Self.displayName(destination)) is disconnected: reconnect it on the dashboard. Backups are kept on this server and copied off-site once it is reconnected."
        case .offsiteQuotaExceeded(let destination, _):
            "\(Self.displayName(destination))'s storage quota is full: off-site copies are paused. Free space in \(Self.displayName(destination)) or buy more storage, then reconnect it on the dashboard. Backups are kept on this server."
        }
    }

    public var detail: String? {
        switch self {
        case .backupFailed(_, let error), .scheduledBackupFailedTwice(_, let error), .insufficientSpace(_, let error),
             .retentionFailed(let error):
            error.description
        case .brokenIncrementalChain(let id, let detail): id.map { "backup \($0): \(detail)" } ?? detail
        case .retentionWouldDeleteAll: nil
        case .schedulerError(let detail): detail
        case .offsiteDisconnected(_, let detail), .offsiteQuotaExceeded(_, let detail): detail
        }
    }
}
extension AlertEvent {
    /// How a store manager calls a destination (`google-drive` is "Google Drive").
    static func displayName(_ destination: String) -> String {
        destination == "google-drive" ? "Google Drive" : "Off-site destination \"\(destination)\""
    }
}

extension BackupKind {
    /// How a store manager calls this kind of backup.
    public var displayName: String {
        switch self {
        case .dbFull: "full database backup"
        case .dbIncremental: "hourly database backup"
        case .files: "product image backup"
        case .full: "full archive (database and files)"
        }
    }
}
