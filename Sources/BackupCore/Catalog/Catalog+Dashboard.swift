import Foundation
import GRDB

/// The read queries the dashboard and /metrics ask for: look-ups by id, paging, and the overview's
/// aggregates. Named here so that no caller outside the catalog writes SQL against its schema.
extension Catalog {
    public func restoreJob(id: Int64) throws -> RestoreRecord? {
        try database.read { db in try RestoreRecord.fetchOne(db, key: id) }
    }

    public func restoreJobs(limit: Int = 100, offset: Int = 0) throws -> [RestoreRecord] {
        try database.read { db in try RestoreRecord.order(Column("id").desc).limit(limit, offset: offset).fetchAll(db) }
    }

    public func auditLog(limit: Int = 100, offset: Int = 0) throws -> [AuditEntry] {
        try database.read { db in try AuditEntry.order(Column("id").desc).limit(limit, offset: offset).fetchAll(db) }
    }

    public func alert(id: Int64) throws -> Alert? {
        try database.read { db in try Alert.fetchOne(db, key: id) }
    }

    /// Archives on local disk: how many and how many bytes.
    public func localArchiveUsage() throws -> (count: Int, bytes: Int64) {
        try database.read { db in
            let row = try Row.fetchOne(db, sql: "SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM backup_job WHERE status = 'succeeded'")
            return (row?["n"] ?? 0, row?["bytes"] ?? 0)
        }
    }

    public struct KindStatistics: Sendable {
        public var kind: String
        public var lastSuccessAt: Date?
        public var lastSuccessDuration: Double?
        public var lastSuccessSize: Int64?
        public var failures: Int
        public var successes: Int
    }

    /// Per kind: the newest successful backup (when, how long, how big) and the count of failures.
    public func kindStatistics() throws -> [KindStatistics] {
        try database.read { db in
            var result: [String: KindStatistics] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT kind, SUM(status = 'failed') AS failures, SUM(status IN ('succeeded', 'deleted')) AS successes
                FROM backup_job GROUP BY kind
                """) {
                let kind: String = row["kind"]
                result[kind] = KindStatistics(kind: kind, failures: row["failures"] ?? 0, successes: row["successes"] ?? 0)
            }
            for kind in result.keys {
                if let job = try BackupRecord.filter(Column("kind") == kind && Column("status") == JobStatus.succeeded.rawValue)
                    .order(Column("finished_at").desc, Column("id").desc).fetchOne(db) {
                    result[kind]?.lastSuccessAt = job.finishedAt
                    result[kind]?.lastSuccessDuration = job.finishedAt.map { $0.timeIntervalSince(job.startedAt) }
                    result[kind]?.lastSuccessSize = job.size
                }
            }
            return result.values.sorted { $0.kind < $1.kind }
        }
    }

    public func openAlertCount() throws -> Int {
        try database.read { db in try Alert.filter(Column("acknowledged_at") == nil).fetchCount(db) }
    }

    /// Bytes of archives copied to remote destinations and still there.
    public func uploadedBytes() throws -> Int64 {
        try database.read { db in
            try Int64.fetchOne(db, sql: "SELECT COALESCE(SUM(size), 0) FROM backup_dest_object WHERE remote_id IS NOT NULL AND deleted_at IS NULL") ?? 0
        }
    }
}
