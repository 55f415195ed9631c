import Foundation

/// The life of every restore, whatever it brings back: a `running` record, the work, then either
/// `succeeded` with its audit row, or `failed` with the error recorded, the work folder removed, an
/// alert, an audit row and a `RestoreFailure` that says what the store manager can do now (R7.5, R7.6,
/// R11.7). Runs with the job lock held (`BackupContext.exclusiveJob`).
struct RestoreLifecycle {
    let context: BackupContext
    let actor: BackupContext.Actor
    /// The audit log's action: `restore` (database, with what comes with it) or `restore.files`.
    let action: String

    /// - Parameters:
    ///   - work: the restore's work; may update the record (target, pre-restore copy, checksum) and
    ///     returns the audit detail of a success.
    ///   - recoverySteps: on failure, what the person can do now, from the record as it then stands.
    func run(_ record: RestoreRecord, progress: ProgressHandler?, failureMessage: String,
             work: (_ restore: inout RestoreRecord, _ folder: URL) throws -> String,
             recoverySteps: (_ restore: RestoreRecord) -> [RecoveryStep]) throws -> RestoreRecord {
        var restore = try context.catalog.insert(record)
        progress?(.started(recordId: restore.id!))
        let folder = context.dataDirectory.work("restore-\(restore.id!)")
        do {
            let detail = try work(&restore, folder)
            restore.status = .succeeded
            restore.finishedAt = context.now()
            try context.catalog.update(restore)
            context.audit(action, target: restore.sourcePath, outcome: "succeeded", detail: detail, actor: actor)
            try? FileManager.default.removeItem(at: folder)
            progress?(ProgressEvent(phase: .done, bytesDone: 1, bytesTotal: 1))
            return restore
        } catch {
            let failure = BackupError.wrap(error, failureMessage)
            restore.status = .failed
            restore.finishedAt = context.now()
            restore.error = failure.message
            restore.errorDetail = failure.detail
            context.record { try context.catalog.update(restore) }
            try? FileManager.default.removeItem(at: folder)
            context.record {
                try context.catalog.raiseAlert(.critical, kind: "restore-failed", message: "A restore failed: \(failure.message)",
                                               detail: failure.detail, at: context.now())
            }
            context.audit(action, target: restore.sourcePath, outcome: "failed", detail: failure.message, actor: actor)
            throw RestoreFailure(error: failure, restore: restore, recoverySteps: recoverySteps(restore))
        }
    }
}
