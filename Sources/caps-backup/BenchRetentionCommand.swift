import ArgumentParser
import BackupCore
import Foundation

/// `caps-backup bench-retention`: hidden; `make bench` reports its numbers.
struct BenchRetentionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-retention", abstract: "Time retention planning over a synthetic catalog of hourly backups.",
        shouldDisplay: false)

    @Option(help: "Catalog rows (one database backup an hour).")
    var rows = 100_000

    @Flag(help: "Print one JSON document.")
    var json = false

    func run() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("caps-bench-retention-\(UUID().uuidString.prefix(8))")
        try POSIXFile.makePrivateDirectory(directory)
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try RetentionBenchmark.run(rows: rows, in: directory)
        if json { return try Output.json(result) }
        print("retention plan over \(result.rows) rows: \(String(format: "%.3f", result.planSeconds)) s "
              + "(catalog read \(String(format: "%.3f", result.loadSeconds)) s), \(result.kept) kept")
    }
}
