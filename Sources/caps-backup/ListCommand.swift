import ArgumentParser
import BackupCore
import Foundation

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List backups (newest first), or restores.")

    @Option(name: .long, help: "Only this kind.")
    var kind: BackupKind?

    @Flag(name: .long, help: "List restore jobs instead of backups.")
    var restores = false

    @Option(name: .long, help: "How many rows.")
    var limit = 50

    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let context = try store.context()
        if restores {
            let rows = try context.catalog.restoreJobs(limit: limit)
            if output.json { return try Output.json(rows.map { RestoreOutput($0) }) }
            print(Table(["ID", "STATUS", "STARTED", "SOURCE", "PRE-RESTORE COPY", "ERROR"],
                        rows.map { [String($0.id ?? 0), $0.status.rawValue, Output.localTime($0.startedAt), $0.sourcePath,
                                    $0.preRestorePath ?? "-", $0.error ?? ""] }).render())
            return
        }
        let jobs = try context.catalog.jobs(kind: kind, limit: limit)
        let copies = try context.catalog.offsiteCopies(ofJobs: jobs.compactMap(\.id))
        let chains = try context.catalog.chainMembership(of: jobs.filter { $0.kind == .dbIncremental }.compactMap(\.id))
        if output.json { return try Output.json(jobs.map { ListedBackup(job: $0, offsite: copies[$0.id ?? 0] ?? []) }) }
        if jobs.isEmpty { return print("No backups yet. Run: caps-backup backup --kind db-full") }
        print(Table(["ID", "KIND", "BUILDS ON", "STATUS", "DB CHECK", "OFF-SITE", "STARTED (local)", "TOOK", "SIZE", "SHA-256", "PATH / ERROR"],
                    jobs.map { job in
                        let took = job.finishedAt.map { String(format: "%.1fs", $0.timeIntervalSince(job.startedAt)) } ?? "-"
                        return [String(job.id ?? 0), job.kind.rawValue, chainDescription(job, chains: chains), job.status.rawValue,
                                checkDescription(job), offsiteDescription(copies[job.id ?? 0] ?? []), Output.localTime(job.startedAt), took,
                                job.size.map { ByteCount.format($0) } ?? "-", job.sha256.map { String($0.prefix(12)) } ?? "-",
                                job.status == .failed ? (job.error ?? "") : (job.path ?? "")]
                    }).render())
    }
}

/// The database check on record: `ok`, `not yet` (the check runs after publication, or the backup was
/// taken with --skip-integrity-check: a restore checks first), `PROBLEMS`, or `-` for a backup without a
/// database.
private func checkDescription(_ job: BackupRecord) -> String {
    guard job.kind != .files, job.status == .succeeded else { return "-" }
    switch job.integrityCheck {
    case nil: return "not yet"
    case "ok": return "ok"
    default: return "PROBLEMS"
    }
}

/// A backup as `list --json` prints it: its record, and its off-site copies (so a script sees "local ok,
/// off-site pending" as the dashboard does).
private struct ListedBackup: Encodable {
    let job: BackupRecord
    let offsite: [BackupDestObject]

    private enum CodingKeys: String, CodingKey { case offsite }

    func encode(to encoder: any Encoder) throws {
        try job.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(offsite, forKey: .offsite)
    }
}

/// "google-drive uploaded", "google-drive pending (2 tries)"; "-" for a backup with no off-site copy asked for.
private func offsiteDescription(_ copies: [BackupDestObject]) -> String {
    guard !copies.isEmpty else { return "-" }
    return copies.map { copy in
        let tries = copy.status == .pending && copy.attempts > 0 ? " (\(copy.attempts) \(copy.attempts == 1 ? "try" : "tries"))" : ""
        return "\(copy.destination) \(copy.status.rawValue)\(tries)"
    }.joined(separator: ", ")
}

/// "12 ← base 3": an incremental's parent and the base its chain starts from (`Catalog.chainMembership`).
private func chainDescription(_ job: BackupRecord, chains: [Int64: (baseId: Int64, position: Int)]) -> String {
    guard job.kind == .dbIncremental else { return "-" }
    guard let parent = job.parentId else { return "base (all pages)" }
    guard let base = chains[job.id ?? 0]?.baseId else { return "\(parent)" }
    return base == parent ? "base \(base)" : "\(parent) ← base \(base)"
}

/// Left-aligned text columns.
struct Table {
    let header: [String]
    let rows: [[String]]

    init(_ header: [String], _ rows: [[String]]) {
        self.header = header
        self.rows = rows
    }

    func render() -> String {
        let all = [header] + rows
        let widths = header.indices.map { i in all.map { $0[i].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { i, cell in i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
