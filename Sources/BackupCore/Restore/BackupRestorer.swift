import Foundation

/// Restores from any backup by its kind (R7.4, R7.7, R7.8): a database backup gives the database (and,
/// on request, its config files); a file backup the files; a full backup both, or either alone.
/// For the command line and the HTTP API alike.
public struct BackupRestorer: Sendable {
    public let context: BackupContext
    public init(context: BackupContext) { self.context = context }

    /// The kind of backup a source holds: the catalog's word for a backup, the manifest's for an archive
    /// file (only read here; the restore verifies everything), nil for a plain database file.
    public static func kind(of source: RestoreSource) throws -> BackupKind? {
        switch source {
        case .backup(let job): return job.kind
        case .databaseFile: return nil
        case .archive(let url):
            let reader = try ZipReader(url: url)
            guard let entry = reader.entry(named: Manifest.entryName) else {
                throw BackupError(.corruptArchive, "This ZIP file is not a caps-backup archive (it has no manifest.json).")
            }
            return try Manifest.decode(try reader.readData(entry, limit: Manifest.maxSize)).kind
        }
    }

    /// - Returns: the restore record, and what happened to files and config files (nil when none were asked for).
    /// - Throws: `BackupError(.invalidInput)` when the request does not fit the backup (nothing done, no
    ///   record), else `RestoreFailure` with the record and the way back.
    public func run(_ source: RestoreSource, request: RestoreRequest, actor: BackupContext.Actor = .system,
                    progress: ProgressHandler? = nil) throws -> (RestoreRecord, FileRestoreOutcome?) {
        guard case .success(let kind) = Result(catching: { try Self.kind(of: source) }) else {
            // Not even a manifest to read: the database restore verifies it, refuses it and records why.
            return (try DatabaseRestoreJob(context: context).run(source, preRestoreSnapshot: request.preRestoreSnapshot, actor: actor,
                                                                 progress: progress), nil)
        }
        if let problem = request.problem(for: kind) { throw BackupError(.invalidInput, problem) }
        if kind == .files || request.scope == .filesOnly {
            let (url, job): (URL, BackupRecord?) = switch source {
            case .backup(let job): (URL(fileURLWithPath: job.path ?? ""), job)
            case .archive(let url), .databaseFile(let url): (url, nil)
            }
            let (restore, outcome) = try FileRestoreJob(context: context)
                .run(archive: url, job: job, options: request.files, withConfig: request.withConfig, actor: actor, progress: progress)
            return (restore, outcome)
        }
        let wantsFiles = kind == .full && request.scope != .databaseOnly
        let extras = wantsFiles || request.withConfig
            ? RestoreExtras(files: wantsFiles ? request.files : nil, configFiles: request.withConfig, configuredConfigFiles: context.configFiles)
            : nil
        let restore = try DatabaseRestoreJob(context: context)
            .run(source, preRestoreSnapshot: request.preRestoreSnapshot, actor: actor, companion: extras, progress: progress)
        return (restore, extras?.outcome)
    }
}
