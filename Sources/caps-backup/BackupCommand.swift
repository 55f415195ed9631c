import ArgumentParser
import BackupCore
import Foundation

extension BackupKind: ExpressibleByArgument {}

struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup", abstract: "Run one backup now (db-full; more kinds as they land).")

    @Option(name: .long, help: "What to back up: \(BackupKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var kind: BackupKind = .dbFull

    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let context = try store.context()
        guard kind == .dbFull else {
            throw BackupError(.invalidInput, "Backups of kind \(kind.rawValue) are not available yet; use --kind db-full.")
        }
        let progress = TerminalProgress()
        do {
            let job = try DatabaseBackupJob(context: context).run(trigger: .manual, actor: .system, progress: progress.handler)
            progress.finish()
            if output.json {
                try Output.json(job)
            } else {
                print("Backup \(job.id!) succeeded: \(job.path ?? "")")
                print("  size \(ByteCount.format(job.size ?? 0)), sha256 \(job.sha256 ?? "")")
            }
        } catch let failure as BackupFailure {
            progress.finish()
            if output.json { try Output.json(failure.job) }
            Output.error("Backup \(failure.job.id ?? 0) failed: \(failure.error.message)")
            throw ExitCode(1)
        }
    }
}
