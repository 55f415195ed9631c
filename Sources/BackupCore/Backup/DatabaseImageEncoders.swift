import CLibDeflate
import Crypto
import Foundation

/// What an encoder put into the archive for one database snapshot.
struct EncodedImage {
    var entries: [Manifest.Entry]
    var image: Manifest.DatabaseImage
    /// The pages' fingerprints, written and finished, for an image the next incremental will compare
    /// against (nil otherwise): the job commits it once the archive checks out.
    var pageIndex: PageIndexWriter?
}

/// The full encoding: the whole `VACUUM INTO` image as one multi-member gzip entry, which `gunzip`
/// alone turns back into the database. Indexes the image's pages in the same pass when asked: a
/// chain's base needs that, a daily full (a VACUUM INTO image, never a parent) does not.
struct FullImageEncoder {
    /// Where to write the page index (a partial file in the job's folder), if one is wanted.
    var indexTo: URL? = nil
    /// Members compressed while the snapshot was being written (`CompressingSnapshot`).
    var early: EarlyMembers? = nil

    /// libdeflate's level 5, not 6: on a 1 GiB demo image (one core, 4 MiB blocks) level 5 takes
    /// 10.9 s for 309.6 MiB, level 6 13.9 s for 306.8 MiB and `gzip -6` 43 s for 320.6 MiB. A full
    /// backup is mostly this compression, so 1% of size buys 21% of its time.
    static let compressionLevel: Int32 = 5
    static let gzip = ParallelGzip(level: compressionLevel)

    func write(_ snapshot: URL, _ info: SnapshotInfo, source: URL, to writer: ZipWriter, progress: ProgressHandler?) throws -> EncodedImage {
        let entry = "db/\(source.deletingPathExtension().lastPathComponent).sqlite.gz"
        try writer.beginEntry(entry, modified: info.startedAt)
        let fd = try POSIXFile.openForReading(snapshot)
        defer { close(fd) }
        let gzip = Self.gzip
        precondition(early.map { $0.watch.chunkSize == gzip.blockSize } ?? true, "early members are of another block size")
        let pages = try indexTo.map {
            try PageIndexWriter(pageSize: info.pageSize, count: PageIndexFormat.pageCount(imageSize: info.size, pageSize: info.pageSize), partial: $0)
        }
        let inspect: (@Sendable (UnsafeRawBufferPointer) -> Void)? = if let pages { { pages.appendPages(of: $0) } } else { nil }
        let compressed = try gzip.compress(
            fd: fd, size: info.size, sink: { try writer.write($0) }, inspect: inspect, precompressed: early,
            progress: { done in progress?(ProgressEvent(phase: .compress, bytesDone: done, bytesTotal: info.size)) })
        let written = try writer.endEntry()
        try pages?.finish()
        let image = Manifest.DatabaseImage(
            entry: entry, sourcePath: source.path, pageSize: info.pageSize, pageCount: info.pageCount,
            imageSize: compressed.plainSize, imageSha256: compressed.plainSHA256, journalMode: info.journalMode,
            snapshotStartedAt: Timestamp.floorMillisecond(info.startedAt), snapshotFinishedAt: Timestamp.ceilMillisecond(info.finishedAt),
            gzipBlockSize: gzip.blockSize, gzipMembers: compressed.memberSizes, delta: nil)
        return EncodedImage(entries: [Manifest.Entry(path: written.name, size: written.size, sha256: written.sha256, sourcePath: source.path)],
                            image: image, pageIndex: pages)
    }
}

/// The parent an incremental is encoded against: its backup id, image checksum and page index, and
/// its image on disk when it was kept (the last hourly's snapshot, `DataDirectory.hourlyImage`).
struct DeltaParent {
    var backupId: String
    var imageSha256: String
    var index: PageIndexFile
    var image: URL?
}

/// The incremental encoding: only the pages whose content is not in the parent image, plus a map
/// saying, for every page, "same bytes as parent page j" (j is usually the same page), "new", or
/// "XOR with the parent's page here" (a page the POS changed a little, when the parent's image is at hand).
struct DeltaImageEncoder {
    let parent: DeltaParent

    /// A page that differs from the parent's page at its place (`parentHash`: nil past the parent's end).
    struct ChangedPage {
        var page: Int
        var hash: PageHash
        var parentHash: PageHash?
    }

    /// A page the pages entry stores: whole, or XOR-ed with the parent's page of fingerprint `xorWith`.
    struct StoredPage {
        var page: Int
        var xorWith: PageHash?
    }

    /// - Parameter indexTo: where to write this image's page index (a partial file in the job's folder).
    func write(_ snapshot: URL, _ info: SnapshotInfo, source: URL, to writer: ZipWriter, indexTo: URL,
               progress: ProgressHandler?) throws -> EncodedImage {
        guard info.pageSize == parent.index.pageSize else {
            throw BackupError(.invalidInput, "The database's page size changed since the last backup; a full backup is needed.")
        }
        let fd = try POSIXFile.openForReading(snapshot)
        defer { close(fd) }
        progress?(ProgressEvent(phase: .compare, bytesDone: 0, bytesTotal: info.size))
        let pageSize = info.pageSize
        let pageCount = PageIndexFormat.pageCount(imageSize: info.size, pageSize: pageSize)
        let parentPages = ParentPages(image: parent.image, pageSize: pageSize)
        // Both indexes are streamed beside the image, the parent's read and the new one written: only
        // the changed pages are kept in memory.
        let parentHashes = parent.index.reader()
        let index = try PageIndexWriter(pageSize: pageSize, count: pageCount, partial: indexTo)
        var changes: [ChangedPage] = []
        let sha256 = try ImageScanner(pageSize: pageSize).scan(
            fd: fd, size: info.size, previous: parentPages.isOpen ? parentPages : nil,
            previousHashes: { try parentHashes.next($0) },
            batch: { first, hashes, previous in
                index.append(hashes)
                for (i, hash) in hashes.enumerated() where i >= previous.count || previous[i] != hash {
                    changes.append(ChangedPage(page: first + i, hash: hash, parentHash: i < previous.count ? previous[i] : nil))
                }
            },
            progress: { done in progress?(ProgressEvent(phase: .compare, bytesDone: done, bytesTotal: info.size)) })
        try parentHashes.finish()
        try index.finish()

        // Each page: unchanged at its place (the common case between online copies: map 0), the same
        // content elsewhere in the parent (moved by a VACUUM), changed a little, or new.
        let known = try parent.index.firstLocations(of: Set(changes.map(\.hash)))
        var map = [Int32](repeating: 0, count: pageCount)
        var stored: [StoredPage] = []
        var xorCount = 0
        let page = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: 16)
        defer { page.deallocate() }
        for change in changes {
            if let at = known[change.hash] {
                map[change.page] = Int32(truncatingIfNeeded: Int(at) - change.page)
            } else {
                let xorWith = try change.parentHash.flatMap { parentHash in
                    try parentPages.xorIsSmaller(page: change.page, expected: parentHash, fd: fd, scratch: page) ? parentHash : nil
                }
                map[change.page] = xorWith != nil ? Manifest.Delta.xorPage : Manifest.Delta.newPage
                stored.append(StoredPage(page: change.page, xorWith: xorWith))
                if xorWith != nil { xorCount += 1 }
            }
        }
        changes = []

        let name = source.deletingPathExtension().lastPathComponent
        let pagesEntry = "db/\(name).pages.gz"
        let mapEntry = "db/\(name).map.gz"
        let total = UInt64(stored.count * pageSize)
        try writer.beginEntry(pagesEntry, modified: info.startedAt)
        // 1 MiB members, not 4: deflate's window is 32 KiB, so the size is the same within 0.1%, and
        // the compressor's batches take a quarter of the memory (the limit is 100 MiB for the job).
        let gzip = ParallelGzip(blockSize: 1 << 20)
        let compressed = try gzip.compress(
            size: total,
            read: { buffer, position in
                try Self.readPages(stored, pageSize: pageSize, fd: fd, parent: parentPages, into: buffer, at: position)
            },
            sink: { try writer.write($0) },
            progress: { done in progress?(ProgressEvent(phase: .compress, bytesDone: done, bytesTotal: total)) })
        let pagesInfo = try writer.endEntry()
        // Little-endian on every platform we run on; compressed from the array itself, not a copy.
        let mapInfo = try writer.addEntry(mapEntry, data: try map.withUnsafeBytes { try Gzip.compress($0) }, modified: info.startedAt)

        let image = Manifest.DatabaseImage(
            entry: pagesEntry, sourcePath: source.path, pageSize: pageSize, pageCount: info.pageCount,
            imageSize: info.size, imageSha256: sha256, journalMode: info.journalMode,
            snapshotStartedAt: Timestamp.floorMillisecond(info.startedAt), snapshotFinishedAt: Timestamp.ceilMillisecond(info.finishedAt),
            gzipBlockSize: gzip.blockSize, gzipMembers: compressed.memberSizes,
            delta: Manifest.Delta(parentBackupId: parent.backupId, parentImageSha256: parent.imageSha256,
                                  parentPageCount: parent.index.count, mapEntry: mapEntry, newPages: stored.count,
                                  xorPages: xorCount))
        return EncodedImage(
            entries: [Manifest.Entry(path: pagesInfo.name, size: pagesInfo.size, sha256: pagesInfo.sha256, sourcePath: source.path),
                      Manifest.Entry(path: mapInfo.name, size: mapInfo.size, sha256: mapInfo.sha256)],
            image: image, pageIndex: index)
    }

    /// Fills `buffer` with the stored pages' bytes from `position` of their concatenation, reading
    /// runs of consecutive pages with one pread each, then XOR-ing the parent's bytes into XOR pages.
    static func readPages(_ pages: [StoredPage], pageSize: Int, fd: Int32, parent: ParentPages,
                          into buffer: UnsafeMutableRawBufferPointer, at position: UInt64) throws -> Int {
        var filled = 0
        var slot = Int(position) / pageSize
        while filled < buffer.count, slot < pages.count {
            var run = 1
            while slot + run < pages.count, pages[slot + run].page == pages[slot].page + run, filled + (run + 1) * pageSize <= buffer.count { run += 1 }
            let length = min(run * pageSize, buffer.count - filled)
            let got = try POSIXFile.pread(fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled..<filled + length]),
                                          at: UInt64(pages[slot].page * pageSize))
            guard got == length else { throw BackupError(.io, "The snapshot ended early.", detail: "page \(pages[slot].page)") }
            for i in 0..<length / pageSize {
                guard let expected = pages[slot + i].xorWith else { continue }
                let start = filled + i * pageSize
                try parent.xor(page: pages[slot + i].page, expected: expected,
                               into: UnsafeMutableRawBufferPointer(rebasing: buffer[start..<start + pageSize]))
            }
            filled += length
            slot += run
        }
        return filled
    }
}
