import Foundation

/// Where a restore takes its database from.
public enum RestoreSource: Sendable {
    /// A backup recorded in the catalog (its SHA-256 there must match the archive).
    case backup(BackupRecord)
    /// An archive file, e.g. copied from another machine or downloaded from Drive.
    case archive(URL)
    /// A plain SQLite file, such as a pre-restore snapshot.
    case databaseFile(URL)
}

/// A restore failed: what happened, the record, and what the store manager can do now.
public struct RestoreFailure: Error, CustomStringConvertible {
    public var error: BackupError
    public var restore: RestoreRecord?
    public var recoverySteps: [RecoveryStep]
    public var description: String { error.description }
}

/// Restores the POS database (R7.1–R7.6).
///
/// Everything is checked before the live database is touched: the archive's SHA-256, its
/// structure and entries, the image's SHA-256 against the manifest, and `PRAGMA integrity_check`.
/// Then a pre-restore copy is taken, and the verified image is applied with the online backup API
/// as one write transaction on the live file. We never rename a file over the database: the POS
/// holds it open and would keep writing to the old inode, and a stale -wal/-shm pair next to a new
/// file can corrupt it. Inside one transaction every other connection sees the old content or the
/// new, and a crash at any point leaves the old.
public struct DatabaseRestoreJob: Sendable {
    public let context: BackupContext
    public init(context: BackupContext) { self.context = context }

    /// - Parameter companion: restored from the same archive (files of a full backup, config files):
    ///   staged once the archive is verified, applied after the database.
    public func run(_ source: RestoreSource, preRestoreSnapshot: Bool = true, actor: BackupContext.Actor = .system,
                    companion: (any RestoreCompanion)? = nil, progress: ProgressHandler? = nil) throws -> RestoreRecord {
        try context.exclusiveJob {
            try runLocked(source, preRestoreSnapshot: preRestoreSnapshot, actor: actor, companion: companion, progress: progress)
        }
    }

    private func runLocked(_ source: RestoreSource, preRestoreSnapshot: Bool, actor: BackupContext.Actor,
                           companion: (any RestoreCompanion)?, progress: ProgressHandler?) throws -> RestoreRecord {
        let target = try context.requirePOSDatabase()
        var record = RestoreRecord(sourcePath: sourcePath(source), targetPath: target.path, status: .running, startedAt: context.now(),
                                userId: actor.userId, stationId: actor.stationId, pid: getpid())
        if case .backup(let job) = source {
            record.sourceJobId = job.id
            record.sourceBackupId = job.uuid
        }
        var liveTouched = false
        return try RestoreLifecycle(context: context, actor: actor, action: "restore").run(
            record, progress: progress, failureMessage: "The restore failed.",
            work: { restore, work in
                do {
                    try restoreDatabase(source, into: target, restore: &restore, work: work, preRestoreSnapshot: preRestoreSnapshot,
                                        companion: companion, liveTouched: &liveTouched, progress: progress)
                } catch {
                    companion?.discard()
                    throw error
                }
                return "restore \(restore.id!) into \(target.path)"
            },
            recoverySteps: { restore in
                recoverySteps(target: target, preRestore: restore.preRestorePath, liveTouched: liveTouched)
                    + (companion?.recoveryNotes ?? []).map(RecoveryStep.note) + [.seeRestoreRecord(id: restore.id)]
            })
    }

    /// Everything checked, the pre-restore copy taken, then the verified image applied in one transaction.
    private func restoreDatabase(_ source: RestoreSource, into target: URL, restore: inout RestoreRecord, work: URL, preRestoreSnapshot: Bool,
                                 companion: (any RestoreCompanion)?, liveTouched: inout Bool, progress: ProgressHandler?) throws {
        try POSIXFile.makePrivateDirectory(work)
        let image = work.appendingPathComponent("image.sqlite")
        var copy: PreRestoreCopy?
        if POSIXFile.exists(target), preRestoreSnapshot {
            try checkSpaceForPreRestoreCopy(of: target)
            copy = PreRestoreCopy(live: target, url: context.dataDirectory.preRestore.appendingPathComponent(
                "\(target.deletingPathExtension().lastPathComponent)-before-restore-\(restore.id!)-\(Timestamp.fileStamp(context.now())).sqlite"))
        }
        // The copy holds the sales made before it began; the POS's sales after that and before the
        // apply are in neither database. So it is taken while the image is extracted (disk against
        // CPU: ~3 s saved per GiB) only when nothing long comes between the two: no integrity check
        // to run on the image, no files to stage. Otherwise right before the apply, as always.
        let copyEarly = copy != nil && companion == nil && checkedAtBackup(source)
        if copyEarly { progress?(ProgressEvent(phase: .preRestoreSnapshot, bytesDone: 0, bytesTotal: 0)) }
        let (preparing, copying) = inParallel(
            { [context] in try DatabaseImagePreparer(context: context).prepare(source, into: image, progress: progress) },
            { if copyEarly { try copy?.take() } })
        let prepared: DatabaseImagePreparer.Prepared
        do {
            prepared = try preparing.get()
            try copying.get()
        } catch {
            copy?.discard()
            throw error
        }
        restore.restoredImageSha256 = prepared.sha256
        if !checkedAtBackup(source, imageSha256: prepared.sha256) {
            try checkIntegrity(of: image, progress: progress)
        }
        if let companion {
            guard let archive = prepared.archive else {
                throw BackupError(.invalidInput, "Files and config files can only be restored from a backup archive, not from a database file.")
            }
            try companion.stage(from: archive, progress: progress)
        }
        if let copy {
            if !copyEarly {
                progress?(ProgressEvent(phase: .preRestoreSnapshot, bytesDone: 0, bytesTotal: 0))
                try copy.take()
            }
            restore.preRestorePath = copy.url.path
            try context.catalog.update(restore)
        }

        progress?(ProgressEvent(phase: .apply, bytesDone: 0, bytesTotal: 0))
        try matchLiveFormat(image: image, target: target, journalModeOfBackup: prepared.journalMode)
        liveTouched = true
        try LiveDatabaseReplacer().replace(target, with: image)
        try companion?.apply(progress: progress)
    }

    private func sourcePath(_ source: RestoreSource) -> String {
        switch source {
        case .backup(let job): job.path ?? "backup \(job.id ?? 0)"
        case .archive(let url), .databaseFile(let url): url.path
        }
    }

    /// An image whose SHA-256 equals that of a snapshot which passed `integrity_check` when it was
    /// taken is bit-identical to it: checking again would prove nothing and cost 18 s per GiB.
    /// Whether a passing integrity check of this very image (by its SHA-256) was recorded at backup time.
    private func checkedAtBackup(_ source: RestoreSource, imageSha256: String? = nil) -> Bool {
        guard case .backup(let job) = source, job.integrityCheck == "ok", let recorded = job.imageSha256 else { return false }
        return imageSha256 == nil || recorded == imageSha256
    }

    private func checkIntegrity(of image: URL, progress: ProgressHandler?) throws {
        if let problems = try ParallelIntegrityCheck(path: image.path).problems(progress: progress) {
            throw BackupError(.corruptArchive, "The database in the backup fails SQLite's integrity check and will not be restored.",
                              detail: problems.prefix(5).joined(separator: "; "))
        }
    }

    /// `VACUUM INTO` writes rollback-journal images. The backup API copies the image's header
    /// (journal mode included) and needs equal page sizes when the live file is in WAL mode: give the
    /// image the live file's format, or on a fresh install the journal mode the database had when backed up.
    private func matchLiveFormat(image: URL, target: URL, journalModeOfBackup: String?) throws {
        let connection = try SQLiteConnection(path: image.path, mode: .readWrite, untrusted: true)
        var wantWAL = journalModeOfBackup == "wal"
        if POSIXFile.exists(target) {
            let live = try SQLiteConnection(path: target.path, mode: .readOnly)
            wantWAL = (try live.scalar("PRAGMA journal_mode") ?? "delete").lowercased() == "wal"
            let livePageSize = try live.integer("PRAGMA page_size")
            if try connection.integer("PRAGMA page_size") != livePageSize {
                try connection.execute("PRAGMA journal_mode=DELETE; PRAGMA page_size=\(livePageSize); VACUUM;")
            }
        }
        if wantWAL {
            try connection.execute("PRAGMA journal_mode=WAL")
        }
    }

    /// The copy is as large as the live database and its WAL; refuse before writing rather than fill the disk.
    private func checkSpaceForPreRestoreCopy(of target: URL) throws {
        let live = (try? POSIXFile.fileSize(target)) ?? 0
        let wal = (try? POSIXFile.fileSize(URL(fileURLWithPath: target.path + "-wal"))) ?? 0
        let needed = live + wal + (32 << 20)
        let available = try context.availableBytes(context.dataDirectory.preRestore)
        guard available >= needed else {
            throw BackupError(.insufficientSpace,
                              "Not enough free disk space for the pre-restore copy: \(ByteCount.format(needed)) needed, \(ByteCount.format(available)) free. Free some space, or restore without the pre-restore copy.",
                              remedy: .skipPreRestoreCopy)
        }
    }

    private func recoverySteps(target: URL, preRestore: String?, liveTouched: Bool) -> [RecoveryStep] {
        var steps: [RecoveryStep] = [liveTouched ? .liveDatabaseOldOrNew(path: target.path) : .liveDatabaseUnchanged(path: target.path)]
        if let preRestore {
            steps += [.preRestoreCopyKept(path: preRestore), .returnToPreRestoreCopy(copy: preRestore, live: target.path)]
        }
        return steps
    }
}
