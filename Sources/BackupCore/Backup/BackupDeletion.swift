import Foundation

/// Deletes a backup's local archive (R6.6, R9.8). The catalog row stays: its status becomes
/// `deleted` with when and by whom, so the history and the audit trail remain whole.
/// Remote copies are the destinations' business (`backup_dest_object`), handled by their callers.
public struct BackupDeletion: Sendable {
    public let context: BackupContext
    public init(context: BackupContext) { self.context = context }

    /// - Parameter reason: recorded in `deleted_by`, e.g. "retention: daily bucket full" or "user:admin".
    @discardableResult
    public func delete(_ job: BackupJob, reason: String, actor: BackupContext.Actor = .system) throws -> BackupJob {
        guard job.status != .running else {
            throw BackupError(.busy, "Backup \(job.id ?? 0) is still running and cannot be deleted.")
        }
        var deleted = job
        if job.status != .deleted {
            if let path = job.path {
                let archive = URL(fileURLWithPath: path)
                for file in [archive, Checksums.sidecarURL(for: archive)] where POSIXFile.exists(file) {
                    try FileManager.default.removeItem(at: file)
                }
                try? POSIXFile.fsyncDirectory(archive.deletingLastPathComponent())
            }
            // Its page index and kept image served only the next incremental.
            try? FileManager.default.removeItem(at: context.dataDirectory.pageIndex(job.uuid))
            try? FileManager.default.removeItem(at: context.dataDirectory.hourlyImage(job.uuid))
            deleted.status = .deleted
            deleted.deletedAt = context.now()
            deleted.deletedBy = reason
            try context.catalog.update(deleted)
        }
        try? context.catalog.audit(AuditEntry(at: context.now(), userId: actor.userId, stationId: actor.stationId, client: actor.client,
                                              action: "backup.delete", target: "backup \(job.id ?? 0)", outcome: "succeeded", detail: reason))
        return deleted
    }
}
