import Foundation

/// How a request to run a backup ended.
public enum BackupOutcome: Sendable {
    /// The backup succeeded; `pruned` older backups were deleted by retention afterwards.
    case succeeded(BackupRecord, pruned: Int)
    /// Not started: another backup or restore holds the job lock (R4.4).
    case skipped(reason: String)
    /// `job` is the failed record when the job got as far as creating one.
    case failed(BackupError, job: BackupRecord?)
}

/// "Run a backup of kind K": the one entry point for the scheduler, the server and the CLI.
/// Takes the job lock (or reports a skip), recovers after any crashed job, runs the job, alerts a
/// failure, and after a success applies retention. The free-space check belongs to each job, which knows its
/// own estimate and raises the disk-space alert.
public struct BackupRunner: Sendable {
    public let context: BackupContext
    public init(context: BackupContext) { self.context = context }

    /// - Parameters:
    ///   - alertOnFailure: raise an alert when the run fails (a full disk is alerted by the job itself, at
    ///     once). The scheduler passes false and alerts only when its retry fails too (R4.5).
    ///   - applyRetention: delete what retention no longer keeps after a success. A technician's backup
    ///     from the command line passes false, so that it never pushes an older one out by surprise.
    public func run(_ kind: BackupKind, trigger: JobTrigger, actor: BackupContext.Actor = .system, integrityCheck: Bool = true,
                    alertOnFailure: Bool = true, applyRetention: Bool = true, progress: ProgressHandler? = nil) -> BackupOutcome {
        var started = false
        let outcome = run(kind, applyingRetention: applyRetention, alertOnFailure: alertOnFailure) {
            try context.exclusiveJobIfFree {
                started = true
                context.heartbeat.started(kind)  // pings go out in the background: never a delay or a failure here
                return try dispatch(kind, trigger: trigger, actor: actor, integrityCheck: integrityCheck, progress: progress)
            }
        }
        if started { context.heartbeat.ended(kind, outcome) }
        return outcome
    }

    private func run(_ kind: BackupKind, applyingRetention: Bool, alertOnFailure: Bool, _ job: () throws -> BackupRecord?) -> BackupOutcome {
        do {
            guard let job = try job() else { return .skipped(reason: "another backup or restore is running") }
            return .succeeded(job, pruned: applyingRetention ? applyRetention() : 0)
        } catch let failure as BackupFailure {
            if alertOnFailure, failure.error.code != .insufficientSpace {  // the job alerts a full disk itself
                context.record { try context.catalog.raise(.backupFailed(kind, failure.error), at: context.now()) }
            }
            return .failed(failure.error, job: failure.job)
        } catch {
            return failed(kind, error, alert: alertOnFailure)
        }
    }

    private func dispatch(_ kind: BackupKind, trigger: JobTrigger, actor: BackupContext.Actor, integrityCheck: Bool,
                          progress: ProgressHandler?) throws -> BackupRecord {
        switch kind {
        case .dbFull, .dbIncremental:
            try DatabaseBackupJob(context: context, kind: kind)
                .runLocked(trigger: trigger, actor: actor, integrityCheck: integrityCheck, progress: progress)
        case .files, .full:
            try FileBackupJob(context: context, kind: kind)
                .runLocked(trigger: trigger, actor: actor, integrityCheck: integrityCheck, progress: progress)
        }
    }

    /// Retention never fails the backup that triggered it: a problem becomes an alert.
    private func applyRetention() -> Int {
        do {
            let settings = try SettingsStore(catalog: context.catalog).load()
            let pruned = try RetentionPruner(context: context).prune(settings: settings).filter { !$0.keep }.count
            // Job logs age out with the backups (`Catalog.jobLogMaxAge`); losing this sweep loses nothing.
            _ = try? context.catalog.pruneJobLogs(before: context.now().addingTimeInterval(-Catalog.jobLogMaxAge))
            return pruned
        } catch {
            context.record { try context.catalog.raise(.retentionFailed(BackupError.wrap(error, "Retention failed.")), at: context.now()) }
            return 0
        }
    }

    private func failed(_ kind: BackupKind, _ error: any Error, alert: Bool) -> BackupOutcome {
        let failure = BackupError.wrap(error, "The \(kind.rawValue) backup could not start.")
        if alert { context.record { try context.catalog.raise(.backupFailed(kind, failure), at: context.now()) } }
        return .failed(failure, job: nil)
    }
}
