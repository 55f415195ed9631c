import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Restores only the files of a `files` or `full` backup (R7.4): verify the archive (checksum against
/// the catalog and sidecar, structure, every entry), stage every file, then rename them into place.
/// The POS database is not touched. Recorded as a restore job whose target is the uploads folder.
public struct FileRestoreJob: Sendable {
    public let context: BackupContext
    public init(context: BackupContext) { self.context = context }

    /// - Parameter archive: the archive file (its checksum is compared with `job`'s when given).
    public func run(archive: URL, job: BackupJob?, options: FileRestoreOptions, withConfig: Bool = false,
                    actor: BackupContext.Actor = .system, progress: ProgressHandler? = nil) throws -> (RestoreJob, FileRestoreOutcome) {
        let lock = try JobLock.acquireOrThrow(context.dataDirectory)
        defer { withExtendedLifetime(lock) {} }
        try JobRecovery(context: context).recoverInterruptedJobs()
        if let job, job.status != .succeeded {
            throw BackupError(.invalidInput, "Backup \(job.id ?? 0) is \(job.status.rawValue) and cannot be restored.")
        }
        let target = options.uploads ?? context.uploads
        var restore = RestoreJob(sourceJobId: job?.id, sourceBackupId: job?.uuid, sourcePath: archive.path,
                                 targetPath: target?.path ?? "(the uploads folder recorded in the backup)", status: .running,
                                 startedAt: context.now(), userId: actor.userId, stationId: actor.stationId, pid: getpid())
        restore = try context.catalog.insert(restore)
        let extras = RestoreExtras(files: FileRestoreOptions(uploads: target, deleteExtra: options.deleteExtra),
                                   configFiles: withConfig, configuredConfigFiles: context.configFiles)
        do {
            let verified = try ArchiveVerifier().verify(archive, expectedSHA256: job?.sha256, progress: progress)
            try extras.stage(from: verified, progress: progress)
            try extras.apply(progress: progress)
            let outcome = extras.outcome ?? FileRestoreOutcome(root: target?.path ?? "")
            restore.targetPath = outcome.root
            restore.status = .succeeded
            restore.finishedAt = context.now()
            try context.catalog.update(restore)
            try? context.catalog.audit(AuditEntry(at: context.now(), userId: actor.userId, stationId: actor.stationId, client: actor.client,
                                                  action: "restore.files", target: restore.sourcePath, outcome: "succeeded",
                                                  detail: "restore \(restore.id!): \(outcome.restored) files into \(outcome.root), \(outcome.removed) removed"))
            progress?(ProgressEvent(phase: "done", bytesDone: 1, bytesTotal: 1))
            return (restore, outcome)
        } catch {
            extras.discard()
            let failure = BackupError.wrap(error, "The restore of the files failed.")
            restore.status = .failed
            restore.finishedAt = context.now()
            restore.error = failure.message
            restore.errorDetail = failure.detail
            try? context.catalog.update(restore)
            _ = try? context.catalog.raiseAlert(.critical, kind: "restore-failed", message: "A restore failed: \(failure.message)",
                                            detail: failure.detail, at: context.now())
            try? context.catalog.audit(AuditEntry(at: context.now(), userId: actor.userId, stationId: actor.stationId, client: actor.client,
                                                  action: "restore.files", target: restore.sourcePath, outcome: "failed", detail: failure.message))
            let notes = extras.recoveryNotes
            throw RestoreFailure(error: failure, restore: restore,
                                 recoverySteps: (notes.isEmpty ? ["Nothing in the uploads folder was changed."] : notes)
                                    + ["Details are in the restore job record: caps-backup list --restores"])
        }
    }
}
