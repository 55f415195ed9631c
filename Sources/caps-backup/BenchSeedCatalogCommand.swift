import ArgumentParser
import BackupCore
import Foundation

/// `caps-backup bench-seed-catalog`: hidden; `bench/overview_bench.py` fills a catalog with it to time
/// the overview over many backups. The rows are records only (their archives do not exist).
struct BenchSeedCatalogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-seed-catalog", abstract: "Add synthetic backup records to a data directory's catalog.", shouldDisplay: false)

    @Option(name: .customLong("data-dir"), help: "The data directory whose catalog gets the rows.")
    var dataDir: String

    @Option(help: "Backup records to add (one an hour back from now, mostly hourlies, some failed).")
    var rows = 10_000

    func validate() throws {
        guard rows > 0, rows <= 10_000_000 else { throw ValidationError("--rows must be between 1 and 10000000") }
    }

    func run() throws {
        let directory = DataDirectory(URL(fileURLWithPath: dataDir))
        try directory.prepare()
        let catalog = try Catalog(url: directory.catalog)
        let now = Date()
        var jobs: [BackupRecord] = []
        jobs.reserveCapacity(rows)
        for i in 0..<rows {
            let kind: BackupKind = i % 720 == 0 ? .full : i % 168 == 0 ? .files : i % 24 == 0 ? .dbFull : .dbIncremental
            let started = now.addingTimeInterval(-Double(rows - i) * 3600)
            var job = BackupRecord(kind: kind, trigger: .scheduled, startedAt: started)
            job.status = i % 97 == 0 ? .failed : .succeeded
            job.finishedAt = started.addingTimeInterval(8)
            if job.status == .succeeded {
                job.size = Int64(1_000_000 + i % 5_000)
                job.sha256 = String(repeating: "0", count: 64)
                job.path = directory.root.appendingPathComponent("archives/db/synthetic-\(i).zip").path
            } else {
                job.error = "synthetic failure"
            }
            jobs.append(job)
        }
        try catalog.insert(jobs)
        print("added \(rows) backup records to \(directory.catalog.path)")
    }
}
