import ArgumentParser
import BackupCore
import Foundation

extension BackupKind: ExpressibleByArgument {}

struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup", abstract: "Run one backup now: db-full, db-incremental, files (the uploads folder) or full (database, uploads and config files).")

    @Option(name: .long, help: "What to back up: \(BackupKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var kind: BackupKind = .dbFull

    @Flag(name: .customLong("skip-integrity-check"),
          help: "Publish the backup without running PRAGMA integrity_check on its snapshot afterwards (restores of it will check instead).")
    var skipIntegrityCheck = false

    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    /// A manual run from the command line backs up and deletes nothing: retention runs after scheduled
    /// backups (`serve`, `scheduler`) and with `caps-backup prune`, so a technician's extra backup never
    /// pushes an older one out of its bucket by surprise.
    func run() throws {
        let context = try store.context(recovering: false)
        let progress = TerminalProgress(output.progress)
        // The runner sends the heartbeat pings; before exiting, give one still in flight a moment.
        defer { context.heartbeat.waitUntilSent(timeout: 10) }
        // The job's log goes to the catalog as the dashboard's do (R9.6).
        let log = JobLogBook(catalog: context.catalog, owner: .backup, now: context.now, firstLine: "Backup of kind \(kind.rawValue) started from the command line")
        let outcome = BackupRunner(context: context).run(kind, trigger: .manual, actor: .system, integrityCheck: !skipIntegrityCheck,
                                                          applyRetention: false, progress: log.wrap(progress.handler))
        progress.finish()
        switch outcome {
        case .succeeded(let job, _), .failed(_, let job?): log.finish(.ended(job, at: context.now()))
        default: break
        }
        switch outcome {
        case .succeeded(let job, _):
            if output.json { return try Output.json(job) }
            print("Backup \(job.id!) (\(job.kind.rawValue)) succeeded: \(job.path ?? "")")
            if let parent = job.parentId { print("  builds on backup \(parent)") }
            print("  size \(ByteCount.format(job.size ?? 0)), sha256 \(job.sha256 ?? "")")
            if let check = job.integrityCheck { print("  database integrity check: \(check)") }
        case .failed(let error, let job):
            if output.json, let job { try Output.json(job) }
            Output.error(job.map { "Backup \($0.id ?? 0) failed: \(error.forCommandLine)" } ?? error.forCommandLine)
            throw ExitCode(1)
        case .skipped:
            throw BackupError(.busy, "Another backup or restore is running; try again when it has finished.")
        }
    }
}
