import Foundation

/// Rebuilds the database image of the last link of a verified chain (a full backup, then
/// incrementals) into one file, and checks it against the SHA-256 in its manifest.
///
/// First every page of the target image is traced back through the chain's page maps to where its
/// bytes are stored: a page of the full image, or a new page of some incremental. Then each stored
/// image is decompressed once, in order, on all cores, and its pages are written straight to their
/// places in the target. No intermediate image is ever written, so restoring the 24th link costs
/// about one full restore plus reading the incrementals' new pages.
struct ChainReconstructor {
    /// Where the bytes of one target page live: chain link and page number within that link's stored pages.
    private struct Source {
        var link: Int
        var index: Int
    }

    func rebuild(_ links: [VerifiedArchive], into target: URL, progress: ProgressHandler?) throws -> Manifest.DatabaseImage {
        guard let base = links.first?.manifest.database, base.delta == nil,
              let last = links.last?.manifest.database else {
            throw BackupError(.corruptArchive, "A chain of backups must start with a full database backup.")
        }
        let pageSize = base.pageSize
        var sources = (0..<base.pageCount).map { Source(link: 0, index: $0) }
        var stored = [base.pageCount]
        var previous = base
        for (i, link) in links.enumerated().dropFirst() {
            guard let image = link.manifest.database, let delta = image.delta else {
                throw BackupError(.corruptArchive, "Backup \(link.manifest.backupId) in the chain is not an incremental.")
            }
            guard delta.parentImageSha256 == previous.imageSha256, delta.parentPageCount == sources.count,
                  delta.parentBackupId == links[i - 1].manifest.backupId, image.pageSize == pageSize else {
                throw BackupError(.corruptArchive, "Backup \(link.manifest.backupId) does not follow \(links[i - 1].manifest.backupId) in the chain.")
            }
            sources = try followMap(of: link, delta: delta, pageCount: image.pageCount, parent: sources, linkNumber: i)
            stored.append(delta.newPages)
            previous = image
        }

        // Who needs which stored page: per link, (stored page, target page), in stored order.
        var wanted = Array(repeating: [(index: Int, page: Int)](), count: links.count)
        for (page, source) in sources.enumerated() { wanted[source.link].append((source.index, page)) }

        let fd = try POSIXFile.createPrivate(target)
        defer { close(fd) }
        guard ftruncate(fd, off_t(sources.count * pageSize)) == 0 else {
            throw BackupError(.io, "Could not create the restored database file.", detail: target.path)
        }
        let totalBytes = links.reduce(UInt64(0)) { sum, link in
            sum + (link.manifest.database.flatMap { link.reader.entry(named: $0.entry)?.size } ?? 0)
        }
        var doneBytes: UInt64 = 0
        for (number, link) in links.enumerated() where !wanted[number].isEmpty {
            let pairs = wanted[number].sorted { $0.index < $1.index }
            let image = link.manifest.database!
            guard let entry = link.reader.entry(named: image.entry),
                  image.gzipMembers.reduce(0, { $0 + UInt64($1) }) == entry.size else {
                throw BackupError(.corruptArchive, "The archive of backup \(link.manifest.backupId) does not match its manifest.")
            }
            var nextPair = 0
            var storedPage = 0
            let result = try ParallelGzip().decompress(
                fd: link.reader.fileDescriptor, offset: entry.dataOffset, memberSizes: image.gzipMembers,
                maxMemberPlainSize: image.gzipBlockSize,
                sink: { chunk in
                    guard chunk.count % pageSize == 0 else {
                        throw BackupError(.corruptArchive, "The archive of backup \(link.manifest.backupId) holds a partial page.")
                    }
                    for offset in stride(from: 0, to: chunk.count, by: pageSize) {
                        while nextPair < pairs.count, pairs[nextPair].index == storedPage {
                            let page = UnsafeRawBufferPointer(rebasing: chunk[offset..<offset + pageSize])
                            try POSIXFile.pwriteAll(fd, page, at: UInt64(pairs[nextPair].page * pageSize))
                            nextPair += 1
                        }
                        storedPage += 1
                    }
                },
                progress: { done in progress?(ProgressEvent(phase: "rebuild", bytesDone: doneBytes + done, bytesTotal: totalBytes)) })
            guard storedPage == stored[number], result.plainSize == UInt64(stored[number] * pageSize) else {
                throw BackupError(.corruptArchive, "The archive of backup \(link.manifest.backupId) holds the wrong number of pages.")
            }
            doneBytes += entry.size
        }
        try POSIXFile.fsyncFile(fd)
        progress?(ProgressEvent(phase: "checksum", bytesDone: 0, bytesTotal: 0))
        let sha = try Checksums.sha256(of: target)
        guard sha == last.imageSha256, try POSIXFile.fileSize(target) == last.imageSize else {
            throw BackupError(.checksumMismatch, "The database rebuilt from the chain does not match its recorded checksum; it will not be used.",
                              detail: "expected \(last.imageSha256), got \(sha)")
        }
        return last
    }

    /// Applies one incremental's page map to the parent's sources.
    private func followMap(of link: VerifiedArchive, delta: Manifest.Delta, pageCount: Int, parent: [Source], linkNumber: Int) throws -> [Source] {
        guard let entry = link.reader.entry(named: delta.mapEntry) else {
            throw BackupError(.corruptArchive, "The archive of backup \(link.manifest.backupId) lacks its page map.")
        }
        let bytes = try Gzip.decompress(try link.reader.readData(entry, limit: 64 << 20), expectedSize: pageCount * 4)
        var sources = [Source]()
        sources.reserveCapacity(pageCount)
        var newIndex = 0
        try bytes.withUnsafeBytes { raw in
            for page in 0..<pageCount {
                let value = Int32(littleEndian: raw.loadUnaligned(fromByteOffset: page * 4, as: Int32.self))
                if value == Manifest.Delta.newPage {
                    sources.append(Source(link: linkNumber, index: newIndex))
                    newIndex += 1
                } else {
                    let from = page + Int(value)
                    guard from >= 0, from < parent.count else {
                        throw BackupError(.corruptArchive, "The page map of backup \(link.manifest.backupId) points outside its parent.")
                    }
                    sources.append(parent[from])
                }
            }
        }
        guard newIndex == delta.newPages else {
            throw BackupError(.corruptArchive, "The page map of backup \(link.manifest.backupId) disagrees with its page count.")
        }
        return sources
    }
}
