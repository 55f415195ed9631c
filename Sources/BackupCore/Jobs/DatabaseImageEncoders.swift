import CLibDeflate
import Crypto
import Foundation

/// What an encoder put into the archive for one database snapshot.
struct EncodedImage {
    var entries: [Manifest.Entry]
    var image: Manifest.DatabaseImage
    var pageIndex: PageIndex
}

/// The full encoding: the whole `VACUUM INTO` image as one multi-member gzip entry, which `gunzip`
/// alone turns back into the database. Indexes the image's pages in the same pass.
struct FullImageEncoder {
    func write(_ snapshot: URL, _ info: SnapshotInfo, source: URL, to writer: ZipWriter, progress: ProgressHandler?) throws -> EncodedImage {
        let entry = "db/\(source.deletingPathExtension().lastPathComponent).sqlite.gz"
        try writer.beginEntry(entry, modified: info.startedAt)
        let fd = try POSIXFile.openForReading(snapshot)
        defer { close(fd) }
        let gzip = ParallelGzip()
        let pages = PageIndexBuilder(pageSize: info.pageSize)
        let compressed = try gzip.compress(
            fd: fd, size: info.size, sink: { try writer.write($0) }, inspect: { pages.add($0) },
            progress: { done in progress?(ProgressEvent(phase: "compress", bytesDone: done, bytesTotal: info.size)) })
        let written = try writer.endEntry()
        let image = Manifest.DatabaseImage(
            entry: entry, sourcePath: source.path, pageSize: info.pageSize, pageCount: info.pageCount,
            imageSize: compressed.plainSize, imageSha256: compressed.plainSHA256, journalMode: info.journalMode,
            snapshotStartedAt: Timestamp.floorMillisecond(info.startedAt), snapshotFinishedAt: Timestamp.ceilMillisecond(info.finishedAt),
            gzipBlockSize: gzip.blockSize, gzipMembers: compressed.memberSizes, delta: nil)
        return EncodedImage(entries: [Manifest.Entry(path: written.name, size: written.size, sha256: written.sha256, sourcePath: source.path)],
                            image: image, pageIndex: pages.index)
    }
}

/// The parent an incremental is encoded against: its backup id, image checksum and page index.
struct DeltaParent {
    var backupId: String
    var imageSha256: String
    var index: PageIndex
}

/// The incremental encoding: only the pages whose content is not in the parent image, plus a map
/// saying, for every page, "new" or "same bytes as parent page j" (j is usually the same page).
struct DeltaImageEncoder {
    let parent: DeltaParent

    func write(_ snapshot: URL, _ info: SnapshotInfo, source: URL, to writer: ZipWriter, progress: ProgressHandler?) throws -> EncodedImage {
        guard info.pageSize == parent.index.pageSize else {
            throw BackupError(.invalidInput, "The database's page size changed since the last backup; a full backup is needed.")
        }
        let fd = try POSIXFile.openForReading(snapshot)
        defer { close(fd) }
        progress?(ProgressEvent(phase: "compare", bytesDone: 0, bytesTotal: info.size))
        let scan = try ImageScanner(pageSize: info.pageSize).scan(fd: fd, size: info.size) { done in
            progress?(ProgressEvent(phase: "compare", bytesDone: done, bytesTotal: info.size))
        }

        // Each page: unchanged at its place (the common case between online copies), the same
        // content elsewhere in the parent (moved by a VACUUM), or new.
        let known = parent.index.locations()
        let parentHashes = parent.index.hashes
        var map = [Int32](repeating: 0, count: scan.index.hashes.count)
        var newPages: [Int] = []
        for (page, hash) in scan.index.hashes.enumerated() {
            if page < parentHashes.count, parentHashes[page] == hash {
                map[page] = 0
            } else if let at = known[hash] {
                map[page] = Int32(truncatingIfNeeded: Int(at) - page)
            } else {
                map[page] = Manifest.Delta.newPage
                newPages.append(page)
            }
        }

        let name = source.deletingPathExtension().lastPathComponent
        let pagesEntry = "db/\(name).pages.gz"
        let mapEntry = "db/\(name).map.gz"
        let pageSize = info.pageSize
        let total = UInt64(newPages.count * pageSize)
        try writer.beginEntry(pagesEntry, modified: info.startedAt)
        let gzip = ParallelGzip()
        let compressed = try gzip.compress(
            size: total,
            read: { buffer, position in try Self.readPages(newPages, pageSize: pageSize, fd: fd, into: buffer, at: position) },
            sink: { try writer.write($0) },
            progress: { done in progress?(ProgressEvent(phase: "compress", bytesDone: done, bytesTotal: total)) })
        let pagesInfo = try writer.endEntry()
        let mapBytes = map.withUnsafeBytes { Array($0) }  // little-endian on every platform we run on
        let mapInfo = try writer.addEntry(mapEntry, data: try Gzip.compress(mapBytes), modified: info.startedAt)

        let image = Manifest.DatabaseImage(
            entry: pagesEntry, sourcePath: source.path, pageSize: pageSize, pageCount: info.pageCount,
            imageSize: info.size, imageSha256: scan.sha256, journalMode: info.journalMode,
            snapshotStartedAt: Timestamp.floorMillisecond(info.startedAt), snapshotFinishedAt: Timestamp.ceilMillisecond(info.finishedAt),
            gzipBlockSize: gzip.blockSize, gzipMembers: compressed.memberSizes,
            delta: Manifest.Delta(parentBackupId: parent.backupId, parentImageSha256: parent.imageSha256,
                                  parentPageCount: parent.index.hashes.count, mapEntry: mapEntry, newPages: newPages.count))
        return EncodedImage(
            entries: [Manifest.Entry(path: pagesInfo.name, size: pagesInfo.size, sha256: pagesInfo.sha256, sourcePath: source.path),
                      Manifest.Entry(path: mapInfo.name, size: mapInfo.size, sha256: mapInfo.sha256)],
            image: image, pageIndex: scan.index)
    }

    /// Fills `buffer` with the new pages' bytes from `position` of their concatenation,
    /// reading runs of consecutive pages with one pread each.
    static func readPages(_ pages: [Int], pageSize: Int, fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at position: UInt64) throws -> Int {
        var filled = 0
        var slot = Int(position) / pageSize
        while filled < buffer.count, slot < pages.count {
            var run = 1
            while slot + run < pages.count, pages[slot + run] == pages[slot] + run, filled + (run + 1) * pageSize <= buffer.count { run += 1 }
            let length = min(run * pageSize, buffer.count - filled)
            let got = try POSIXFile.pread(fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled..<filled + length]),
                                          at: UInt64(pages[slot] * pageSize))
            guard got == length else { throw BackupError(.io, "The snapshot ended early.", detail: "page \(pages[slot])") }
            filled += length
            slot += run
        }
        return filled
    }
}

/// Reads an image once, on all cores: the SHA-256 of the whole file and the fingerprint of each page.
struct ImageScanner {
    let pageSize: Int
    let blockSize = 4 << 20
    let workers = ProcessInfo.processInfo.activeProcessorCount

    func scan(fd: Int32, size: UInt64, progress: ((UInt64) -> Void)? = nil) throws -> (sha256: String, index: PageIndex) {
        let perBatch = workers * 2
        let buffers = (0..<perBatch).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: blockSize, alignment: 64) }
        defer { buffers.forEach { $0.deallocate() } }
        let slots = ScanSlots(count: perBatch)
        let whole = StreamingSHA256()
        var hashes: [PageHash] = []
        hashes.reserveCapacity(Int(size) / pageSize)
        var position: UInt64 = 0
        while position < size {
            var lengths: [Int] = []
            while lengths.count < perBatch, position < size {
                let want = Int(min(UInt64(blockSize), size - position))
                let got = try POSIXFile.pread(fd, into: UnsafeMutableRawBufferPointer(rebasing: buffers[lengths.count][0..<want]), at: position)
                guard got == want else { throw BackupError(.io, "The snapshot ended early.", detail: "at \(position)") }
                lengths.append(got)
                position += UInt64(got)
            }
            let views = UnsafeSendable(zip(buffers, lengths).map { UnsafeRawBufferPointer(rebasing: $0[0..<$1]) })
            let pageSize = pageSize
            let count = lengths.count
            // One iteration hashes the whole batch in order; the others fingerprint one block's pages each.
            DispatchQueue.concurrentPerform(iterations: count + 1) { i in
                if i == count {
                    for view in views.value { whole.update(view) }
                } else {
                    let builder = PageIndexBuilder(pageSize: pageSize)
                    builder.add(views.value[i])
                    slots.store(builder.index.hashes, at: i)
                }
            }
            for i in 0..<count { hashes += slots.take(i) }
            progress?(position)
        }
        return (whole.finish(), PageIndex(pageSize: pageSize, hashes: hashes))
    }
}

private final class ScanSlots: @unchecked Sendable {
    private var slots: [[PageHash]]
    private let lock = NSLock()
    init(count: Int) { slots = Array(repeating: [], count: count) }
    func store(_ hashes: [PageHash], at i: Int) { lock.withLock { slots[i] = hashes } }
    func take(_ i: Int) -> [PageHash] { lock.withLock { defer { slots[i] = [] }; return slots[i] } }
}

/// A value handed to concurrent iterations that each touch a disjoint part of it.
struct UnsafeSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// Single-member gzip of a small in-memory buffer (maps, manifests).
enum Gzip {
    static func compress(_ bytes: [UInt8], level: Int32 = 6) throws -> [UInt8] {
        guard let c = libdeflate_alloc_compressor(level) else { throw BackupError(.io, "Out of memory.") }
        defer { libdeflate_free_compressor(c) }
        var out = [UInt8](repeating: 0, count: libdeflate_gzip_compress_bound(c, bytes.count))
        let n = bytes.withUnsafeBytes { i in out.withUnsafeMutableBytes { o in
            libdeflate_gzip_compress(c, i.baseAddress, i.count, o.baseAddress, o.count) } }
        guard n > 0 else { throw BackupError(.io, "Compression failed.") }
        return Array(out[0..<n])
    }

    /// Decompresses, refusing anything that would exceed `expectedSize` bytes or is damaged.
    static func decompress(_ bytes: [UInt8], expectedSize: Int) throws -> [UInt8] {
        guard let d = libdeflate_alloc_decompressor() else { throw BackupError(.io, "Out of memory.") }
        defer { libdeflate_free_decompressor(d) }
        var out = [UInt8](repeating: 0, count: expectedSize)
        var actual = 0
        let rc = bytes.withUnsafeBytes { i in out.withUnsafeMutableBytes { o in
            libdeflate_gzip_decompress(d, i.baseAddress, i.count, o.baseAddress, o.count, &actual) } }
        guard rc == LIBDEFLATE_SUCCESS, actual == expectedSize else {
            throw BackupError(.corruptArchive, "The archive is damaged: a compressed entry does not check out.")
        }
        return out
    }
}
