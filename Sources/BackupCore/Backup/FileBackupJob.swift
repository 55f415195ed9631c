import Foundation

/// The weekly file backup (`files`, R2) and the monthly combined archive (`full`, R3), end to end:
/// free-space check → walk the uploads folder (excludes from settings) → [full: `VACUUM INTO`
/// snapshot, gzip, config files] → every file read, CRC'd and hashed on all cores and written in walk
/// order → manifest → fsync → read back and check → publish by rename → record success.
///
/// The archive's SHA-256 is computed by reading the archive back while it is being written
/// (`TrailingHasher`), so the slowest sequential step overlaps the rest. Until the final rename nothing
/// appears under `archives/`, and a failed run never touches earlier backups: its partial archive is
/// filed under `failed/<job id>/`, and the caller raises the alert (the job itself only for a full disk).
public struct FileBackupJob: Sendable {
    public static let entryPrefix = "files/"
    public let context: BackupContext
    public let kind: BackupKind

    public init(context: BackupContext, kind: BackupKind = .files) {
        precondition(kind == .files || kind == .full, "not a file backup kind")
        self.context = context
        self.kind = kind
    }

    /// - Parameter integrityCheck: for `full`, `PRAGMA integrity_check` of the snapshot after publishing,
    ///   as the database backup does (restores of this backup may then trust the image by its SHA-256).
    public func run(trigger: JobTrigger, actor: BackupContext.Actor = .system, integrityCheck: Bool = true,
                    progress: ProgressHandler? = nil) throws -> BackupRecord {
        try context.exclusiveJob {
            try runLocked(trigger: trigger, actor: actor, integrityCheck: integrityCheck, progress: progress)
        }
    }

    /// For callers that already hold the job lock (`BackupRunner`).
    func runLocked(trigger: JobTrigger, actor: BackupContext.Actor, integrityCheck: Bool, progress: ProgressHandler?) throws -> BackupRecord {
        guard let uploads = context.uploads else {
            throw BackupError(.configuration, "No uploads folder is configured.", remedy: .configureUploadsFolder)
        }
        let database = kind == .full ? try context.requirePOSDatabase() : nil
        let excludes = try SettingsStore(catalog: context.catalog).load().files.excludes
        var skipped: [SkippedFile] = []
        return try BackupLifecycle(context: context, kind: kind, trigger: trigger, actor: actor).run(
            integrityCheck: integrityCheck && kind == .full, progress: progress,
            produce: { job, work in
                let produced = try produce(&job, uploads: uploads.standardizedFileURL, database: database, excludes: excludes,
                                           work: work, progress: progress)
                skipped = produced.skipped
                return produced.archive
            },
            published: { job in if !skipped.isEmpty { warnAboutSkipped(skipped, job: job) } })
    }

    private struct Produced {
        var archive: ProducedArchive
        var skipped: [SkippedFile]
    }

    private func produce(_ job: inout BackupRecord, uploads: URL, database: URL?, excludes: [String], work: URL,
                         progress: ProgressHandler?) throws -> Produced {
        progress?(ProgressEvent(phase: .scan, bytesDone: 0, bytesTotal: 0))
        var scan: FileScan? = try FileScan.run(root: uploads, prefix: Self.entryPrefix, excludes: excludes, kind: kind,
                                               catalog: context.catalog, now: context.now())
        try checkFreeSpace(files: scan!.walk, database: database)

        let archiveName = "\(kind.rawValue)-\(Timestamp.fileStamp(scan!.scannedAt))-\(job.id!).zip"
        let partial = work.appendingPathComponent(archiveName + ".partial")
        let writer = try ZipWriter(creating: partial)
        defer { writer.abandon() }
        let hasher = try TrailingHasher(reading: partial)
        defer { hasher.cancel() }

        // The manifest's entries go to a file in the work folder as they are archived: at 200,000 files
        // they are 42 MB of JSON, which are never held in memory, here or in the catalog.
        let spool = try ManifestSpool(creating: work.appendingPathComponent("manifest.entries"))
        var image: Manifest.DatabaseImage?
        if let database {
            let written = try writeDatabase(database, into: writer, work: work, job: &job, progress: progress)
            for entry in written.entries { try spool.add(entry) }
            image = written.image
            hasher.advance(to: writer.stableOffset)
        }

        let total = scan!.walk.totalBytes
        // The list is freed behind the archiver as it goes: by the end, when the ZIP writer's directory
        // is largest, the walk takes no memory.
        let files = scan!.walk.files
        scan!.walk.files = FileList()
        let archived = try FileArchiver(root: uploads, prefix: Self.entryPrefix, policy: scan!.policy)
            .archive(files, into: writer, releasing: true, afterBatch: { done in
                hasher.advance(to: writer.stableOffset)
                progress?(ProgressEvent(phase: .archive, bytesDone: done, bytesTotal: total))
            }, onFile: { file in
                var name = file.name
                try name.withUTF8 {
                    try spool.addFile(name: $0, size: file.size, sha256: file.sha256, mode: file.mode, modified: file.modified, crc32: file.crc32)
                }
            })
        let summary = scan!.summary(of: archived)
        let scannedAt = scan!.scannedAt
        scan = nil
        GlibcExtras.trimHeap()  // the readers' buffers and what they allocated

        var manifest = Manifest(backupId: job.uuid, kind: kind, createdAt: context.now(), host: context.host,
                                toolVersion: BackupContext.toolVersion)
        manifest.database = image
        manifest.files = summary
        let text = try spool.finish(manifest)
        // Restores refuse a manifest above this size (a hostile archive's memory bomb): never write one.
        guard text.size <= Manifest.maxSize else {
            throw BackupError(.invalidInput, "The uploads folder holds too many files for one archive (\(text.entryCount)); exclude some folders in the settings.",
                              detail: "manifest \(text.size) bytes > \(Manifest.maxSize)")
        }
        try writer.beginEntry(Manifest.entryName, modified: scannedAt)
        try text.forEachPiece { try writer.write($0) }
        let manifestEntry = try writer.endEntry()
        progress?(ProgressEvent(phase: .fsync, bytesDone: 0, bytesTotal: 0))
        try writer.finish()
        // The writer's directory records are free now (~270 bytes a file): back to the kernel before
        // the check reads the directory again.
        GlibcExtras.trimHeap()
        let archiveSize = try POSIXFile.fileSize(partial)

        progress?(ProgressEvent(phase: .check, bytesDone: 0, bytesTotal: archiveSize))
        let sha256 = try hasher.finish(size: archiveSize)
        try FileArchiveCheck().check(partial, manifestSize: text.size, manifestSHA256: manifestEntry.sha256, entryCount: text.entryCount, progress: progress)
        GlibcExtras.trimHeap()  // the check's copy of the directory
        Self.dropFromPageCache(partial)

        let manifestText = CatalogManifest.streamed(format: manifest.format, entryCount: text.entryCount, createdAt: manifest.createdAt,
                                                 size: text.size) { piece in try text.forEachPiece(piece) }
        return Produced(archive: ProducedArchive(partial: partial, name: archiveName, sha256: sha256, size: archiveSize, manifest: manifestText,
                                                 snapshot: database == nil ? nil : work.appendingPathComponent("snapshot.sqlite")),
                        skipped: summary.skipped)
    }

    /// The full archive's database part, as the database backup writes it: a `VACUUM INTO` snapshot
    /// gzip'd on both cores (`FullImageEncoder`, with its head start), then the config files.
    private func writeDatabase(_ database: URL, into writer: ZipWriter, work: URL, job: inout BackupRecord,
                               progress: ProgressHandler?) throws -> (entries: [Manifest.Entry], image: Manifest.DatabaseImage) {
        progress?(ProgressEvent(phase: .snapshot, bytesDone: 0, bytesTotal: 0))
        let snapshotURL = work.appendingPathComponent("snapshot.sqlite")
        let (snapshot, early) = try CompressingSnapshot(gzip: FullImageEncoder.gzip)
            .take(of: database, into: snapshotURL, spoolIn: work, progress: progress)
        let encoded = try FullImageEncoder(early: early).write(snapshotURL, snapshot, source: database, to: writer, progress: progress)
        job.imageSha256 = encoded.image.imageSha256
        job.snapshotStartedAt = snapshot.startedAt
        job.snapshotFinishedAt = snapshot.finishedAt
        let config = try ConfigFileCollector(files: context.configFiles, redactKeys: context.configRedactKeys).add(to: writer, modified: snapshot.startedAt)
        return (encoded.entries + config, encoded.image)
    }

    /// A new archive is read again only by a restore: its (clean, synced) pages are dropped from the page
    /// cache so that 2 GB of archive do not push out what the POS uses, its database and its images.
    static func dropFromPageCache(_ url: URL) {
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_DONTNEED))
        close(fd)
    }

    private func checkFreeSpace(files: FileTreeWalker.Result, database: URL?) throws {
        var needed = files.totalBytes + UInt64(files.files.count) * 256 + (64 << 20)
        if let database {
            let size = (try? POSIXFile.fileSize(database)) ?? 0
            let wal = (try? POSIXFile.fileSize(URL(fileURLWithPath: database.path + "-wal"))) ?? 0
            needed += (size + wal) * 2
        }
        let available = try context.availableBytes(context.dataDirectory.root)
        guard available >= needed else {
            throw BackupError(.insufficientSpace,
                              "Not enough free disk space for the \(kind.displayName): \(ByteCount.format(needed)) needed, \(ByteCount.format(available)) free.",
                              detail: "data dir \(context.dataDirectory.root.path)")
        }
    }

    private func warnAboutSkipped(_ skipped: [SkippedFile], job: BackupRecord) {
        let sample = skipped.prefix(5).map { "\($0.path): \($0.reason)" }.joined(separator: "; ")
        _ = try? context.catalog.raiseAlert(
            .warning, kind: "files-skipped",
            message: "Some product files were not in the \(kind.displayName) (they changed during the backup, could not be read, or are links); the manifest lists them.",
            detail: "backup \(job.id ?? 0): \(skipped.count) skipped: \(sample)", at: context.now())
    }
}
