import ArgumentParser
import BackupCore
import Foundation

extension BackupKind: ExpressibleByArgument {}

struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup", abstract: "Run one backup now (db-full; more kinds as they land).")

    @Option(name: .long, help: "What to back up: \(BackupKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var kind: BackupKind = .dbFull

    @Flag(name: .customLong("skip-integrity-check"),
          help: "Publish the backup without running PRAGMA integrity_check on its snapshot afterwards (restores of it will check instead).")
    var skipIntegrityCheck = false

    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let context = try store.context()
        guard kind == .dbFull || kind == .dbIncremental else {
            throw BackupError(.invalidInput, "Backups of kind \(kind.rawValue) are not available yet; use --kind db-full or db-incremental.")
        }
        let progress = TerminalProgress(output.progress)
        do {
            let job = try DatabaseBackupJob(context: context, kind: kind).run(trigger: .manual, actor: .system, integrityCheck: !skipIntegrityCheck, progress: progress.handler)
            progress.finish()
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
            if output.json { try Output.json(failure.job) }
            Output.error("Backup \(failure.job.id ?? 0) failed: \(failure.error.message)")
            throw ExitCode(1)
        }
    }
}
