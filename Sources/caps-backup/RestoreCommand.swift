import ArgumentParser
import BackupCore
import Foundation

struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore from a backup, verified first: the POS database (with a pre-restore copy for the way back), the product files of a file or full backup, and on request the config files.")

    @Argument(help: "A backup id (see `list`), a backup uuid, an archive file, or a plain SQLite file such as a pre-restore copy.")
    var backup: String

    @Flag(name: .customLong("no-pre-restore-snapshot"), help: "Skip the copy of the live database taken before restoring.")
    var noPreRestoreSnapshot = false

    @Flag(name: .long, help: "Confirm: replace the live POS database (and/or files).")
    var yes = false

    @Flag(name: .customLong("with-config"), help: "Also restore the backup's config files to the paths they were backed up from.")
    var withConfig = false

    @Flag(name: .customLong("files-only"), help: "From a full backup, restore only the product files.")
    var filesOnly = false

    @Flag(name: .customLong("database-only"), help: "From a full backup, restore only the database.")
    var databaseOnly = false

    @Flag(name: .customLong("delete-extra"),
          help: "Remove files in the uploads folder that the backup does not hold (default: keep them). Excluded and skipped paths are never removed.")
    var deleteExtra = false

    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        guard yes else {
            Output.error("A restore replaces live data (the POS database and/or the product files). Run again with --yes to confirm.")
            throw ExitCode(2)
        }
        guard !(filesOnly && databaseOnly) else {
            Output.error("--files-only and --database-only exclude each other.")
            throw ExitCode(2)
        }
        let context = try store.context(recovering: false)
        let source: RestoreSource
        switch try BackupReference.resolve(backup, in: context) {
        case .job(let job): source = .backup(job)
        case .file(let url): source = Self.isSQLiteFile(url) ? .databaseFile(url) : .archive(url)
        }
        let scope: RestoreRequest.Scope = filesOnly ? .filesOnly : databaseOnly ? .databaseOnly : .everything
        let request = RestoreRequest(scope: scope, withConfig: withConfig, files: FileRestoreOptions(uploads: context.uploads, deleteExtra: deleteExtra),
                                     preRestoreSnapshot: !noPreRestoreSnapshot)
        if case .success(let kind) = Result(catching: { try BackupRestorer.kind(of: source) }), let problem = request.problem(for: kind) {
            Output.error(problem)
            throw ExitCode(2)
        }

        let progress = TerminalProgress(output.progress)
        // The job's log goes to the catalog as the dashboard's do (R9.6).
        let log = JobLogBook(catalog: context.catalog, owner: .restore, now: context.now, firstLine: "Restore started from the command line")
        do {
            let (restore, files) = try BackupRestorer(context: context).run(source, request: request, actor: .system, progress: log.wrap(progress.handler))
            log.finish(.ended(restore, recoverySteps: nil, files: files, at: context.now()))
            progress.finish()
            if output.json {
                try Output.json(RestoreOutput(restore, files: files))
            } else {
                print("Restore \(restore.id!) succeeded: \(restore.targetPath) now holds \(restore.sourcePath).")
                if let pre = restore.preRestorePath { print("  The previous database was kept at \(pre).") }
                if let files, !files.root.isEmpty {
                    print("  \(files.restored) files (\(ByteCount.format(Int64(files.bytes)))) restored into \(files.root)"
                          + (deleteExtra ? ", \(files.removed) files not in the backup removed." : "; files not in the backup were kept."))
                }
                for path in files?.configFiles ?? [] { print("  config file restored: \(path)") }
            }
        } catch let failure as RestoreFailure {
            if let restore = failure.restore {
                log.finish(.ended(restore, recoverySteps: failure.recoverySteps.map(\.forCommandLine), files: nil, at: context.now()))
            }
            progress.finish()
            if output.json, let restore = failure.restore { try Output.json(RestoreOutput(restore, recoverySteps: failure.recoverySteps.map(\.forCommandLine))) }
            Output.error("Restore failed: \(failure.error.forCommandLine)")
            for step in failure.recoverySteps { Output.error("  - \(step.forCommandLine)") }
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
    let restore: RestoreRecord
    let recoverySteps: [String]?
    let files: FileRestoreOutcome?

    init(_ restore: RestoreRecord, recoverySteps: [String]? = nil, files: FileRestoreOutcome? = nil) {
        self.restore = restore
        self.recoverySteps = recoverySteps
        self.files = files
    }

    enum Keys: String, CodingKey {
        case id, kind, status, path, size, sha256, error, errorDetail, source, sourceJobId, sourceBackupId
        case startedAt, finishedAt, preRestorePath, restoredImageSha256, recoverySteps, files
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
        try c.encodeIfPresent(files, forKey: .files)
    }
}
