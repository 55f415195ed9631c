import Foundation
import GRDB

/// Whose log a line belongs to: backups and restores are numbered separately.
public enum JobLogOwner: String, Codable, Sendable, DatabaseValueConvertible {
    case backup, restore
}

/// One line of a job's structured log (R9.6), as the catalog keeps it and the API returns it.
public struct JobLogLine: Codable, Sendable, Equatable {
    public var at: Date
    public var level: String
    public var message: String
    public var phase: ProgressPhase?
    public var bytesDone: UInt64?
    public var bytesTotal: UInt64?

    public init(at: Date, level: String, message: String, phase: ProgressPhase? = nil, bytesDone: UInt64? = nil, bytesTotal: UInt64? = nil) {
        self.at = at
        self.level = level
        self.message = message
        self.phase = phase
        self.bytesDone = bytesDone
        self.bytesTotal = bytesTotal
    }

    /// Severities, least severe first: a filter `level=warning` shows warnings and errors.
    public static let levels = ["info", "warning", "error"]
}

/// The `job_log` table (migration v5): every job's log, kept across restarts, capped per job and pruned by age.
extension Catalog {
    /// Lines kept per job; past it, one line says how many more there were.
    public static let jobLogCap = 2_000
    /// Logs older than this are pruned at start-up and after retention runs.
    public static let jobLogMaxAge: TimeInterval = 90 * 86_400

    private struct JobLogRecord: Codable, FetchableRecord, MutablePersistableRecord {
        static let databaseTableName = "job_log"
        static var databaseColumnDecodingStrategy: DatabaseColumnDecodingStrategy { .convertFromSnakeCase }
        static var databaseColumnEncodingStrategy: DatabaseColumnEncodingStrategy { .convertToSnakeCase }
        var id: Int64?
        var owner: JobLogOwner
        var jobId: Int64
        var at: Date
        var level: String
        var message: String
        var phase: String?
        var bytesDone: Int64?
        var bytesTotal: Int64?
        var omitted: Int = 0
        mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

        var line: JobLogLine {
            JobLogLine(at: at, level: level, message: omitted > 0 ? "… \(omitted) more line\(omitted == 1 ? "" : "s") not kept" : message,
                       phase: phase.flatMap(ProgressPhase.init(rawValue:)),
                       bytesDone: bytesDone.map { UInt64(clamping: $0) }, bytesTotal: bytesTotal.map { UInt64(clamping: $0) })
        }
    }

    /// Appends lines to a job's log. Past `jobLogCap` lines the job keeps one more line, which
    /// counts the lines not kept, so a runaway job cannot fill the catalog.
    public func appendJobLog(_ lines: [JobLogLine], owner: JobLogOwner, jobId: Int64, cap: Int = Catalog.jobLogCap) throws {
        guard !lines.isEmpty else { return }
        try database.write { db in
            let filter = Column("owner") == owner && Column("job_id") == jobId
            var kept = try JobLogRecord.filter(filter).fetchCount(db)
            for line in lines {
                if kept < cap {
                    var row = JobLogRecord(owner: owner, jobId: jobId, at: line.at, level: line.level, message: line.message, phase: line.phase?.rawValue,
                                   bytesDone: line.bytesDone.map { Int64(clamping: $0) }, bytesTotal: line.bytesTotal.map { Int64(clamping: $0) })
                    try row.insert(db)
                    kept += 1
                } else if var marker = try JobLogRecord.filter(filter && Column("omitted") > 0).fetchOne(db) {
                    marker.omitted += 1
                    marker.at = line.at
                    try marker.update(db)
                } else {
                    var marker = JobLogRecord(owner: owner, jobId: jobId, at: line.at, level: "warning", message: "", omitted: 1)
                    try marker.insert(db)
                }
            }
        }
    }

    /// A page of a job's log, oldest first, with lines of `minimumLevel` or worse, and how many such lines there are.
    public func jobLog(owner: JobLogOwner, jobId: Int64, minimumLevel: String? = nil, limit: Int = 500, offset: Int = 0) throws
        -> (lines: [JobLogLine], total: Int) {
        try database.read { db in
            var request = JobLogRecord.filter(Column("owner") == owner && Column("job_id") == jobId)
            if let minimumLevel, let index = JobLogLine.levels.firstIndex(of: minimumLevel) {
                // The "not kept" line always shows: it says the filtered view may be missing lines.
                request = request.filter(JobLogLine.levels[index...].contains(Column("level")) || Column("omitted") > 0)
            }
            let total = try request.fetchCount(db)
            let rows = try request.order(Column("id")).limit(limit, offset: offset).fetchAll(db)
            return (rows.map(\.line), total)
        }
    }

    /// Whether the catalog holds any log line for the job (jobs from before migration v5 have none).
    public func hasJobLog(owner: JobLogOwner, jobId: Int64) throws -> Bool {
        try database.read { db in try JobLogRecord.filter(Column("owner") == owner && Column("job_id") == jobId).fetchCount(db) > 0 }
    }

    /// Removes the log lines written before `cutoff`. - Returns: how many.
    @discardableResult
    public func pruneJobLogs(before cutoff: Date) throws -> Int {
        try database.write { db in try JobLogRecord.filter(Column("at") < cutoff).deleteAll(db) }
    }
}
