import Foundation
import GRDB

/// Applies `RetentionPolicy` to the catalog: plans over every succeeded backup, deletes what the
/// plan drops through `BackupDeletion` (row kept, status `deleted`, `deleted_by` "retention: …"),
/// and raises an alert for a kind the settings would have emptied (R6.5).
/// Callers hold the job lock while applying, so no restore reads an archive being deleted.
public struct RetentionPruner: Sendable {
    public let context: BackupContext
    public init(context: BackupContext) { self.context = context }

    public func plan(settings: BackupSettings) throws -> [RetentionDecision] {
        RetentionPolicy.plan(backups: try context.catalog.retentionCandidates(), now: context.now(), settings: settings.retention,
                             timeZone: settings.schedules.zone)
    }

    /// Plans and applies; returns the plan as applied.
    @discardableResult
    public func prune(settings: BackupSettings) throws -> [RetentionDecision] {
        let decisions = try plan(settings: settings)
        try apply(decisions)
        return decisions
    }

    /// `prune` as a job of its own: with the job lock, after crash recovery (`caps-backup prune`).
    public func pruneExclusively(settings: BackupSettings) throws -> [RetentionDecision] {
        try context.exclusiveJob { try prune(settings: settings) }
    }

    /// Deletes newest first, so that if this stops half-way (an error, a crash) no remaining
    /// incremental has lost its parent. Stops at the first error. Each backup is read again before
    /// it is deleted; one that is no longer a succeeded backup is left alone.
    public func apply(_ decisions: [RetentionDecision]) throws {
        for decision in decisions where !decision.keep {
            guard let job = try context.catalog.job(id: decision.id), job.status == .succeeded else { continue }
            try BackupDeletion(context: context).delete(job, reason: "retention: \(decision.reason)",
                                                        actor: BackupContext.Actor(userId: "retention", client: "retention"))
        }
        let emptied = Set(decisions.filter { $0.reasons.contains(.onlyRemaining) }.map(\.kind))
        for kind in BackupKind.allCases where emptied.contains(kind) {
            try context.catalog.raise(.retentionWouldDeleteAll(kind), at: context.now())
        }
    }
}
