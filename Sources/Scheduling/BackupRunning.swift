import BackupCore
import Foundation

/// What the scheduler needs to run a backup: `BackupRunner` in production, a recorder in tests
/// that simulate a year of runs without writing archives.
public protocol BackupRunning: Sendable {
    func runBackup(_ kind: BackupKind, trigger: JobTrigger, alertOnFailure: Bool) async -> BackupOutcome
}

extension BackupRunner: BackupRunning {
    /// Backups block on disk and CPU for seconds to minutes: run on a thread of their own, not on
    /// the cooperative pool the server and the scheduler share.
    public func runBackup(_ kind: BackupKind, trigger: JobTrigger, alertOnFailure: Bool) async -> BackupOutcome {
        await withCheckedContinuation { continuation in
            Thread {
                continuation.resume(returning: run(kind, trigger: trigger, actor: Scheduler.actor, alertOnFailure: alertOnFailure))
            }.start()
        }
    }
}
