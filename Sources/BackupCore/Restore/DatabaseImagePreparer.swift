import Foundation

/// Turns a restore source into a verified database image file, checking everything on the way:
/// every archive of the chain (checksum, structure, entries), the chain's links, and the image's
/// SHA-256 against its manifest. Shared by restore and verify; changes nothing but `image`.
struct DatabaseImagePreparer {
    let context: BackupContext

    struct Prepared {
        var sha256: String
        /// The journal mode of the database when it was backed up (nil for a plain database file).
        var journalMode: String?
        /// The backups read, oldest first (one for a full, the whole chain for an incremental).
        var chain: [String]
        /// The verified archive of the backup asked for (nil for a plain database file): what a restore
        /// of its config files or uploads reads from.
        var archive: VerifiedArchive? = nil
    }

    func prepare(_ source: RestoreSource, into image: URL, progress: ProgressHandler?) throws -> Prepared {
        switch source {
        case .backup(let job):
            guard job.status == .succeeded, job.path != nil else {
                throw BackupError(.invalidInput, "Backup \(job.id ?? 0) is \(job.status.rawValue) and cannot be restored.")
            }
            return try build(try verifiedChain(to: job, scratch: image.deletingLastPathComponent(), progress: progress), into: image, progress: progress)
        case .archive(let url):
            let archive = try ArchiveVerifier().verify(url, progress: progress)
            var links = [archive]
            if archive.manifest.kind == .dbIncremental {
                guard let parentId = archive.manifest.parentId, let parent = try context.catalog.job(uuid: parentId) else {
                    throw BackupError(.notFound, "This incremental backup needs its parent backup \(archive.manifest.parentId ?? "?"), which is not in the catalog.")
                }
                links = try verifiedChain(to: parent, scratch: image.deletingLastPathComponent(), progress: progress) + links
            }
            return try build(links, into: image, progress: progress)
        case .databaseFile(let url):
            progress?(ProgressEvent(phase: .copy, bytesDone: 0, bytesTotal: 0))
            try DatabaseSnapshotter().copy(of: url, into: image, untrusted: true)
            return Prepared(sha256: try Checksums.sha256(of: image), journalMode: nil, chain: [url.path])
        }
    }

    /// Every archive from the chain's full backup to `job`, each verified against the catalog; one gone
    /// from this disk is fetched from its off-site copy into `scratch`.
    private func verifiedChain(to job: BackupRecord, scratch: URL, progress: ProgressHandler?) throws -> [VerifiedArchive] {
        try IncrementalChain(context: context).links(to: job).map { link in
            do {
                let archive = try context.archiveStore.archive(of: link, scratch: scratch, progress: progress)
                return try ArchiveVerifier().verify(archive, expectedSHA256: link.sha256, progress: progress)
            } catch let error as BackupError where link.id != job.id {
                throw BackupError(error.code, "Backup \(job.id ?? 0) needs backup \(link.id ?? 0), which is damaged: \(error.message)",
                                  detail: error.detail)
            }
        }
    }

    private func build(_ links: [VerifiedArchive], into image: URL, progress: ProgressHandler?) throws -> Prepared {
        guard let last = links.last, let database = last.manifest.database else {
            throw BackupError(.invalidInput, "This archive holds no database (it is a \(links.last?.manifest.kind.rawValue ?? "?") backup).")
        }
        // The image is written whole before it is checked: make sure it fits, rather than fill the disk.
        // (A chain's rebuild also keeps a few bytes in memory per page of every link: bounded by the same.)
        let folder = image.deletingLastPathComponent()
        let available = try context.availableBytes(folder)
        let largest = links.compactMap { $0.manifest.database?.imageSize }.max() ?? database.imageSize
        let (needed, overflow) = largest.addingReportingOverflow(16 << 20)
        guard !overflow, available >= needed else {
            throw BackupError(.insufficientSpace,
                              "Not enough free disk space to unpack the database from the backup: \(ByteCount.format(largest)) needed, \(ByteCount.format(available)) free.",
                              detail: folder.path)
        }
        if links.count == 1 {
            try DatabaseExtractor().extract(last, to: image, progress: progress)
        } else {
            _ = try ChainReconstructor().rebuild(links, into: image, progress: progress)
        }
        return Prepared(sha256: database.imageSha256, journalMode: database.journalMode, chain: links.map(\.manifest.backupId), archive: last)
    }
}
