@testable import BackupCore
import Foundation
import Testing

/// The page index is what the next hourly compares against: written in pieces, read in one copy, and
/// refused whole (the hourly then starts a new chain) when a single byte of it is wrong.
@Suite("Page indexes")
struct PageIndexTests {
    /// Distinct, reproducible fingerprints; a few repeated, as zeroed pages are in a real image.
    static func index(pages: Int) -> PageIndex {
        let hashes = (0..<pages).map { (page: Int) -> PageHash in
            let content = UInt64(page % 1000 == 999 ? 7 : page)
            return PageHash(high: content, low: 0x5eed ^ content)
        }
        return PageIndex(pageSize: 4096, hashes: hashes)
    }

    @Test("An index of more pages than one write piece reads back equal; the partial file is gone")
    func roundTrip() throws {
        let dir = TemporaryDirectory()
        let url = dir.path("job.idx")
        let written = Self.index(pages: 150_000)  // 2 full pieces of 65,536 and a short one
        try written.write(to: url)
        #expect(PageIndex.read(from: url) == written)
        #expect(try POSIXFile.fileSize(url) == UInt64(16 + 150_000 * 16 + 32))
        #expect(!FileManager.default.fileExists(atPath: url.appendingPathExtension("partial").path))
        let empty = PageIndex(pageSize: 65536)
        try empty.write(to: url)
        #expect(PageIndex.read(from: url) == empty)
    }

    @Test("One changed byte anywhere, a short file or another count: the index is refused, not half-used")
    func damaged() throws {
        let dir = TemporaryDirectory()
        let url = dir.path("job.idx")
        try Self.index(pages: 70_000).write(to: url)
        let good = try Data(contentsOf: url)
        for offset in [0, 9, 13, 16, 70_000 * 8, good.count - 40, good.count - 1] {
            var bad = good
            bad[offset] ^= 0x01
            try bad.write(to: url)
            #expect(PageIndex.read(from: url) == nil, "a flipped byte at \(offset) was accepted")
        }
        try good.prefix(good.count - 16).write(to: url)
        #expect(PageIndex.read(from: url) == nil)
        try Data(count: 47).write(to: url)
        #expect(PageIndex.read(from: url) == nil)
    }

    @Test("firstLocations finds where each asked-for content first appears, and nothing else")
    func firstLocations() {
        let index = Self.index(pages: 5_000)
        let repeated = PageHash(high: 7, low: 0x5eed ^ 7)  // pages 7, 999, 1999, ...
        let found = index.firstLocations(of: [index.hashes[4_321], repeated, PageHash(high: 1, low: 1)])
        #expect(found == [index.hashes[4_321]: 4_321, repeated: 7])
        #expect(index.firstLocations(of: []).isEmpty)
    }
}
