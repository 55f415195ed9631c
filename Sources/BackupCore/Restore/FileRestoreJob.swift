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
    public func run(archive: URL, job: BackupRecord?, options: FileRestoreOptions, withConfig: Bool = false,
                    actor: BackupContext.Actor = .system, progress: ProgressHandler? = nil) throws -> (RestoreRecord, FileRestoreOutcome) {
        try context.exclusiveJob {
            if let job, job.status != .succeeded {
                throw BackupError(.invalidInput, "Backup \(job.id ?? 0) is \(job.status.rawValue) and cannot be restored.")
            }
            let target = options.uploads ?? context.uploads
            let record = RestoreRecord(sourceJobId: job?.id, sourceBackupId: job?.uuid, sourcePath: archive.path,
                                    targetPath: target?.path ?? "(the uploads folder recorded in the backup)", status: .running,
                                    startedAt: context.now(), userId: actor.userId, stationId: actor.stationId, pid: getpid())
            let extras = RestoreExtras(files: FileRestoreOptions(uploads: target, deleteExtra: options.deleteExtra),
                                       configFiles: withConfig, configuredConfigFiles: context.configFiles)
            var outcome = FileRestoreOutcome(root: target?.path ?? "")
            let restore = try RestoreLifecycle(context: context, actor: actor, action: "restore.files").run(
                record, progress: progress, failureMessage: "The restore of the files failed.",
                work: { restore, folder in
                    do {
                        // A backup's archive gone from this disk is fetched from its off-site copy.
                        let file = try job.map { try context.archiveStore.archive(of: $0, scratch: folder, progress: progress) } ?? archive
                        let verified = try ArchiveVerifier().verify(file, expectedSHA256: job?.sha256, progress: progress)
                        try extras.stage(from: verified, progress: progress)
                        try extras.apply(progress: progress)
                    } catch {
                        extras.discard()
                        throw error
                    }
                    outcome = extras.outcome ?? outcome
                    restore.targetPath = outcome.root
                    return "restore \(restore.id!): \(outcome.restored) files into \(outcome.root), \(outcome.removed) removed"
                },
                recoverySteps: { restore in
                    let notes = extras.recoveryNotes
                    return (notes.isEmpty ? ["Nothing in the uploads folder was changed."] : notes).map(RecoveryStep.note)
                        + [.seeRestoreRecord(id: restore.id)]
                })
            return (restore, outcome)
        }
    }
}
