import Foundation

/// A daily full's `VACUUM INTO` snapshot, with a head start on its compression.
///
/// VACUUM INTO holds one core for about a third of a full backup (3.3 s per GiB here), and the
/// compression cannot finish before the image does: SQLite rewrites the first page (and each
/// table's root) when it commits. But it appends the image front to back and writes each page out
/// soon after it fills, so a chunk well behind the write front is usually final. While VACUUM INTO
/// runs, the otherwise idle core compresses such chunks into members spooled to an unlinked file.
/// Once the image is complete, `ParallelGzip` uses each member whose chunk no write touched since
/// it was read (`WriteWatch`), and compresses the rest as usual.
struct CompressingSnapshot {
    let gzip: ParallelGzip
    /// How far behind the write front a chunk must be before it is compressed early. With SQLite's
    /// default 2 MiB page cache, chunks 16 MiB behind the front were never rewritten on the 1 GiB
    /// demo store (4 MiB behind: a quarter of them were). A rewrite costs one block compressed twice.
    var margin: UInt64 = 16 << 20

    func take(of source: URL, into target: URL, spoolIn folder: URL,
              progress: ProgressHandler?) throws -> (SnapshotInfo, EarlyMembers?) {
        let expected = ((try? POSIXFile.fileSize(source)) ?? 0) + ((try? POSIXFile.fileSize(URL(fileURLWithPath: source.path + "-wal"))) ?? 0)
        // VACUUM INTO's image is at most about the database's size; past twice that nothing is done early.
        guard let watch = try? WriteWatch(chunkSize: gzip.blockSize, capacity: expected * 2 + UInt64(gzip.blockSize)) else {
            return (try DatabaseSnapshotter().snapshot(of: source, into: target), nil)
        }
        var early = try? EarlyMembers(watch: watch, spoolIn: folder)
        let vacuum = BackgroundWork { try DatabaseSnapshotter().snapshot(of: source, into: target, watch: watch) }
        if let members = early {
            let compressor = EarlyCompressor(image: target, members: members, level: gzip.level, margin: margin)
            var reported: UInt64 = 0
            do {
                while !vacuum.hasFinished() {
                    if try !compressor.compressNextChunk() {
                        _ = vacuum.hasFinished(waitingUpTo: 0.005)  // until the front moves on, or the end
                    }
                    let front = min(watch.front, expected)
                    if front != reported {
                        progress?(ProgressEvent(phase: .snapshot, bytesDone: front, bytesTotal: expected))
                        reported = front
                    }
                }
            } catch {
                early = nil  // only ever a head start: without it the compression does every chunk itself
            }
        }
        return (try vacuum.value(), early)
    }
}

/// Compresses, one at a time and in order, the chunks of an image being written that are `margin`
/// behind the write front, into `EarlyMembers`.
final class EarlyCompressor {
    let members: EarlyMembers
    private let image: URL
    private let margin: UInt64
    private let compressor: CompressorPool
    private let input: UnsafeMutableRawBufferPointer
    private let output: UnsafeMutableRawBufferPointer
    private var fd: Int32 = -1
    /// Chunk 0 holds the header and the roots of every table, written at the commit: not worth a try.
    private(set) var nextChunk = 1

    init(image: URL, members: EarlyMembers, level: Int32, margin: UInt64) {
        self.image = image
        self.members = members
        self.margin = margin
        compressor = CompressorPool(count: 1, level: level)
        input = .allocate(byteCount: members.watch.chunkSize, alignment: 64)
        output = .allocate(byteCount: CompressorPool.bound(members.watch.chunkSize), alignment: 64)
    }

    deinit {
        compressor.free()
        input.deallocate()
        output.deallocate()
        if fd >= 0 { close(fd) }
    }

    /// Compresses the next chunk if it is ready; false if it is not (yet).
    func compressNextChunk() throws -> Bool {
        let watch = members.watch
        let end = UInt64(nextChunk + 1) * UInt64(watch.chunkSize)
        let generation = watch.generation(ofChunk: nextChunk)
        guard watch.front >= end + margin, generation % 2 == 0 else { return false }
        if fd < 0 { fd = try POSIXFile.openForReading(image) }
        guard try POSIXFile.pread(fd, into: input, at: end - UInt64(watch.chunkSize)) == input.count else { return false }
        let size = compressor.gzip(UnsafeRawBufferPointer(input), into: output, slot: 0)
        guard size > 0 else { throw BackupError(.io, "Compression failed.", detail: "libdeflate returned 0") }
        try members.append(UnsafeRawBufferPointer(rebasing: output[0..<size]), chunk: nextChunk, generation: generation)
        nextChunk += 1
        return true
    }
}

/// Members compressed while the image was being written, spooled to an unlinked file, each kept with
/// its chunk's write generation at the time it was read.
final class EarlyMembers: PrecompressedMembers, @unchecked Sendable {
    private struct Member {
        var offset: UInt64
        var length: Int
        var generation: UInt64
    }

    let watch: WriteWatch
    private let spool: Int32
    private var members: [Int: Member] = [:]
    private var spoolSize: UInt64 = 0

    init(watch: WriteWatch, spoolIn folder: URL) throws {
        let url = folder.appendingPathComponent("early-members.gz")
        spool = try POSIXFile.createPrivate(url, exclusive: true, readable: true)
        unlink(url.path)  // gone with the process, whatever happens to it
        self.watch = watch
    }

    deinit { close(spool) }

    var count: Int { members.count }

    func append(_ member: UnsafeRawBufferPointer, chunk: Int, generation: UInt64) throws {
        try POSIXFile.pwriteAll(spool, member, at: spoolSize)
        members[chunk] = Member(offset: spoolSize, length: member.count, generation: generation)
        spoolSize += UInt64(member.count)
    }

    /// Once the image is complete: the member of a chunk no write has touched since it was read.
    func member(forBlock block: Int, into buffer: UnsafeMutableRawBufferPointer) throws -> Int? {
        guard let member = members[block], member.length <= buffer.count,
              watch.generation(ofChunk: block) == member.generation else { return nil }
        let target = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<member.length])
        guard try POSIXFile.pread(spool, into: target, at: member.offset) == member.length else { return nil }
        return member.length
    }
}
