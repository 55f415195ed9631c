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
        let context = try store.context()
        let progress = TerminalProgress(output.progress)
        // Heartbeat pings as for the service's backups; before exiting, give one still in flight a moment.
        let handler = context.heartbeat.startingAtFirstEvent(of: kind, then: progress.handler)
        defer { context.heartbeat.waitUntilSent(timeout: 10) }
        do {
            let job = switch kind {
            case .dbFull, .dbIncremental:
                try DatabaseBackupJob(context: context, kind: kind).run(trigger: .manual, actor: .system, integrityCheck: !skipIntegrityCheck, progress: handler)
            case .files, .full:
                try FileBackupJob(context: context, kind: kind).run(trigger: .manual, actor: .system, integrityCheck: !skipIntegrityCheck, progress: handler)
            }
            progress.finish()
            context.heartbeat.send(.success, for: kind)
            if output.json {
                try Output.json(job)
            } else {
                print("Backup \(job.id!) (\(job.kind.rawValue)) succeeded: \(job.path ?? "")")
                if let parent = job.parentId { print("  builds on backup \(parent)") }
                print("  size \(ByteCount.format(job.size ?? 0)), sha256 \(job.sha256 ?? "")")
                if let check = job.integrityCheck { print("  database integrity check: \(check)") }
            }
        } catch let failure as BackupFailure {
            progress.finish()
            context.heartbeat.send(.fail, for: kind)
            // A full disk was alerted by the job; any other failure is alerted here (R1.7).
            if failure.error.code != .insufficientSpace {
                _ = try? context.catalog.raise(.backupFailed(kind, failure.error), at: Date())
            }
            if output.json { try Output.json(failure.job) }
            Output.error("Backup \(failure.job.id ?? 0) failed: \(failure.error.message)")
            throw ExitCode(1)
        }
    }
}
