import ArgumentParser
import BackupCore
import Foundation

struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore the POS database from a backup, verified first, with a pre-restore copy for the way back.")

    @Argument(help: "A backup id (see `list`), a backup uuid, an archive file, or a plain SQLite file such as a pre-restore copy.")
    var backup: String

    @Flag(name: .customLong("no-pre-restore-snapshot"), help: "Skip the copy of the live database taken before restoring.")
    var noPreRestoreSnapshot = false

    @Flag(name: .long, help: "Confirm: replace the live POS database.")
    var yes = false

    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        guard yes else {
            Output.error("A restore replaces the live POS database. Run again with --yes to confirm.")
            throw ExitCode(2)
        }
        let context = try store.context()
        let source: RestoreSource
        switch try BackupReference.resolve(backup, in: context) {
        case .job(let job): source = .backup(job)
        case .file(let url): source = Self.isSQLiteFile(url) ? .databaseFile(url) : .archive(url)
        }
        let progress = TerminalProgress(output.progress)
        do {
            let restore = try DatabaseRestoreJob(context: context)
                .run(source, preRestoreSnapshot: !noPreRestoreSnapshot, actor: .system, progress: progress.handler)
            progress.finish()
            if output.json {
                try Output.json(RestoreOutput(restore))
            } else {
                print("Restore \(restore.id!) succeeded: \(restore.targetPath) now holds \(restore.sourcePath).")
                if let pre = restore.preRestorePath { print("  The previous database was kept at \(pre).") }
            }
        } catch let failure as RestoreFailure {
            progress.finish()
            if output.json, let restore = failure.restore { try Output.json(RestoreOutput(restore, recoverySteps: failure.recoverySteps)) }
            Output.error("Restore failed: \(failure.error.message)")
            for step in failure.recoverySteps { Output.error("  - \(step)") }
            throw ExitCode(1)
        }
    }

    static func isSQLiteFile(_ url: URL) -> Bool {
        guard let handle = try? FileHandle(forReadingFrom: url), let head = try? handle.read(upToCount: 16) else { return false }
        return head == Data("SQLite format 3\0".utf8)
    }
}

/// A restore record as the CLI prints it, with the common job fields (`id`, `kind`, `status`, `path`, ...).
struct RestoreOutput: Encodable {
    let restore: RestoreJob
    let recoverySteps: [String]?

    init(_ restore: RestoreJob, recoverySteps: [String]? = nil) {
        self.restore = restore
        self.recoverySteps = recoverySteps
    }

    enum Keys: String, CodingKey {
        case id, kind, status, path, size, sha256, error, errorDetail, source, sourceJobId, sourceBackupId
        case startedAt, finishedAt, preRestorePath, restoredImageSha256, recoverySteps
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(restore.id, forKey: .id)
        try c.encode("restore", forKey: .kind)
        try c.encode(restore.status.rawValue, forKey: .status)
        try c.encode(restore.targetPath, forKey: .path)
        try c.encode((try? POSIXFile.fileSize(URL(fileURLWithPath: restore.targetPath))).map(Int64.init), forKey: .size)
        try c.encode(restore.restoredImageSha256, forKey: .sha256)
        try c.encode(restore.error, forKey: .error)
        try c.encodeIfPresent(restore.errorDetail, forKey: .errorDetail)
        try c.encode(restore.sourcePath, forKey: .source)
        try c.encodeIfPresent(restore.sourceJobId, forKey: .sourceJobId)
        try c.encodeIfPresent(restore.sourceBackupId, forKey: .sourceBackupId)
        try c.encode(restore.startedAt, forKey: .startedAt)
        try c.encodeIfPresent(restore.finishedAt, forKey: .finishedAt)
        try c.encode(restore.preRestorePath, forKey: .preRestorePath)
        try c.encodeIfPresent(restore.restoredImageSha256, forKey: .restoredImageSha256)
        try c.encodeIfPresent(recoverySteps, forKey: .recoverySteps)
    }
}
