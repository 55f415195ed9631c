import Crypto
import Foundation

/// A 128-bit fingerprint of one database page (the first half of its SHA-256). Collisions are out
/// of reach (2^-64 for a billion pages), and every reconstructed image is checked against its full
/// SHA-256 anyway.
public struct PageHash: Hashable, Sendable {
    public var high: UInt64
    public var low: UInt64

    public init(_ page: UnsafeRawBufferPointer) {
        let digest = SHA256.hash(data: page)
        var h: UInt64 = 0, l: UInt64 = 0
        digest.withUnsafeBytes { bytes in
            h = bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
            l = bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
        }
        high = h
        low = l
    }

    init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }
}

/// The layout of a page index file (`pages/<backup id>.idx`): what the next incremental compares its
/// snapshot against. It is a cache, derivable from the archives: losing it only means the next hourly
/// starts a new chain. Magic, page size (u32), count (u32), 16 bytes per page in page order, then the
/// SHA-256 of all before it.
///
/// Neither side holds the whole index in memory (16 bytes a page: 16 MiB at 4 GiB, twice during an
/// hourly's compare): it is written as the pages are fingerprinted and read a run of pages at a time,
/// so an hourly's memory does not grow with the database (issue 15).
enum PageIndexFormat {
    static let magic = Array("CAPSPGI1".utf8)
    static let headerSize = 16
    static let entrySize = 16
    static let digestSize = 32
    /// Pages per read or write: 1 MiB of file.
    static let piece = 1 << 16

    static func pageCount(imageSize: UInt64, pageSize: Int) -> Int {
        Int((imageSize + UInt64(pageSize) - 1) / UInt64(pageSize))
    }
}

/// Writes a page index in page order as the pages are fingerprinted, 1 MiB at a time, into a partial
/// file that `commit` renames into place. Dropped uncommitted (a failed job), it removes the partial file.
/// `append` may be called from any thread, one call at a time (a compressor's in-order step).
final class PageIndexWriter: @unchecked Sendable {
    let pageSize: Int
    let count: Int
    private let partial: URL
    private var fd: Int32
    private var digest = SHA256()
    private var pending: [UInt8] = []
    private var appended = 0
    private var failure: Error?
    private var finished = false
    private var committed = false

    init(pageSize: Int, count: Int, partial: URL) throws {
        self.pageSize = pageSize
        self.count = count
        self.partial = partial
        try? FileManager.default.removeItem(at: partial)
        fd = try POSIXFile.createPrivate(partial)
        pending.reserveCapacity(PageIndexFormat.headerSize + PageIndexFormat.piece * PageIndexFormat.entrySize)
        pending += PageIndexFormat.magic
        withUnsafeBytes(of: UInt32(pageSize).littleEndian) { pending.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(count).littleEndian) { pending.append(contentsOf: $0) }
    }

    deinit {
        if fd >= 0 { close(fd) }
        if !committed { try? FileManager.default.removeItem(at: partial) }
    }

    /// The next pages' fingerprints. A write error is kept and thrown by `finish`.
    func append(_ hashes: some Collection<PageHash>) {
        for hash in hashes {
            withUnsafeBytes(of: hash.high.littleEndian) { pending.append(contentsOf: $0) }
            withUnsafeBytes(of: hash.low.littleEndian) { pending.append(contentsOf: $0) }
            if pending.count >= PageIndexFormat.piece * PageIndexFormat.entrySize { flush() }
        }
        appended += hashes.count
    }

    /// Fingerprints the whole pages of `block` (the next bytes of the image) and appends them.
    func appendPages(of block: UnsafeRawBufferPointer) {
        let pages = PageIndexBuilder(pageSize: pageSize)
        pages.add(block)
        append(pages.hashes)
    }

    /// Every page is in: the checksum goes after them and the file to disk. Throws if a write failed
    /// or the pages were not as many as announced.
    func finish() throws {
        guard !finished else { return }
        flush()
        if let failure { throw failure }
        guard appended == count else {
            throw BackupError(.io, "The page index of this backup is incomplete.", detail: "\(appended) of \(count) pages")
        }
        try Array(digest.finalize()).withUnsafeBytes { try POSIXFile.writeAll(fd, $0) }
        try POSIXFile.fsyncFile(fd)
        close(fd)
        fd = -1
        pending = []
        finished = true
    }

    /// Puts the finished index at `url` (on the same filesystem as the partial file).
    func commit(to url: URL) throws {
        try finish()
        try POSIXFile.rename(partial, to: url)
        committed = true
    }

    private func flush() {
        guard failure == nil, !pending.isEmpty else { pending.removeAll(keepingCapacity: true); return }
        digest.update(data: pending)
        do { try pending.withUnsafeBytes { try POSIXFile.writeAll(fd, $0) } } catch { failure = error }
        pending.removeAll(keepingCapacity: true)
    }
}

/// A page index on disk, checked whole when opened and then read in page order a run at a time.
public final class PageIndexFile: @unchecked Sendable {
    public let pageSize: Int
    /// Pages in the image it indexes.
    public let count: Int
    private let fd: Int32
    private let checksum: [UInt8]

    private init(fd: Int32, pageSize: Int, count: Int, checksum: [UInt8]) {
        self.fd = fd
        self.pageSize = pageSize
        self.count = count
        self.checksum = checksum
    }

    deinit { close(fd) }

    /// Opens and checks an index; nil when it is missing or damaged (the caller then starts a new chain).
    public static func open(_ url: URL) -> PageIndexFile? {
        guard let fd = try? POSIXFile.openForReading(url) else { return nil }
        var header = [UInt8](repeating: 0, count: PageIndexFormat.headerSize)
        var checksum = [UInt8](repeating: 0, count: PageIndexFormat.digestSize)
        guard let size = try? POSIXFile.fileSize(url),
              size >= UInt64(PageIndexFormat.headerSize + PageIndexFormat.digestSize),
              (try? header.withUnsafeMutableBytes { try POSIXFile.pread(fd, into: $0, at: 0) }) == PageIndexFormat.headerSize,
              header.prefix(8).elementsEqual(PageIndexFormat.magic),
              (try? checksum.withUnsafeMutableBytes {
                  try POSIXFile.pread(fd, into: $0, at: size - UInt64(PageIndexFormat.digestSize))
              }) == PageIndexFormat.digestSize
        else { close(fd); return nil }
        let (pageSize, count) = header.withUnsafeBytes {
            (Int($0.loadUnaligned(fromByteOffset: 8, as: UInt32.self).littleEndian),
             Int($0.loadUnaligned(fromByteOffset: 12, as: UInt32.self).littleEndian))
        }
        guard size == UInt64(PageIndexFormat.headerSize + count * PageIndexFormat.entrySize + PageIndexFormat.digestSize) else {
            close(fd)
            return nil
        }
        let file = PageIndexFile(fd: fd, pageSize: pageSize, count: count, checksum: checksum)
        let pass = file.reader()
        do {
            while try !pass.next(PageIndexFormat.piece).isEmpty {}
            try pass.finish()
        } catch { return nil }
        return file
    }

    /// A pass over the fingerprints in page order. Every pass checks the file's checksum again on its
    /// way (`finish`): an index changed after `open` fails the backup instead of misleading it.
    public func reader() -> Reader { Reader(self) }

    /// Where each of `contents` first appears in the image: content → page number (absent: nowhere).
    /// One pass, with a map as small as what is asked for: an hourly asks only for the pages that changed.
    public func firstLocations(of contents: Set<PageHash>) throws -> [PageHash: UInt32] {
        var map = [PageHash: UInt32](minimumCapacity: contents.count)
        guard !contents.isEmpty else { return map }
        let pass = reader()
        var page = 0
        while true {
            let hashes = try pass.next(PageIndexFormat.piece)
            if hashes.isEmpty { break }
            for hash in hashes {
                if map[hash] == nil, contents.contains(hash) { map[hash] = UInt32(page) }
                page += 1
            }
        }
        try pass.finish()
        return map
    }

    public final class Reader {
        private let file: PageIndexFile
        private var digest = SHA256()
        private var nextPage = 0
        private var headerHashed = false

        fileprivate init(_ file: PageIndexFile) { self.file = file }

        /// The next `count` pages' fingerprints (fewer at the end of the index, none past it).
        public func next(_ count: Int) throws -> [PageHash] {
            if !headerHashed { try hash(bytes: PageIndexFormat.headerSize, at: 0) { _ in }; headerHashed = true }
            let taken = max(0, min(count, file.count - nextPage))
            guard taken > 0 else { return [] }
            var hashes: [PageHash] = []
            hashes.reserveCapacity(taken)
            try hash(bytes: taken * PageIndexFormat.entrySize,
                     at: UInt64(PageIndexFormat.headerSize + nextPage * PageIndexFormat.entrySize)) { bytes in
                for i in 0..<taken {
                    hashes.append(PageHash(high: bytes.loadUnaligned(fromByteOffset: i * 16, as: UInt64.self).littleEndian,
                                           low: bytes.loadUnaligned(fromByteOffset: i * 16 + 8, as: UInt64.self).littleEndian))
                }
            }
            nextPage += taken
            return hashes
        }

        /// Reads what the pass skipped and compares the checksum.
        public func finish() throws {
            while try !next(PageIndexFormat.piece).isEmpty {}
            guard Array(digest.finalize()) == file.checksum else {
                throw BackupError(.io, "The previous hourly's page index changed during the backup.")
            }
        }

        private func hash(bytes count: Int, at offset: UInt64, _ body: (UnsafeRawBufferPointer) -> Void) throws {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 16)
            defer { buffer.deallocate() }
            let view = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count])
            guard try POSIXFile.pread(file.fd, into: view, at: offset) == count else {
                throw BackupError(.io, "The previous hourly's page index ended early.")
            }
            digest.update(bufferPointer: UnsafeRawBufferPointer(view))
            body(UnsafeRawBufferPointer(view))
        }
    }
}

/// Fingerprints an image's whole pages, block by block (one batch's worth: small).
final class PageIndexBuilder: @unchecked Sendable {
    let pageSize: Int
    private(set) var hashes: [PageHash] = []

    init(pageSize: Int) { self.pageSize = pageSize }

    func add(_ block: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < block.count {
            let end = min(offset + pageSize, block.count)
            hashes.append(PageHash(UnsafeRawBufferPointer(rebasing: block[offset..<end])))
            offset = end
        }
    }

    /// Like `add`, for a block whose previous version (same pages of the previous image) is at hand
    /// with those pages' fingerprints: a page whose bytes did not change keeps its fingerprint, so only
    /// the changed pages are hashed (a byte comparison is ~10x cheaper than SHA-256).
    func add(_ block: UnsafeRawBufferPointer, previous: UnsafeRawBufferPointer, previousHashes: ArraySlice<PageHash>) {
        var offset = 0
        var page = previousHashes.startIndex
        while offset < block.count {
            let end = min(offset + pageSize, block.count)
            let current = UnsafeRawBufferPointer(rebasing: block[offset..<end])
            if end - offset == pageSize, offset + pageSize <= previous.count, page < previousHashes.endIndex,
               memcmp(current.baseAddress!, previous.baseAddress! + offset, pageSize) == 0 {
                hashes.append(previousHashes[page])
            } else {
                hashes.append(PageHash(current))
            }
            offset = end
            page += 1
        }
    }
}
