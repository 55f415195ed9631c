@testable import BackupCore
import Foundation
import Testing

/// The page index is what the next hourly compares against. It is written as the pages are
/// fingerprinted and read a run at a time (never whole in memory), and refused whole (the hourly then
/// starts a new chain) when a single byte of it is wrong, also when it changes after it was opened.
@Suite("Page indexes")
struct PageIndexTests {
    /// Distinct, reproducible fingerprints; a few repeated, as zeroed pages are in a real image.
    static func hashes(pages: Int) -> [PageHash] {
        (0..<pages).map { (page: Int) -> PageHash in
            let content = UInt64(page % 1000 == 999 ? 7 : page)
            return PageHash(high: content, low: 0x5eed ^ content)
        }
    }

    /// Writes `hashes` in uneven pieces, as the scanner's batches come, and commits the file.
    static func write(_ hashes: [PageHash], to url: URL, pageSize: Int = 4096) throws {
        let writer = try PageIndexWriter(pageSize: pageSize, count: hashes.count, partial: url.appendingPathExtension("partial"))
        var start = 0
        for piece in [1, 511, 70_000] + Array(repeating: 512, count: hashes.count / 512 + 1) where start < hashes.count {
            let end = min(start + piece, hashes.count)
            writer.append(hashes[start..<end])
            start = end
        }
        try writer.commit(to: url)
    }

    static func readAll(_ file: PageIndexFile, in pieces: Int) throws -> [PageHash] {
        let reader = file.reader()
        var all: [PageHash] = []
        while true {
            let next = try reader.next(pieces)
            if next.isEmpty { break }
            all += next
        }
        try reader.finish()
        return all
    }

    @Test("An index of more pages than one write piece reads back equal in any run size; the partial file is gone")
    func roundTrip() throws {
        let dir = TemporaryDirectory()
        let url = dir.path("job.idx")
        let written = Self.hashes(pages: 150_000)  // 2 full pieces of 65,536 and a short one
        try Self.write(written, to: url)
        #expect(try POSIXFile.fileSize(url) == UInt64(16 + 150_000 * 16 + 32))
        #expect(!FileManager.default.fileExists(atPath: url.appendingPathExtension("partial").path))
        let file = try #require(PageIndexFile.open(url))
        #expect(file.count == 150_000 && file.pageSize == 4096)
        #expect(try Self.readAll(file, in: 512) == written)
        #expect(try Self.readAll(file, in: 100_000) == written)
        // A pass that stops early still checks the whole file when it finishes.
        let partial = file.reader()
        #expect(try partial.next(3) == Array(written.prefix(3)))
        try partial.finish()
        #expect(try partial.next(1).isEmpty)

        try Self.write([], to: url, pageSize: 65536)
        let empty = try #require(PageIndexFile.open(url))
        #expect(empty.count == 0 && empty.pageSize == 65536)
        #expect(try Self.readAll(empty, in: 512).isEmpty)
    }

    @Test("A page's fingerprints from a block equal those of its pages one by one; a short last page counts")
    func appendPages() throws {
        let dir = TemporaryDirectory()
        let url = dir.path("job.idx")
        let bytes = (0..<(3 * 1024 + 100)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let writer = try PageIndexWriter(pageSize: 1024, count: 4, partial: dir.path("job.partial"))
        bytes.withUnsafeBytes { writer.appendPages(of: $0) }
        try writer.commit(to: url)
        let expected = bytes.withUnsafeBytes { raw in
            stride(from: 0, to: raw.count, by: 1024).map { PageHash(UnsafeRawBufferPointer(rebasing: raw[$0..<min($0 + 1024, raw.count)])) }
        }
        #expect(try Self.readAll(try #require(PageIndexFile.open(url)), in: 2) == expected)
    }

    @Test("One changed byte anywhere, a short file or another count: the index is refused, not half-used")
    func damaged() throws {
        let dir = TemporaryDirectory()
        let url = dir.path("job.idx")
        try Self.write(Self.hashes(pages: 70_000), to: url)
        let good = try Data(contentsOf: url)
        #expect(PageIndexFile.open(url) != nil)
        for offset in [0, 9, 13, 16, 70_000 * 8, good.count - 40, good.count - 1] {
            var bad = good
            bad[offset] ^= 0x01
            try bad.write(to: url)
            #expect(PageIndexFile.open(url) == nil, "a flipped byte at \(offset) was accepted")
        }
        try good.prefix(good.count - 16).write(to: url)
        #expect(PageIndexFile.open(url) == nil)
        try Data(count: 47).write(to: url)
        #expect(PageIndexFile.open(url) == nil)
        try FileManager.default.removeItem(at: url)
        #expect(PageIndexFile.open(url) == nil)
    }

    @Test("An index changed after it was opened fails the pass that read it, and the lookup of moved pages")
    func changedAfterOpen() throws {
        let dir = TemporaryDirectory()
        let url = dir.path("job.idx")
        let hashes = Self.hashes(pages: 5_000)
        try Self.write(hashes, to: url)
        let file = try #require(PageIndexFile.open(url))
        // Same size, one fingerprint different, written in place (the open descriptor sees it).
        let handle = try FileHandle(forWritingTo: url)
        try handle.seek(toOffset: 16 + 4_000 * 16)
        try handle.write(contentsOf: Data(repeating: 0xAB, count: 16))
        try handle.close()
        let reader = file.reader()
        _ = try reader.next(10)
        #expect(throws: BackupError.self) { try reader.finish() }
        #expect(throws: BackupError.self) { try file.firstLocations(of: [hashes[1]]) }
    }

    @Test("firstLocations finds where each asked-for content first appears, and nothing else")
    func firstLocations() throws {
        let dir = TemporaryDirectory()
        let url = dir.path("job.idx")
        let hashes = Self.hashes(pages: 70_000)  // more than one read piece
        try Self.write(hashes, to: url)
        let file = try #require(PageIndexFile.open(url))
        let repeated = PageHash(high: 7, low: 0x5eed ^ 7)  // pages 7, 999, 1999, ...
        let found = try file.firstLocations(of: [hashes[4_321], hashes[69_998], repeated, PageHash(high: 1, low: 1)])
        #expect(found == [hashes[4_321]: 4_321, hashes[69_998]: 69_998, repeated: 7])
        #expect(try file.firstLocations(of: []).isEmpty)
    }

    @Test("A writer given fewer pages than announced refuses to finish; one dropped uncommitted leaves nothing")
    func incompleteWriter() throws {
        let dir = TemporaryDirectory()
        let partial = dir.path("job.idx.partial")
        do {
            let writer = try PageIndexWriter(pageSize: 4096, count: 10, partial: partial)
            writer.append(Self.hashes(pages: 9))
            #expect(throws: BackupError.self) { try writer.commit(to: dir.path("job.idx")) }
        }
        #expect(!FileManager.default.fileExists(atPath: partial.path))
        #expect(!FileManager.default.fileExists(atPath: dir.path("job.idx").path))
    }
}
