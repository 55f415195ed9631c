import Foundation

/// A database backup, full or incremental, end to end (R1.1–R1.7):
/// free-space check → snapshot → image encoded into the ZIP (whole, or only the changed pages) →
/// config files → manifest → fsync → read the archive back and verify it → publish by rename →
/// record success → `integrity_check` of the snapshot.
///
/// Until the final rename nothing is visible under `archives/`; until the catalog says `succeeded`
/// the job is not counted as a backup. A crash anywhere leaves a `running` row that start-up
/// recovery turns into `failed`, with its leftovers filed under `failed/`.
public struct DatabaseBackupJob: Sendable {
    public let context: BackupContext
    /// `.dbFull`, or `.dbIncremental`: only the pages changed since the previous hourly backup.
    /// An incremental without a sound parent starts a new chain as a base holding every page.
    public let kind: BackupKind

    public init(context: BackupContext, kind: BackupKind = .dbFull) {
        precondition(kind == .dbFull || kind == .dbIncremental, "not a database backup kind")
        self.context = context
        self.kind = kind
    }

    /// - Parameter integrityCheck: run `PRAGMA integrity_check` on the snapshot once the archive is
    ///   published. It costs more than the backup itself (18 s per GiB here) but lets a restore of this
    ///   backup trust the image by its SHA-256 alone, and it is how a damaged POS database is noticed.
    ///   The job alone: no retention and no alert but for a full disk (those are `BackupRunner`'s).
    public func run(trigger: JobTrigger, actor: BackupContext.Actor = .system, integrityCheck: Bool = true,
                    progress: ProgressHandler? = nil) throws -> BackupRecord {
        try context.exclusiveJob {
            try runLocked(trigger: trigger, actor: actor, integrityCheck: integrityCheck, progress: progress)
        }
    }

    /// For callers that already hold the job lock (`BackupRunner`).
    func runLocked(trigger: JobTrigger, actor: BackupContext.Actor, integrityCheck: Bool, progress: ProgressHandler?) throws -> BackupRecord {
        let source = try context.requirePOSDatabase()
        return try BackupLifecycle(context: context, kind: kind, trigger: trigger, actor: actor).run(
            integrityCheck: integrityCheck, progress: progress,
            produce: { job, work in
                try checkFreeSpace(for: source)
                return try produce(&job, source: source, work: work, keepSnapshot: integrityCheck, progress: progress)
            },
            published: { job in
                if kind == .dbIncremental { keepHourlyImage(context.dataDirectory.work(job.uuid).appendingPathComponent("snapshot.sqlite"), of: job) }
            })
    }

    /// Keeps this hourly's snapshot for the next hourly to XOR its changed pages against, in place of
    /// the previous one. Best effort: without it the next hourly stores those pages whole.
    private func keepHourlyImage(_ snapshot: URL, of job: BackupRecord) {
        let folder = context.dataDirectory.pageIndexes
        let kept = context.dataDirectory.hourlyImage(job.uuid)
        guard (try? POSIXFile.rename(snapshot, to: kept)) != nil else { return }
        let stale = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        for name in stale where name.hasSuffix(".img") && name != kept.lastPathComponent {
            try? FileManager.default.removeItem(at: folder.appendingPathComponent(name))
        }
    }

    private func checkFreeSpace(for source: URL) throws {
        // The snapshot is as large as the database; the archive at most about as large again.
        let databaseSize = (try? POSIXFile.fileSize(source)) ?? 0
        let walSize = (try? POSIXFile.fileSize(URL(fileURLWithPath: source.path + "-wal"))) ?? 0
        let needed = (databaseSize + walSize) * 2 + (64 << 20)
        let available = try context.availableBytes(context.dataDirectory.root)
        guard available >= needed else {
            throw BackupError(.insufficientSpace,
                              "Not enough free disk space for a backup: \(ByteCount.format(needed)) needed, \(ByteCount.format(available)) free.",
                              detail: "data dir \(context.dataDirectory.root.path)")
        }
    }

    /// - Parameter keepSnapshot: the snapshot is still needed after publication (the integrity check).
    private func produce(_ job: inout BackupRecord, source: URL, work: URL, keepSnapshot: Bool, progress: ProgressHandler?) throws -> ProducedArchive {
        let snapshotURL = work.appendingPathComponent("snapshot.sqlite")
        progress?(ProgressEvent(phase: .snapshot, bytesDone: 0, bytesTotal: 0))
        // The daily full is a VACUUM INTO image (R1.2): compact, standalone. Hourly incrementals use
        // page-identical online copies, whose pages change only where the POS wrote (docs/incremental.md).
        let snapshotter = DatabaseSnapshotter()
        let snapshot: SnapshotInfo
        // An incremental needs a sound parent; without one it starts a new chain as a base (all pages).
        var parent: (job: BackupRecord, delta: DeltaParent)?
        var early: EarlyMembers?
        if job.kind == .dbIncremental {
            // The snapshot holds one core; checking the chain's archives (SHA-256 of each) takes the other.
            let (taken, found) = inParallel({ try snapshotter.onlineSnapshot(of: source, into: snapshotURL) },
                                            { [context] in try IncrementalChain(context: context).parentForNextIncremental() })
            snapshot = try taken.get()
            parent = try found.get()
            job.parentId = parent?.job.id
        } else {
            // The compression starts on the other core while VACUUM INTO is still writing.
            (snapshot, early) = try CompressingSnapshot(gzip: FullImageEncoder.gzip)
                .take(of: source, into: snapshotURL, spoolIn: work, progress: progress)
        }
        if snapshot.journalMode != "wal" {
            try? context.catalog.raiseAlert(.warning, kind: "journal-mode",
                message: "The POS database is in \(snapshot.journalMode) journal mode: each backup blocks the POS's sales while it reads. Ask the POS vendor to enable WAL mode.",
                at: context.now())
        }

        let archiveName = "\(job.kind.rawValue)-\(Timestamp.fileStamp(snapshot.startedAt))-\(job.id!).zip"
        let partial = work.appendingPathComponent(archiveName + ".partial")
        let writer = try ZipWriter(creating: partial)
        defer { writer.abandon() }
        let parentUUID = parent?.job.uuid
        let parentImage = parent?.delta.image
        // An hourly's page index is written beside the image, into the job's folder, and put in place
        // once the archive checks out.
        let indexPartial = work.appendingPathComponent("pages.idx.partial")
        let encoded = if let delta = parent.take()?.delta {
            try DeltaImageEncoder(parent: delta).write(snapshotURL, snapshot, source: source, to: writer, indexTo: indexPartial, progress: progress)
        } else {
            try FullImageEncoder(indexTo: job.kind == .dbIncremental ? indexPartial : nil, early: early)
                .write(snapshotURL, snapshot, source: source, to: writer, progress: progress)
        }
        let configEntries = try ConfigFileCollector(files: context.configFiles, redactKeys: context.configRedactKeys).add(to: writer, modified: snapshot.startedAt)
        var manifest = Manifest(backupId: job.uuid, kind: job.kind, createdAt: context.now(), host: context.host,
                                toolVersion: BackupContext.toolVersion, parentId: parentUUID,
                                entries: encoded.entries + configEntries)
        manifest.database = encoded.image
        let manifestBytes = try manifest.encoded()
        try writer.addEntry(Manifest.entryName, data: manifestBytes, modified: snapshot.startedAt)
        try writer.finish()

        // Freeing a GiB of file takes the kernel ~0.2 s: done while the archive is read back. A full's
        // snapshot is of no more use (unless the integrity check follows); nor is the parent's kept
        // image, now that its XORs are written (if this job fails, the next stores those pages whole).
        var scratch: [URL] = []
        if job.kind == .dbFull, !keepSnapshot { scratch.append(snapshotURL) }
        if let parentImage { scratch.append(parentImage) }
        let removal = try BackgroundRemoval(scratch, via: context.dataDirectory.tmp)
        defer { removal.wait() }

        // Read back what is on disk before calling it a backup: structure, manifest, every entry.
        progress?(ProgressEvent(phase: .verify, bytesDone: 0, bytesTotal: 0))
        let verified = try ArchiveVerifier().verify(partial) { progress?($0) }
        let archiveSize = try POSIXFile.fileSize(partial)

        // The page index is for the next incremental: written before the job can count as succeeded.
        try encoded.pageIndex?.commit(to: context.dataDirectory.pageIndex(job.uuid))
        job.imageSha256 = encoded.image.imageSha256
        job.snapshotStartedAt = snapshot.startedAt
        job.snapshotFinishedAt = snapshot.finishedAt
        return ProducedArchive(partial: partial, name: archiveName, sha256: verified.sha256, size: UInt64(archiveSize),
                               manifest: .document(manifest, bytes: manifestBytes),
                               snapshot: keepSnapshot || job.kind == .dbIncremental ? snapshotURL : nil,
                               snapshotStays: job.kind == .dbIncremental)
    }
}
