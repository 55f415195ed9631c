import ArgumentParser
import BackupCore
import Foundation

/// `caps-backup prune [--dry-run] [--json]`: the retention plan, each backup kept or deleted with
/// its reason; without `--dry-run` the deletions are applied (rows stay, status `deleted`).
struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune", abstract: "Apply the retention policy now; with --dry-run only show what it would delete.")

    @Flag(name: .customLong("dry-run"), help: "Show the plan without deleting anything.")
    var dryRun = false

    @Flag(help: "Print one JSON document on stdout.")
    var json = false

    @OptionGroup var store: StoreOptions

    struct Row: Encodable {
        var id: Int64
        var kind: BackupKind
        var time: Date
        var action: String
        var reason: String
    }

    struct Report: Encodable {
        var dryRun: Bool
        var kept: Int
        var deleted: Int
        var backups: [Row]
    }

    func run() throws {
        let context = try store.context()
        let settings = try SettingsStore(catalog: context.catalog).load()
        let pruner = RetentionPruner(context: context)
        let decisions: [RetentionDecision]
        if dryRun {
            decisions = try pruner.plan(settings: settings)
        } else {
            decisions = try pruner.pruneExclusively(settings: settings)
        }
        let rows = decisions.map {
            Row(id: $0.id, kind: $0.kind, time: $0.time, action: $0.keep ? "keep" : "delete", reason: $0.reason)
        }
        let deleted = rows.filter { $0.action == "delete" }.count
        if json { return try Output.json(Report(dryRun: dryRun, kept: rows.count - deleted, deleted: deleted, backups: rows)) }
        if rows.isEmpty { return print("No succeeded backups yet: nothing to prune.") }
        print(Table(["ID", "KIND", "TAKEN (local)", "ACTION", "REASON"],
                    rows.map { [String($0.id), $0.kind.rawValue, Output.localTime($0.time), $0.action, $0.reason] }).render())
        print("\n\(rows.count - deleted) kept, \(deleted) \(dryRun ? "would be deleted (dry run)" : "deleted").")
    }
}
