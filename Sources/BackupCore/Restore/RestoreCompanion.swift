import Foundation

/// Something restored from the same archive as the database (the uploads, the config files).
/// `stage` runs after the archive has been verified and before the live database is touched, and
/// must write nothing outside its staging area; `apply` runs after the database has been replaced.
public protocol RestoreCompanion: AnyObject {
    func stage(from archive: VerifiedArchive, progress: ProgressHandler?) throws
    func apply(progress: ProgressHandler?) throws
    /// Removes whatever was staged and not applied (the restore failed before `apply`).
    func discard()
    /// What a store manager should know when the restore fails after `apply` began.
    var recoveryNotes: [String] { get }
}

/// What to restore besides (or instead of) the database, and how.
public struct FileRestoreOptions: Sendable {
    /// Where the files go; nil means the uploads folder recorded in the archive, for an archive the
    /// catalog knows (else the restore is refused with `noUploadsFolder`).
    public var uploads: URL?
    /// Remove files that are in the uploads folder but not in the backup (excluded and skipped paths
    /// are never removed). Default: keep them.
    public var deleteExtra: Bool
    public init(uploads: URL? = nil, deleteExtra: Bool = false) {
        self.uploads = uploads
        self.deleteExtra = deleteExtra
    }

    /// `uploads` is nil and the archive is not one the catalog knows: the folder its manifest names is
    /// not trusted. Callers that can name the folder (the CLI's `--uploads`) say how.
    public static let noUploadsFolder = BackupError(
        .configuration, "No uploads folder is configured; name the folder to restore the files into.",
        detail: "the archive is not in the catalog, so the uploads folder recorded in it is not used", remedy: .chooseUploadsFolder)
}

/// What a file restore did.
public struct FileRestoreOutcome: Codable, Sendable, Equatable {
    public var root: String
    public var restored: Int = 0
    public var bytes: UInt64 = 0
    public var removed: Int = 0
    public var configFiles: [String] = []
}

/// Restores the files and/or config files of a verified archive; used alone (`FileRestoreJob`) or as the
/// companion of a database restore (full backups, `--with-config`).
public final class RestoreExtras: RestoreCompanion {
    private let files: FileStage?
    private let config: ConfigStage?
    public private(set) var outcome: FileRestoreOutcome?

    /// - Parameters:
    ///   - files: restore the uploads (the archive must hold them), or nil.
    ///   - configFiles: restore the archive's config files to the paths they were backed up from.
    ///   - configuredConfigFiles: the config files this installation knows; a path outside this list is
    ///     only trusted when the archive's checksum matched the catalog (an archive we wrote).
    public init(files: FileRestoreOptions?, configFiles: Bool, configuredConfigFiles: [URL]) {
        self.files = files.map { FileStage(options: $0) }
        self.config = configFiles ? ConfigStage(configured: configuredConfigFiles) : nil
    }

    public func stage(from archive: VerifiedArchive, progress: ProgressHandler?) throws {
        do {
            try files?.stage(from: archive, progress: progress)
            try config?.stage(from: archive)
        } catch {
            discard()
            throw error
        }
    }

    public func apply(progress: ProgressHandler?) throws {
        defer { discard() }
        var outcome = FileRestoreOutcome(root: files?.root?.path ?? "")
        if let config { outcome.configFiles = try config.apply() }
        if let files { try files.apply(progress: progress, into: &outcome) }
        self.outcome = outcome
    }

    public var recoveryNotes: [String] { (files?.recoveryNotes ?? []) + (config?.recoveryNotes ?? []) }

    /// Removes whatever was staged and not applied.
    public func discard() {
        files?.discard()
        config?.discard()
    }
}
