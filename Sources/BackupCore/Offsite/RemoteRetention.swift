import Foundation

/// One remote copy removed by remote retention or with its backup.
public struct RemoteDeletion: Codable, Sendable, Equatable {
    public var jobId: Int64
    public var backupId: String
    public var kind: BackupKind
    public var destination: String
    public var remoteId: String
    /// False when the destination refused; the copy stays recorded as uploaded and is tried again next time.
    public var deleted: Bool
    public var error: String?
}

/// Keeps the newest `keep` remote copies of each kind on one destination (R6.4, `retention.remoteKeep`),
/// independently of local retention: a backup deleted from this disk keeps its off-site copy until this
/// pushes it out. Never deletes the last copy of a kind, nor a copy that a kept remote incremental needs
/// to be restored (its chain's base and links). Each deletion is recorded in `backup_dest_object`.
public struct RemoteRetention: Sendable {
    public let context: BackupContext
    public let destination: any Destination
    public let keep: Int

    public init(context: BackupContext, destination: any Destination, keep: Int) {
        self.context = context
        self.destination = destination
        self.keep = keep
    }

    public func apply() async throws -> [RemoteDeletion] {
        var held: [(copy: BackupDestObject, job: BackupRecord)] = []
        for copy in try context.catalog.offsiteCopies(on: destination.name) where copy.status == .uploaded && copy.remoteId != nil {
            if let job = try context.catalog.job(id: copy.jobId) { held.append((copy, job)) }
        }
        let jobs = Dictionary(held.map { ($0.job.id!, $0.job) }, uniquingKeysWith: { first, _ in first })
        var kept = Set<Int64>()
        for kind in BackupKind.allCases {
            let newest = held.filter { $0.job.kind == kind }.sorted { ($0.job.startedAt, $0.job.id!) > ($1.job.startedAt, $1.job.id!) }
            for (copy, _) in newest.prefix(max(keep, 1)) { kept.insert(copy.jobId) }
        }
        // A kept incremental is only restorable with every link back to its base.
        for id in Array(kept) {
            var next = jobs[id]?.parentId
            while let parentId = next, kept.insert(parentId).inserted {
                next = try jobs[parentId]?.parentId ?? context.catalog.job(id: parentId)?.parentId
            }
        }
        var deletions: [RemoteDeletion] = []
        for (copy, job) in held where !kept.contains(job.id!) {
            deletions.append(await delete(copy, of: job, reason: "remote retention"))
        }
        return deletions
    }

    /// Deletes one remote copy and records it; a refusal is recorded on the copy and returned, not thrown.
    func delete(_ copy: BackupDestObject, of job: BackupRecord, reason: String) async -> RemoteDeletion {
        var deletion = RemoteDeletion(jobId: job.id!, backupId: job.uuid, kind: job.kind, destination: destination.name,
                                      remoteId: copy.remoteId ?? "", deleted: false, error: nil)
        var updated = copy
        do {
            if let remoteId = copy.remoteId { try await destination.delete(remoteId) }
            updated.status = .deleted
            updated.deletedAt = context.now()
            updated.error = nil
            deletion.deleted = true
        } catch {
            let message = (error as? DestinationError)?.message ?? BackupError.wrap(error, "The remote copy could not be deleted.").message
            updated.error = message
            deletion.error = message
        }
        let recorded = updated
        context.record { try context.catalog.update(recorded) }
        context.audit("offsite.delete", target: "backup \(job.id!) on \(destination.name)", outcome: deletion.deleted ? "succeeded" : "failed",
                      detail: deletion.error ?? reason, actor: .system)
        return deletion
    }
}
