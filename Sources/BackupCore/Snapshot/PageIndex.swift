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

    /// Where each distinct content first appears: content → page number.
    public func locations() -> [PageHash: UInt32] {
        var map = [PageHash: UInt32](minimumCapacity: hashes.count)
        for (page, hash) in hashes.enumerated() where map[hash] == nil { map[hash] = UInt32(page) }
        return map
    }

    private static let magic = Array("CAPSPGI1".utf8)

    /// File layout: magic, page size (u32), count (u32), 16 bytes per page, SHA-256 of all before it.
    public func write(to url: URL) throws {
        var w = LittleEndianWriter()
        w.raw(Self.magic)
        w.u32(UInt32(pageSize))
        w.u32(UInt32(hashes.count))
        w.bytes.reserveCapacity(16 + hashes.count * 16 + 32)
        for hash in hashes {
            w.u64(hash.high)
            w.u64(hash.low)
        }
        w.raw(Array(SHA256.hash(data: w.bytes)))
        let temporary = url.appendingPathExtension("partial")
        try? FileManager.default.removeItem(at: temporary)
        let fd = try POSIXFile.createPrivate(temporary)
        defer { close(fd) }
        try w.bytes.withUnsafeBytes { try POSIXFile.writeAll(fd, $0) }
        try POSIXFile.fsyncFile(fd)
        try POSIXFile.rename(temporary, to: url)
    }

    /// Reads an index; nil when it is missing or damaged (the caller then takes a full backup).
    public static func read(from url: URL) -> PageIndex? {
        guard let data = try? Data(contentsOf: url), data.count >= 48 else { return nil }
        let bytes = [UInt8](data)
        let body = bytes[0..<(bytes.count - 32)]
        guard Array(SHA256.hash(data: body)) == Array(bytes[(bytes.count - 32)...]), Array(bytes[0..<8]) == magic else { return nil }
        var r = LittleEndianReader(Array(body), at: 8)
        guard let pageSize = try? r.u32(), let count = try? r.u32(), r.remaining == Int(count) * 16 else { return nil }
        var hashes: [PageHash] = []
        hashes.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let high = try? r.u64(), let low = try? r.u64() else { return nil }
            hashes.append(PageHash(high: high, low: low))
        }
        return PageIndex(pageSize: Int(pageSize), hashes: hashes)
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
