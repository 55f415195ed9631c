import Foundation
import GRDB

extension Catalog {
    /// The succeeded backups with only the columns retention reads. Decoding every column of
    /// 100,000 rows through Codable takes seconds; these few take a fraction of that. The values
    /// are for planning only and are never written back.
    func retentionCandidates() throws -> [BackupRecord] {
        try database.read { db in
            let rows = try Row.fetchCursor(db, sql: """
                SELECT id, uuid, kind, started_at, snapshot_started_at, parent_id FROM backup_job WHERE status = ?
                """, arguments: [JobStatus.succeeded])
            var jobs: [BackupRecord] = []
            while let row = try rows.next() {
                guard let kind = BackupKind(rawValue: row[2]) else { continue }
                var job = BackupRecord(uuid: row[1], kind: kind, trigger: .scheduled, startedAt: row[3])
                job.id = row[0]
                job.status = .succeeded
                job.snapshotStartedAt = row[4]
                job.parentId = row[5]
                jobs.append(job)
            }
            return jobs
        }
    }
}
