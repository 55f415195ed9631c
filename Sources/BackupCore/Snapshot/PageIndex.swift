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

/// The fingerprint of every page of one database image, in page order: what the next incremental
/// compares its snapshot against. Kept in the data directory (`pages/<backup id>.idx`); it is a
/// cache, derivable from the archives, so losing it only means the next backup is a full one.
public struct PageIndex: Sendable, Equatable {
    public var pageSize: Int
    public var hashes: [PageHash]

    public init(pageSize: Int, hashes: [PageHash] = []) {
        self.pageSize = pageSize
        self.hashes = hashes
    }

    /// Where each of `contents` first appears in this image: content → page number (absent: nowhere).
    /// One pass over the index with a map as small as what is asked for: an hourly asks only for the
    /// few pages that changed, where a map of every page would cost ~40 bytes a page (40 MiB at 4 GiB).
    public func firstLocations(of contents: Set<PageHash>) -> [PageHash: UInt32] {
        var map = [PageHash: UInt32](minimumCapacity: contents.count)
        guard !contents.isEmpty else { return map }
        for (page, hash) in hashes.enumerated() where map[hash] == nil && contents.contains(hash) {
            map[hash] = UInt32(page)
            if map.count == contents.count { break }
        }
        return map
    }

    private static let magic = Array("CAPSPGI1".utf8)

    /// File layout: magic, page size (u32), count (u32), 16 bytes per page, SHA-256 of all before it.
    /// Written 1 MiB at a time: the whole file at once would be another 16 MiB at 4 GiB.
    public func write(to url: URL) throws {
        let temporary = url.appendingPathExtension("partial")
        try? FileManager.default.removeItem(at: temporary)
        let fd = try POSIXFile.createPrivate(temporary)
        defer { close(fd) }
        var digest = SHA256()
        func emit(_ bytes: [UInt8]) throws {
            digest.update(data: bytes)
            try bytes.withUnsafeBytes { try POSIXFile.writeAll(fd, $0) }
        }
        var header = LittleEndianWriter()
        header.raw(Self.magic)
        header.u32(UInt32(pageSize))
        header.u32(UInt32(hashes.count))
        try emit(header.bytes)
        let perChunk = 1 << 16
        for start in stride(from: 0, to: hashes.count, by: perChunk) {
            var chunk = LittleEndianWriter()
            chunk.bytes.reserveCapacity(16 * perChunk)
            for hash in hashes[start..<min(start + perChunk, hashes.count)] {
                chunk.u64(hash.high)
                chunk.u64(hash.low)
            }
            try emit(chunk.bytes)
        }
        try Array(digest.finalize()).withUnsafeBytes { try POSIXFile.writeAll(fd, $0) }
        try POSIXFile.fsyncFile(fd)
        try POSIXFile.rename(temporary, to: url)
    }

    /// Reads an index; nil when it is missing or damaged (the caller then takes a full backup).
    /// Decodes straight from the file's bytes: one copy of them, not three (16 MiB each at 4 GiB).
    public static func read(from url: URL) -> PageIndex? {
        guard let data = try? Data(contentsOf: url), data.count >= 48 else { return nil }
        return data.withUnsafeBytes { bytes -> PageIndex? in
            let bodyCount = bytes.count - 32
            let body = UnsafeRawBufferPointer(rebasing: bytes[0..<bodyCount])
            guard SHA256.hash(data: body).elementsEqual(bytes[bodyCount...]), body.prefix(8).elementsEqual(magic) else { return nil }
            let pageSize = body.loadUnaligned(fromByteOffset: 8, as: UInt32.self).littleEndian
            let count = Int(body.loadUnaligned(fromByteOffset: 12, as: UInt32.self).littleEndian)
            guard bodyCount - 16 == count * 16 else { return nil }
            var hashes: [PageHash] = []
            hashes.reserveCapacity(count)
            for i in 0..<count {
                let at = 16 + i * 16
                hashes.append(PageHash(high: body.loadUnaligned(fromByteOffset: at, as: UInt64.self).littleEndian,
                                       low: body.loadUnaligned(fromByteOffset: at + 8, as: UInt64.self).littleEndian))
            }
            return PageIndex(pageSize: Int(pageSize), hashes: hashes)
        }
    }
}

/// Builds a `PageIndex` from an image's bytes streamed in order (whole pages per call).
final class PageIndexBuilder: @unchecked Sendable {
    private(set) var index: PageIndex

    init(pageSize: Int) { index = PageIndex(pageSize: pageSize) }

    func add(_ block: UnsafeRawBufferPointer) {
        let pageSize = index.pageSize
        var offset = 0
        while offset < block.count {
            let end = min(offset + pageSize, block.count)
            index.hashes.append(PageHash(UnsafeRawBufferPointer(rebasing: block[offset..<end])))
            offset = end
        }
    }

    /// Like `add`, for a block whose previous version (same pages of the previous image) is at hand
    /// with those pages' fingerprints: a page whose bytes did not change keeps its fingerprint, so only
    /// the changed pages are hashed (a byte comparison is ~10x cheaper than SHA-256).
    func add(_ block: UnsafeRawBufferPointer, previous: UnsafeRawBufferPointer, previousHashes: ArraySlice<PageHash>) {
        let pageSize = index.pageSize
        var offset = 0
        var page = previousHashes.startIndex
        while offset < block.count {
            let end = min(offset + pageSize, block.count)
            let current = UnsafeRawBufferPointer(rebasing: block[offset..<end])
            if end - offset == pageSize, offset + pageSize <= previous.count, page < previousHashes.endIndex,
               memcmp(current.baseAddress!, previous.baseAddress! + offset, pageSize) == 0 {
                index.hashes.append(previousHashes[page])
            } else {
                index.hashes.append(PageHash(current))
            }
            offset = end
            page += 1
        }
    }
}
