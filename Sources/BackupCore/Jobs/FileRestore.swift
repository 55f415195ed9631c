import Foundation
#if canImport(Glibc)
import Glibc
#endif

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
    /// Where the files go; nil means the uploads folder recorded in the archive.
    public var uploads: URL?
    /// Remove files that are in the uploads folder but not in the backup (excluded and skipped paths
    /// are never removed). Default: keep them.
    public var deleteExtra: Bool
    public init(uploads: URL? = nil, deleteExtra: Bool = false) {
        self.uploads = uploads
        self.deleteExtra = deleteExtra
    }
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

/// What a restore should bring back from a backup, whatever its kind.
public struct RestoreRequest: Sendable {
    public enum Scope: String, Sendable { case everything, filesOnly, databaseOnly }

    public var scope: Scope
    /// Also the config files of a database or full backup, to the paths they were backed up from.
    public var withConfig: Bool
    public var files: FileRestoreOptions
    public var preRestoreSnapshot: Bool

    public init(scope: Scope = .everything, withConfig: Bool = false, files: FileRestoreOptions = FileRestoreOptions(),
                preRestoreSnapshot: Bool = true) {
        self.scope = scope
        self.withConfig = withConfig
        self.files = files
        self.preRestoreSnapshot = preRestoreSnapshot
    }

    /// Why this request does not fit a backup of `kind` (nil: a plain database file), in words for the
    /// person who asked; nil when it fits.
    public func problem(for kind: BackupKind?) -> String? {
        let holdsFiles = kind == .files || kind == .full
        if scope == .filesOnly, !holdsFiles { return "This backup holds no product files; restoring only files needs a files or full backup." }
        if scope == .databaseOnly, kind == .files { return "This is a file backup; it holds no database." }
        if files.deleteExtra, !holdsFiles || scope == .databaseOnly {
            return "Removing extra files applies to restoring product files (a files or full backup)."
        }
        if withConfig, kind == nil || kind == .files { return "This backup holds no config files (they are in database and full backups)." }
        return nil
    }
}

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
                    progress: ProgressHandler? = nil) throws -> (RestoreJob, FileRestoreOutcome?) {
        guard case .success(let kind) = Result(catching: { try Self.kind(of: source) }) else {
            // Not even a manifest to read: the database restore verifies it, refuses it and records why.
            return (try DatabaseRestoreJob(context: context).run(source, preRestoreSnapshot: request.preRestoreSnapshot, actor: actor,
                                                                 progress: progress), nil)
        }
        if let problem = request.problem(for: kind) { throw BackupError(.invalidInput, problem) }
        if kind == .files || request.scope == .filesOnly {
            let (url, job): (URL, BackupJob?) = switch source {
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

/// Restores only the files of a `files` or `full` backup (R7.4): verify the archive (checksum against
/// the catalog and sidecar, structure, every entry), stage every file, then rename them into place.
/// The POS database is not touched. Recorded as a restore job whose target is the uploads folder.
public struct FileRestoreJob: Sendable {
    public let context: BackupContext
    public init(context: BackupContext) { self.context = context }

    /// - Parameter archive: the archive file (its checksum is compared with `job`'s when given).
    public func run(archive: URL, job: BackupJob?, options: FileRestoreOptions, withConfig: Bool = false,
                    actor: BackupContext.Actor = .system, progress: ProgressHandler? = nil) throws -> (RestoreJob, FileRestoreOutcome) {
        let lock = try JobLock.acquireOrThrow(context.dataDirectory)
        defer { withExtendedLifetime(lock) {} }
        try JobRecovery(context: context).recoverInterruptedJobs()
        if let job, job.status != .succeeded {
            throw BackupError(.invalidInput, "Backup \(job.id ?? 0) is \(job.status.rawValue) and cannot be restored.")
        }
        let target = options.uploads ?? context.uploads
        var restore = RestoreJob(sourceJobId: job?.id, sourceBackupId: job?.uuid, sourcePath: archive.path,
                                 targetPath: target?.path ?? "(the uploads folder recorded in the backup)", status: .running,
                                 startedAt: context.now(), userId: actor.userId, stationId: actor.stationId, pid: getpid())
        restore = try context.catalog.insert(restore)
        let extras = RestoreExtras(files: FileRestoreOptions(uploads: target, deleteExtra: options.deleteExtra),
                                   configFiles: withConfig, configuredConfigFiles: context.configFiles)
        do {
            let verified = try ArchiveVerifier().verify(archive, expectedSHA256: job?.sha256, progress: progress)
            try extras.stage(from: verified, progress: progress)
            try extras.apply(progress: progress)
            let outcome = extras.outcome ?? FileRestoreOutcome(root: target?.path ?? "")
            restore.targetPath = outcome.root
            restore.status = .succeeded
            restore.finishedAt = context.now()
            try context.catalog.update(restore)
            try? context.catalog.audit(AuditEntry(at: context.now(), userId: actor.userId, stationId: actor.stationId, client: actor.client,
                                                  action: "restore.files", target: restore.sourcePath, outcome: "succeeded",
                                                  detail: "restore \(restore.id!): \(outcome.restored) files into \(outcome.root), \(outcome.removed) removed"))
            progress?(ProgressEvent(phase: "done", bytesDone: 1, bytesTotal: 1))
            return (restore, outcome)
        } catch {
            extras.discard()
            let failure = BackupError.wrap(error, "The restore of the files failed.")
            restore.status = .failed
            restore.finishedAt = context.now()
            restore.error = failure.message
            restore.errorDetail = failure.detail
            try? context.catalog.update(restore)
            _ = try? context.catalog.raiseAlert(.critical, kind: "restore-failed", message: "A restore failed: \(failure.message)",
                                            detail: failure.detail, at: context.now())
            try? context.catalog.audit(AuditEntry(at: context.now(), userId: actor.userId, stationId: actor.stationId, client: actor.client,
                                                  action: "restore.files", target: restore.sourcePath, outcome: "failed", detail: failure.message))
            let notes = extras.recoveryNotes
            throw RestoreFailure(error: failure, restore: restore,
                                 recoverySteps: (notes.isEmpty ? ["Nothing in the uploads folder was changed."] : notes)
                                    + ["Details are in the restore job record: caps-backup list --restores"])
        }
    }
}

// MARK: - Files

/// Two phases, so that nothing in the uploads folder changes until every file has been extracted and
/// checked: `stage` extracts every file into a hidden folder inside the uploads folder (same file
/// system, so a rename moves it into place), each checked against its SHA-256, with its mode and mtime
/// set, then syncs the file system; `apply` renames each file over its target (each rename is atomic:
/// the POS sees the old file or the new one) and, with `deleteExtra`, removes files the backup does not hold.
///
/// Before anything is written: every entry name must be a safe relative path, every folder on the way
/// must be a real folder inside the uploads folder (a symbolic link leading outside is refused), a
/// folder may not stand where a file goes (or a file where a folder goes), and the files must fit.
final class FileStage {
    let options: FileRestoreOptions
    private(set) var root: URL?
    private var staging: URL?
    private var items: [Item] = []
    private var extra: [String] = []
    private var excludes = ExcludeMatcher([])
    private var renamed = 0

    struct Item {
        var relative: String
        var staged: String
        var size: UInt64
    }

    init(options: FileRestoreOptions) { self.options = options }

    var recoveryNotes: [String] {
        guard let root, !items.isEmpty else { return [] }
        if renamed == 0 { return ["The uploads folder \(root.path) was not changed."] }
        return ["\(renamed) of \(items.count) files were put back in \(root.path) before the failure; running the same restore again completes it."]
    }

    func stage(from archive: VerifiedArchive, progress: ProgressHandler?) throws {
        let manifest = archive.manifest
        guard let summary = manifest.files else {
            throw BackupError(.invalidInput, "This backup holds no product files (it is a \(manifest.kind.rawValue) backup).")
        }
        try ArchivePath.validate(summary.prefix.hasSuffix("/") ? summary.prefix + "x" : summary.prefix + "/x")
        let root = try prepareRoot(options.uploads ?? URL(fileURLWithPath: summary.root))
        self.root = root
        excludes = ExcludeMatcher(summary.excludes)

        // Plan and refuse, before writing anything.
        let entries = manifest.entries.filter { $0.path.hasPrefix(summary.prefix) }
        var planned: [(Manifest.Entry, ZipEntry, String)] = []
        planned.reserveCapacity(entries.count)
        var checkedFolders = Set<String>()
        var total: UInt64 = 0
        for item in entries {
            let relative = String(item.path.dropFirst(summary.prefix.count))
            _ = try ArchivePath.resolve(relative, under: root)
            guard let entry = archive.reader.entry(named: item.path), entry.size == item.size else {
                throw BackupError(.corruptArchive, "The archive's manifest disagrees with its contents: \(item.path).")
            }
            try checkPath(relative, root: root, checked: &checkedFolders)
            planned.append((item, entry, relative))
            total += item.size
        }
        let available = try POSIXFile.availableBytes(at: root)
        guard available >= total + (16 << 20) else {
            throw BackupError(.insufficientSpace, "Not enough free disk space to restore the files: \(ByteCount.format(total)) needed, \(ByteCount.format(available)) free.",
                              detail: root.path)
        }
        if options.deleteExtra { extra = try extraFiles(root: root, summary: summary, keep: Set(entries.map(\.path))) }

        // Extract into the staging folder.
        try removeStaleStaging(in: root)
        let staging = root.appendingPathComponent("\(FileTreeWalker.stagingPrefix)\(getpid())-\(UUID().uuidString.prefix(8).lowercased())")
        try POSIXFile.makePrivateDirectory(staging)
        self.staging = staging
        let owner = rootOwner(root)
        var done: UInt64 = 0
        for (number, (item, entry, relative)) in planned.enumerated() {
            let staged = String(number)
            try extract(entry, expected: item, to: staging.appendingPathComponent(staged), owner: owner, reader: archive.reader)
            items.append(Item(relative: relative, staged: staged, size: item.size))
            done += item.size
            if number % 256 == 0 { progress?(ProgressEvent(phase: "extract-files", bytesDone: done, bytesTotal: total)) }
        }
        try syncFileSystem(staging)
    }

    func apply(progress: ProgressHandler?, into outcome: inout FileRestoreOutcome) throws {
        guard let root, let staging else { return }
        let folderMode = mode_t((try? POSIXFile.mode(root)).map { $0 & 0o777 } ?? 0o755)
        let owner = rootOwner(root)
        // Folders are opened one component at a time without following links, so a folder swapped for
        // a link after the checks cannot redirect a rename outside the uploads folder.
        let beneath = try BeneathRoot(root)
        let stagingFD = open(staging.path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard stagingFD >= 0 else { throw POSIXFile.errnoError("open", staging) }
        defer { close(stagingFD) }
        var done: UInt64 = 0
        for (number, item) in items.enumerated() {
            let (folder, name) = BeneathRoot.split(item.relative)
            try beneath.makeFolders(folder, mode: folderMode, owner: owner)
            guard let folderFD = beneath.directory(folder) else {
                throw BackupError(.unsafeArchive, "\(folder) in the uploads folder is not a real folder (a link or a file); restoring stopped there.")
            }
            guard renameat(stagingFD, item.staged, folderFD, name) == 0 else {
                throw BackupError(.io, "Could not put \(item.relative) in place: \(String(cString: strerror(errno)))")
            }
            renamed += 1
            done += item.size
            if number % 256 == 0 { progress?(ProgressEvent(phase: "restore-files", bytesDone: done, bytesTotal: 0)) }
        }
        outcome.restored = items.count
        outcome.bytes = done
        for relative in extra {
            let (folder, name) = BeneathRoot.split(relative)
            guard let folderFD = beneath.directory(folder) else { continue }
            if unlinkat(folderFD, name, 0) == 0 || errno == ENOENT { outcome.removed += 1 }
        }
        removeEmptiedFolders(extra, root: root)
        try syncFileSystem(root)
    }

    func discard() {
        if let staging { try? FileManager.default.removeItem(at: staging) }
        staging = nil
    }

    // MARK: Checks

    /// The uploads folder itself: created when missing (a fresh install), resolved through links.
    private func prepareRoot(_ requested: URL) throws -> URL {
        if !POSIXFile.exists(requested) {
            try FileManager.default.createDirectory(at: requested, withIntermediateDirectories: true)
            chmod(requested.path, 0o755)
        }
        guard let real = realpath(requested.path, nil) else { throw POSIXFile.errnoError("realpath", requested) }
        defer { free(real) }
        let url = URL(fileURLWithPath: String(cString: real), isDirectory: true)
        var st = stat()
        guard stat(url.path, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
            throw BackupError(.invalidInput, "The uploads folder \(requested.path) is not a folder.")
        }
        return url
    }

    /// Every existing folder on the way must be a real folder (not a link), and the target may not be a folder.
    private func checkPath(_ relative: String, root: URL, checked: inout Set<String>) throws {
        let components = relative.split(separator: "/").map(String.init)
        var path = ""
        for (index, component) in components.enumerated() {
            path = path.isEmpty ? component : path + "/" + component
            let isLast = index == components.count - 1
            if !isLast, checked.contains(path) { continue }
            let url = root.appendingPathComponent(path)
            var st = stat()
            guard lstat(url.path, &st) == 0 else {
                if errno == ENOENT { if !isLast { checked.insert(path) }; return }  // nothing below exists either
                throw POSIXFile.errnoError("lstat", url)
            }
            let type = st.st_mode & S_IFMT
            if isLast {
                if type == S_IFDIR {
                    throw BackupError(.invalidInput, "A folder is in the way of the restored file \(relative); nothing was changed.")
                }
                return
            }
            if type == S_IFLNK {
                // Links are never followed: one could lead the restore outside the uploads folder.
                throw BackupError(.unsafeArchive, "The folder \(path) in the uploads folder is a symbolic link; nothing was restored. Restore into another folder with --uploads, or replace the link by a folder.")
            } else if type != S_IFDIR {
                throw BackupError(.invalidInput, "The file \(path) in the uploads folder is in the way of restored files; nothing was changed.")
            }
            checked.insert(path)
        }
    }

    /// The regular files now in the uploads folder that the backup does not hold: not in the archive,
    /// not skipped by the backup, not excluded by the patterns it was made with.
    private func extraFiles(root: URL, summary: FileSetSummary, keep: Set<String>) throws -> [String] {
        let present = try FileTreeWalker(root: root, excludes: excludes, namePrefix: summary.prefix).walk()
        let skipped = Set(summary.skipped.map(\.path))
        return present.files.map(\.path).filter { !keep.contains(summary.prefix + $0) && !skipped.contains(summary.prefix + $0) }
    }

    private func removeStaleStaging(in root: URL) throws {
        // We hold the job lock: any staging folder left here belongs to a restore that died.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? [] where name.hasPrefix(FileTreeWalker.stagingPrefix) {
            try? FileManager.default.removeItem(at: root.appendingPathComponent(name))
        }
    }

    // MARK: Writing

    private func extract(_ entry: ZipEntry, expected: Manifest.Entry, to url: URL, owner: (uid_t, gid_t)?, reader: ZipReader) throws {
        let fd = try POSIXFile.createPrivate(url)
        defer { close(fd) }
        // Checked again while extracting: the archive could have changed since it was verified.
        let sha = try reader.read(entry, chunkSize: Int(min(4 << 20, max(entry.size, 4096)))) { try POSIXFile.writeAll(fd, $0) }
        guard sha == expected.sha256.lowercased() else {
            throw BackupError(.checksumMismatch, "The archive changed while being restored: \(entry.name) does not match its checksum.")
        }
        if let owner { _ = fchown(fd, owner.0, owner.1) }  // best effort: a group we are not in is refused
        // Permission bits only: set-user-id, set-group-id and sticky bits are never restored.
        let mode = (expected.mode ?? entry.unixMode) & 0o777
        guard fchmod(fd, mode_t(mode)) == 0 else { throw POSIXFile.errnoError("fchmod", url) }
        if let modified = expected.modified {
            var times = [timespec(tv_sec: 0, tv_nsec: (1 << 30) - 2 /* UTIME_OMIT: keep the access time as it is */), modified.timespec]
            guard futimens(fd, &times) == 0 else { throw POSIXFile.errnoError("futimens", url) }
        }
    }

    private func removeEmptiedFolders(_ removed: [String], root: URL) {
        var folders = Set<String>()
        for relative in removed {
            var folder = BeneathRoot.split(relative).folder
            while !folder.isEmpty {
                folders.insert(folder)
                folder = BeneathRoot.split(folder).folder
            }
        }
        // Deepest first; rmdir fails (and we move on) on a folder that still holds anything.
        for folder in folders.sorted(by: { $0.count > $1.count }) {
            rmdir(root.appendingPathComponent(folder).path)
        }
    }

    /// Restored files and folders get the uploads folder's group (allowed when we are a member of it, as
    /// the service user is of the POS's group), and as root its owner too: the POS must read them.
    private func rootOwner(_ root: URL) -> (uid_t, gid_t)? {
        var st = stat()
        guard stat(root.path, &st) == 0 else { return nil }
        return (geteuid() == 0 ? st.st_uid : uid_t.max /* -1: unchanged */, st.st_gid)
    }

    /// One syncfs(2) instead of an fsync per file: tens of thousands of fsyncs would take minutes.
    private func syncFileSystem(_ url: URL) throws {
        let fd = open(url.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw POSIXFile.errnoError("open", url) }
        defer { close(fd) }
        guard GlibcExtras.syncfs(fd) == 0 else { throw POSIXFile.errnoError("syncfs", url) }
    }
}

// MARK: - Config files

/// Restores the archive's config files (`config/…`) to the paths they were backed up from, each via a
/// temporary file in the same folder and a rename, so a program reading it sees the old or the new file.
final class ConfigStage {
    let configured: [URL]
    private var staged: [(temp: URL, target: URL)] = []
    private var applied = 0

    init(configured: [URL]) { self.configured = configured }

    var recoveryNotes: [String] {
        guard !staged.isEmpty || applied > 0 else { return [] }
        return applied == 0 ? ["No config file was changed."] : ["\(applied) config files were restored before the failure."]
    }

    func stage(from archive: VerifiedArchive) throws {
        let trusted = archive.checksumSource.contains("catalog")
        let known = Set(configured.map(\.standardizedFileURL.path))
        let items = archive.manifest.entries.filter { $0.path.hasPrefix("config/") }
        guard !items.isEmpty else { throw BackupError(.invalidInput, "This backup holds no config files.") }
        var plan: [(Manifest.Entry, ZipEntry, URL)] = []
        for item in items {
            guard let source = item.sourcePath, source.hasPrefix("/"), let entry = archive.reader.entry(named: item.path) else {
                throw BackupError(.corruptArchive, "The archive does not say where the config file \(item.path) belongs.")
            }
            let target = URL(fileURLWithPath: source).standardizedFileURL
            guard target.path == source, !source.contains("/../") else {
                throw BackupError(.unsafeArchive, "The archive names an unsafe place for a config file: \(source)")
            }
            // An archive from elsewhere may only write to the config files this installation is set up with.
            guard trusted || known.contains(target.path) else {
                throw BackupError(.unsafeArchive, "The archive would restore \(source), which is not one of the configured config files; restore it by hand (unzip) if it is right.")
            }
            guard entry.size <= ConfigFileCollector.maxFileSize else {
                throw BackupError(.corruptArchive, "The config file \(item.path) in the archive is larger than a config file can be.")
            }
            plan.append((item, entry, target))
        }
        for (item, entry, target) in plan {
            let folder = target.deletingLastPathComponent()
            var st = stat()
            guard stat(folder.path, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
                throw BackupError(.notFound, "The folder of the config file \(target.path) does not exist.")
            }
            let temp = folder.appendingPathComponent(".\(target.lastPathComponent).caps-restore-\(getpid())")
            try? FileManager.default.removeItem(at: temp)
            let fd = try POSIXFile.createPrivate(temp)
            defer { close(fd) }
            staged.append((temp, target))
            let bytes = try archive.reader.readData(entry, limit: ConfigFileCollector.maxFileSize)
            guard bytes.withUnsafeBytes({ Hex.sha256($0) }) == item.sha256.lowercased() else {
                throw BackupError(.checksumMismatch, "The archive changed while being restored: \(item.path) does not match its checksum.")
            }
            try bytes.withUnsafeBytes { try POSIXFile.writeAll(fd, $0) }
            // Keep the live file's owner and mode when it exists, else the mode recorded in the archive.
            if stat(target.path, &st) == 0 {
                if geteuid() == 0 { fchown(fd, st.st_uid, st.st_gid) }
                fchmod(fd, st.st_mode & 0o777)
            } else {
                fchmod(fd, mode_t(entry.unixMode & 0o777))
            }
            try POSIXFile.fsyncFile(fd)
        }
    }

    func apply() throws -> [String] {
        var done: [String] = []
        for (temp, target) in staged {
            try POSIXFile.rename(temp, to: target)
            try POSIXFile.fsyncDirectory(target.deletingLastPathComponent())
            applied += 1
            done.append(target.path)
        }
        staged = []
        return done
    }

    func discard() {
        for (temp, _) in staged { try? FileManager.default.removeItem(at: temp) }
        staged = []
    }
}
