import Foundation
import GRDB

/// Retention planning over a long synthetic catalog, for `caps-backup bench-retention` (make bench):
/// one database backup an hour (a db-full at 23:59, incrementals chained in between), all succeeded,
/// so every row is a candidate; 100,000 rows are about eleven years.
public enum RetentionBenchmark {
    public struct Result: Codable, Sendable {
        public var rows: Int
        public var kept: Int
        /// Reading the succeeded rows from the catalog (what `RetentionPruner` reads).
        public var loadSeconds: Double
        /// `RetentionPolicy.plan` alone.
        public var planSeconds: Double
    }

    public static func run(rows: Int, in directory: URL, timeZone: TimeZone = TimeZone(identifier: "America/New_York")!) throws -> Result {
        let catalog = try Catalog(url: directory.appendingPathComponent("catalog.sqlite"))
        let end = Date(timeIntervalSince1970: 1_795_000_000)
        try catalog.database.write { db in
            var parent: Int64?
            for i in 0..<rows {
                let hoursAgo = rows - 1 - i
                var job = BackupRecord(kind: i % 24 == 23 ? .dbFull : .dbIncremental, trigger: .scheduled,
                                    startedAt: end.addingTimeInterval(-3_600 * Double(hoursAgo)))
                job.status = .succeeded
                job.parentId = job.kind == .dbIncremental ? parent : nil
                try job.insert(db)
                parent = job.id
            }
        }
        let clock = ContinuousClock()
        var backups: [BackupRecord] = []
        let load = try clock.measure { backups = try catalog.retentionCandidates() }
        var decisions: [RetentionDecision] = []
        let plan = clock.measure {
            decisions = RetentionPolicy.plan(backups: backups, now: end, settings: BackupSettings.RetentionSettings(), timeZone: timeZone)
        }
        return Result(rows: backups.count, kept: decisions.filter(\.keep).count, loadSeconds: load.seconds, planSeconds: plan.seconds)
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
