import ArgumentParser
import BackupCore
import Foundation

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a backup completely: archive checksum, every entry, and the database's integrity.")

    @Argument(help: "A backup id (see `list`), a backup uuid, or an archive file.")
    var backup: String

    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let context = try store.context()
        let report: VerifyReport
        let progress = TerminalProgress(output.progress)
        switch try BackupReference.resolve(backup, in: context) {
        case .job(let job):
            guard let path = job.path, job.status == .succeeded else {
                throw BackupError(.invalidInput, "Backup \(job.id!) is \(job.status.rawValue); there is no archive to verify.")
            }
            report = VerifyJob(context: context).run(archive: URL(fileURLWithPath: path), job: job, progress: progress.handler)
        case .file(let url):
            report = VerifyJob(context: context).run(archive: url, progress: progress.handler)
        }
        progress.finish()
        if output.json {
            try Output.json(report)
        } else if report.status == "ok" {
            print("OK: \(report.path)")
            print("  archive sha256 \(report.sha256 ?? "") (checked against: \(report.checksumSource ?? "none"))")
            print("  \(report.entries ?? 0) entries match the manifest" + (report.integrity.map { "; database integrity: \($0)" } ?? ""))
        }
        if report.status != "ok" {
            Output.error("FAILED: \(report.path): \(report.error ?? "unknown error")")
            throw ExitCode(1)
        }
    }
}
