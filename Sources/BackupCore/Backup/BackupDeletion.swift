import Foundation

/// Deletes a backup's local archive (R6.6, R9.8). The catalog row stays: its status becomes
/// `deleted` with when and by whom, so the history and the audit trail remain whole.
/// `delete` removes the local archive only (local retention uses it: an off-site copy outlives its local
/// archive, under remote retention); `deleteEverywhere` (a store manager deleting a backup) removes its
/// off-site copies as well, through `context.offsite`.
public struct BackupDeletion: Sendable {
    public let context: BackupContext
    public init(context: BackupContext) { self.context = context }

    /// - Parameter reason: recorded in `deleted_by`, e.g. "retention: daily bucket full" or "user:admin".
    @discardableResult
    public func delete(_ job: BackupRecord, reason: String, actor: BackupContext.Actor = .system) throws -> BackupRecord {
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

    /// The backup and its off-site copies. The local deletion always happens first; a destination that
    /// refuses (or is not at hand) is reported in `remote`, its copy left recorded for a later try.
    public func deleteEverywhere(_ job: BackupRecord, reason: String, actor: BackupContext.Actor = .system) async throws -> BackupDeletionResult {
        let deleted = try delete(job, reason: reason, actor: actor)
        var remote: [RemoteDeletion] = []
        for copy in try context.catalog.offsiteCopies(of: job.id!) where copy.status == .uploaded && copy.remoteId != nil {
            guard let destination = context.offsite.first(where: { $0.name == copy.destination }) else {
                remote.append(RemoteDeletion(jobId: job.id!, backupId: job.uuid, kind: job.kind, destination: copy.destination,
                                             remoteId: copy.remoteId!, deleted: false,
                                             error: "\(AlertEvent.displayName(copy.destination)) is not connected; its copy was left in place."))
                continue
            }
            remote.append(await RemoteRetention(context: context, destination: destination, keep: 1).delete(copy, of: job, reason: reason))
        }
        return BackupDeletionResult(backup: deleted, remote: remote)
    }
}

/// What deleting a backup did, here and off-site.
public struct BackupDeletionResult: Sendable {
    public var backup: BackupRecord
    public var remote: [RemoteDeletion]

    /// One sentence for the store manager, e.g. "Backup 12 was deleted, and its copy on Google Drive too."
    public var summary: String {
        let id = backup.id ?? 0
        if remote.isEmpty { return "Backup \(id) was deleted; it had no off-site copy." }
        let failed = remote.filter { !$0.deleted }
        if failed.isEmpty {
            return "Backup \(id) was deleted, and its copy on \(remote.map { AlertEvent.displayName($0.destination) }.joined(separator: ", ")) too."
        }
        return "Backup \(id) was deleted from this server, but its copy on "
            + failed.map { AlertEvent.displayName($0.destination) }.joined(separator: ", ")
            + " could not be deleted: \(failed[0].error ?? "unknown error")"
    }
}
