import Foundation
import GRDB

extension Catalog {
    /// Records a backup that was due but did not run (R4.4): audit action `schedule.skip`, so the
    /// dashboard's log shows it beside the backups that did run.
    public func auditSkippedBackup(_ kind: BackupKind, reason: String, actor: BackupContext.Actor, at now: Date) throws {
        try audit(AuditEntry(at: now, userId: actor.userId, stationId: actor.stationId, client: actor.client,
                             action: "schedule.skip", target: kind.rawValue, outcome: "skipped", detail: reason))
    }
}
