@testable import BackupCore
import Foundation
import Testing

/// A full backup compresses the image's finished chunks while `VACUUM INTO` still writes the rest
/// (`CompressingSnapshot`). A member made early is used only if SQLite wrote nothing to its chunk
/// since, and only if its CRC-32 matches the final bytes: the archive always holds the final image.
@Suite("Compression while VACUUM INTO writes the image")
struct EarlyCompressionTests {
    static let chunk = 64 << 10

    @Test("The write watch sees every write SQLite makes, and a member of a chunk written again is not used")
    func rewrittenChunks() throws {
        let dir = TemporaryDirectory()
        let image = dir.path("image.sqlite")
        let (watch, _) = try watchedSnapshot(in: dir, rows: 20_000, into: image)
        let size = try POSIXFile.fileSize(image)
        let chunks = Int(size) / Self.chunk
        #expect(chunks > 20)
        #expect(watch.front == size)
        for c in 0..<chunks { #expect(watch.generation(ofChunk: c) > 0 && watch.generation(ofChunk: c) % 2 == 0) }
        #expect(watch.generation(ofChunk: chunks + 1) == 0, "nothing was written there")
        #expect(watch.generation(ofChunk: 1 << 20) == 1, "past the capacity: never reported stable")

        let members = try EarlyMembers(watch: watch, spoolIn: dir.url)
        let compressor = EarlyCompressor(image: image, members: members, level: 5, margin: 0)
        while try compressor.compressNextChunk() {}
        #expect(members.count == chunks - 1, "every whole chunk but the first")

        // SQLite writes into the image again, through the watch (a stand-in for pages VACUUM INTO
        // rewrites at its commit): the chunks it touches must be compressed again.
        let before = (0..<chunks).map { watch.generation(ofChunk: $0) }
        do {
            // Rollback-journal mode: the changes reach the image file itself at the commit.
            let writer = try SQLiteConnection(path: watch.uri(for: image), mode: .readerOnWritableFile)
            try writer.execute("PRAGMA journal_mode=DELETE")
            try writer.execute("UPDATE invoice SET note = 'changed' WHERE id % 2000 = 0")
        }
        let rewritten = (1..<chunks).filter { watch.generation(ofChunk: $0) != before[$0] }
        #expect(!rewritten.isEmpty && rewritten.count < chunks / 2, "\(rewritten)")
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 2 * Self.chunk, alignment: 16)
        defer { buffer.deallocate() }
        let offered = try (1..<chunks).filter { try members.member(forBlock: $0, into: buffer) != nil }
        #expect(offered == (1..<chunks).filter { !rewritten.contains($0) }, "the watch alone keeps rewritten chunks out")

        let gz = dir.path("image.gz")
        let result = try compressFile(image, to: gz, blockSize: Self.chunk, precompressed: members)
        #expect(result.reusedMembers == chunks - 1 - rewritten.count)
        #expect(result.plainSHA256 == (try sha256(image)))
        let gunzip = try run("/bin/sh", ["-c", "gunzip -c '\(gz.path)' | sha256sum"])
        #expect(gunzip.output.hasPrefix(result.plainSHA256))
    }

    /// The image is named to SQLite as a `file:` URI: a data folder whose name means something in a URI
    /// must still get the image exactly where it asked for it.
    @Test("A data folder with URI characters in its name gets its image where it asked")
    func uriCharacters() throws {
        let dir = TemporaryDirectory()
        let folder = dir.path("caps backup ?#%25 café")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let image = folder.appendingPathComponent("snapshot.sqlite")
        let (watch, info) = try watchedSnapshot(in: dir, rows: 2_000, into: image)
        #expect(info.size > 0)
        #expect(watch.front == (try POSIXFile.fileSize(image)))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["snapshot.sqlite"])
        #expect(try SQLiteConnection(path: image.path, mode: .readOnly).integrityProblems() == nil)
    }

    /// A member offered for a block whose bytes it does not hold (a write the watch missed) is refused
    /// by its CRC-32 and length, and the block is compressed afresh.
    @Test("A precompressed member that does not match its block's bytes is not used")
    func mismatchedMembers() throws {
        let dir = TemporaryDirectory()
        let plain = dir.path("plain.bin")
        var bytes = [UInt8](repeating: 0, count: 4 * Self.chunk)
        for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: (i / 7) &* 31 ^ (i >> 11)) }
        try Data(bytes).write(to: plain)
        let block = { (b: Int) in Array(bytes[b * Self.chunk..<(b + 1) * Self.chunk]) }
        var stale = block(2)
        stale[100] ^= 1
        let offered = OfferedMembers(members: [
            1: try Gzip.compress(block(1)),  // the right bytes: used
            2: try Gzip.compress(stale),     // one byte off: refused by the CRC
            3: [0x1F, 0x8B, 0x08],           // not even a member: refused
        ])
        let gz = dir.path("plain.gz")
        let result = try compressFile(plain, to: gz, blockSize: Self.chunk, precompressed: offered)
        #expect(result.reusedMembers == 1)
        let gunzip = try run("/bin/sh", ["-c", "gunzip -c '\(gz.path)' | cmp - '\(plain.path)' && echo same"])
        #expect(gunzip.output.contains("same"), "\(gunzip.output)")
    }

    /// The real thing, timing and all: whatever the head start managed while the POS wrote, the
    /// archive's bytes are exactly the final image's.
    @Test("A snapshot taken while the POS writes compresses to exactly its final image")
    func whileThePOSWrites() throws {
        let dir = TemporaryDirectory()
        let database = dir.path("pos.db")
        try makeStoreDatabase(database, rows: 40_000)
        let stop = Flag()
        let pos = BackgroundWork {
            let connection = try SQLiteConnection(path: database.path, mode: .readWrite)
            var sales = 0
            while !stop.isSet {
                try connection.execute("INSERT INTO invoice(customer_id, total, note) VALUES (1, 9.99, hex(randomblob(40)))")
                sales += 1
            }
            return sales
        }
        let image = dir.path("snapshot.sqlite")
        let gzip = ParallelGzip(blockSize: Self.chunk, level: 5, workers: 2)
        let (info, early) = try CompressingSnapshot(gzip: gzip, margin: 4 * UInt64(Self.chunk))
            .take(of: database, into: image, spoolIn: dir.url, progress: nil)
        stop.set()
        #expect(try pos.value() > 0)
        let result = try compressFile(image, to: dir.path("snapshot.gz"), blockSize: Self.chunk, precompressed: early)
        #expect(result.plainSize == info.size)
        #expect(result.plainSHA256 == (try sha256(image)))
        #expect(result.reusedMembers <= early?.count ?? 0)
        let restored = dir.path("restored.sqlite")
        let gunzip = try run("/bin/sh", ["-c", "gunzip -c '\(dir.path("snapshot.gz").path)' > '\(restored.path)'"])
        #expect(gunzip.status == 0)
        #expect(try SQLiteConnection(path: restored.path, mode: .readOnly).integrityProblems() == nil)
    }

    /// A `VACUUM INTO` image of a fresh store database, written through a new write watch.
    private func watchedSnapshot(in dir: TemporaryDirectory, rows: Int, into image: URL) throws -> (WriteWatch, SnapshotInfo) {
        let database = dir.path("pos.db")
        try makeStoreDatabase(database, rows: rows)
        let watch = try WriteWatch(chunkSize: Self.chunk, capacity: 64 << 20)
        return (watch, try DatabaseSnapshotter().snapshot(of: database, into: image, watch: watch))
    }

    private func compressFile(_ url: URL, to gz: URL, blockSize: Int, precompressed: (any PrecompressedMembers)?) throws -> ParallelGzip.Result {
        let input = try POSIXFile.openForReading(url)
        defer { close(input) }
        let output = try POSIXFile.createPrivate(gz)
        defer { close(output) }
        return try ParallelGzip(blockSize: blockSize, level: 5, workers: 2).compress(
            fd: input, size: try POSIXFile.fileSize(url), sink: { try POSIXFile.writeAll(output, $0) }, precompressed: precompressed)
    }
}

private struct OfferedMembers: PrecompressedMembers {
    let members: [Int: [UInt8]]
    func member(forBlock block: Int, into buffer: UnsafeMutableRawBufferPointer) throws -> Int? {
        guard let member = members[block] else { return nil }
        buffer.copyBytes(from: member)
        return member.count
    }
}

private final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
