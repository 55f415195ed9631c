import Foundation
import GRDB

/// What the dashboard's backup list and delete dialog read beside the rows themselves (R9.2, R9.8).
extension Catalog {
    /// The off-site copies of several backups at once (one query for a page of the list), by backup id.
    public func offsiteCopies(ofJobs ids: [Int64]) throws -> [Int64: [BackupDestObject]] {
        guard !ids.isEmpty else { return [:] }
        return try database.read { db in
            Dictionary(grouping: try BackupDestObject.filter(ids.contains(Column("job_id"))).order(Column("destination")).fetchAll(db), by: \.jobId)
        }
    }

    /// Where each backup sits in its chain: the root of its parent links (the chain's base, which
    /// holds every page) and how many links below it (0 for the base). Backups without a parent
    /// and no children are not in a chain and not in the answer.
    public func chainMembership(of ids: [Int64]) throws -> [Int64: (baseId: Int64, position: Int)] {
        try database.read { db in
            var result: [Int64: (Int64, Int)] = [:]
            for id in ids {
                // Parent links up to the base; a cycle is cut by the depth limit.
                guard let row = try Row.fetchOne(db, sql: """
                    WITH RECURSIVE up(id, parent_id, depth) AS (
                        SELECT id, parent_id, 0 FROM backup_job WHERE id = ?
                        UNION ALL
                        SELECT b.id, b.parent_id, up.depth + 1 FROM backup_job b JOIN up ON b.id = up.parent_id WHERE up.depth < 10000)
                    SELECT id, depth FROM up ORDER BY depth DESC LIMIT 1
                    """, arguments: [id]) else { continue }
                let (base, depth): (Int64, Int) = (row[0], row[1])
                let hasChildren = try Int.fetchOne(db, sql: "SELECT 1 FROM backup_job WHERE parent_id = ? LIMIT 1", arguments: [id]) != nil
                if depth > 0 || hasChildren {
                    result[id] = (base, depth)
                }
            }
            return result
        }
    }

    /// The succeeded backups that rebuild from `id` (its children, their children, …): they cannot be
    /// restored once it is gone.
    public func dependents(of id: Int64) throws -> [Int64] {
        try database.read { db in
            try Int64.fetchAll(db, sql: """
                WITH RECURSIVE down(id, depth) AS (
                    SELECT id, 1 FROM backup_job WHERE parent_id = ?
                    UNION ALL
                    SELECT b.id, down.depth + 1 FROM backup_job b JOIN down ON b.parent_id = down.id WHERE down.depth < 10000)
                SELECT DISTINCT down.id FROM down JOIN backup_job USING (id) WHERE backup_job.status = 'succeeded' ORDER BY down.id
                """, arguments: [id])
        }
    }

    public struct RestorePoints: Sendable {
        public var kind: BackupKind
        public var count: Int
        public var newest: Date?
    }

    /// Succeeded backups per kind, leaving out `excluded`: the restore points left after deleting them.
    public func restorePoints(excluding excluded: [Int64]) throws -> [RestorePoints] {
        try database.read { db in
            try Row.fetchAll(db, sql: """
                SELECT kind, COUNT(*) AS n, MAX(started_at) AS newest FROM backup_job
                WHERE status = 'succeeded' AND id NOT IN (SELECT value FROM json_each(?)) GROUP BY kind ORDER BY kind
                """, arguments: [String(decoding: try JSONEncoder().encode(excluded), as: UTF8.self)]).compactMap { row in
                BackupKind(rawValue: row["kind"]).map { RestorePoints(kind: $0, count: row["n"], newest: row["newest"]) }
            }
        }
    }

    /// Many records in one transaction (the overview benchmark's synthetic catalog).
    public func insert(_ jobs: [BackupRecord]) throws {
        try database.write { db in
            for var job in jobs { try job.insert(db) }
        }
    }
}
