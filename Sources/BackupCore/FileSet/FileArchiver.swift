import CLibDeflate
import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Copies walked files into a ZIP, in walk order, on all cores.
///
/// The files are cut into batches of consecutive files (≤ 32 files, ≤ 1 MiB). Reader threads each take
/// the next batch, read every file of it whole into one buffer (one open, one read, two fstats per
/// file), compute its CRC-32 and, unless the previous manifest's can be reused, its SHA-256. The
/// calling thread is the only writer: it takes the batches back in order and appends each to the ZIP
/// with one writev(2), straight from the batch buffer. Readers run at most `maxAhead` batches ahead, so memory stays near
/// `maxAhead × 1 MiB` whatever the number of files. A file larger than `streamThreshold` is copied by
/// the writer itself in 4 MiB chunks.
///
/// A file that changes or disappears while it is read is read once more; if that fails too it is
/// listed as skipped with the reason, never archived with bytes that match no version of it.
struct FileArchiver {
    let root: URL
    let prefix: String
    let policy: HashReusePolicy
    var readers = max(2, ProcessInfo.processInfo.activeProcessorCount)
    var batchFiles = 32
    var batchBytes = 1 << 20
    var maxAhead = 8
    var streamThreshold: UInt64 = 8 << 20
    /// For tests: called with a file's path and the attempt (1 or 2) once it is open, before its bytes are read.
    var whileReading: (@Sendable (String, Int) -> Void)?

    struct Result {
        /// Only without `onFile`: the manifest entry of each file archived.
        var entries: [Manifest.Entry] = []
        var skipped: [SkippedFile] = []
        /// Files archived.
        var count = 0
        var hashed = 0
        var reused = 0
        var bytes: UInt64 = 0
    }

    /// A file now in the archive, as its manifest entry records it.
    struct ArchivedFile {
        /// The entry name, `prefix` + its path.
        var name: String
        var size: UInt64
        var mode: UInt16
        var modified: FileTime
        var crc32: UInt32
        var sha256: SHA256Bytes

        var entry: Manifest.Entry {
            Manifest.Entry(path: name, size: size, sha256: sha256.hex, mode: mode, modified: modified, crc32: crc32)
        }
    }

    /// - Parameters:
    ///   - files: the walk; what the previous backup recorded about a file is taken from the list, where
    ///     the scan attached it (`FileList.attach`).
    ///   - releasing: free the list's chunks once archived (the list is unusable afterwards).
    ///   - afterBatch: called on the writer thread after each batch (progress, trailing hash).
    ///   - onFile: called on the writer thread for each file archived, in archive order; without it the
    ///     result lists their manifest entries (a file backup spools them to disk instead).
    func archive(_ files: FileList, into writer: ZipWriter, releasing: Bool = false, afterBatch: ((UInt64) -> Void)? = nil,
                 onFile: ((ArchivedFile) throws -> Void)? = nil) throws -> Result {
        let batches = makeBatches(files)
        let handOff = OrderedHandOff<BatchResult>(count: batches.count, maxAhead: maxAhead)
        let pool = BufferPool(limit: maxAhead + readers + 1, capacity: batchBytes)
        let shared = UnsafeSendable((files, batches, self))
        let threads = runThreads(min(readers, max(1, batches.count)), name: "file-reader") { _ in
            let (files, batches, archiver) = shared.value
            do {
                let opener = try BeneathRoot(archiver.root)
                while let index = handOff.claim() {
                    handOff.deliver(archiver.read(batches[index], files, opener: opener, pool: pool), for: index)
                }
            } catch {
                handOff.fail(error)
            }
        }
        defer { threads.wait() }

        var result = Result()
        if onFile == nil { result.entries.reserveCapacity(files.count) }
        func archived(_ file: ArchivedFile, reused: Bool) throws {
            result.count += 1
            if reused { result.reused += 1 } else { result.hashed += 1 }
            result.bytes += file.size
            if let onFile { try onFile(file) } else { result.entries.append(file.entry) }
        }
        do {
            let streamOpener = try BeneathRoot(root)
            var pending: [ZipWriter.PreparedEntry] = []
            for batch in batches {
                let done = try handOff.take()
                for (index, outcome) in zip(batch.range, done.files) {
                    let file = files[index]
                    let name = prefix + file.path
                    switch outcome {
                    case .read(let range, let version, let crc, let sha, let reused):
                        pending.append(ZipWriter.PreparedEntry(name: name, bytes: done.buffer!.bytes(range), crc32: crc,
                                                               modified: version.modified.date, mode: version.mode))
                        try archived(ArchivedFile(name: name, size: version.size, mode: version.mode, modified: version.modified,
                                                  crc32: crc, sha256: sha), reused: reused)
                    case .skipped(let reason):
                        result.skipped.append(SkippedFile(path: name, reason: reason))
                    case .stream:
                        // What came before it in this batch goes first: the archive keeps the manifest's order.
                        try writer.addEntries(pending)
                        pending.removeAll(keepingCapacity: true)
                        switch try stream(file, name: name, opener: streamOpener, into: writer) {
                        case .success(let file):
                            try archived(file, reused: false)
                        case .failure(let skipped):
                            result.skipped.append(skipped)
                        }
                    }
                }
                // Written before the buffer goes back to the pool: the entries point into it.
                try writer.addEntries(pending)
                pending.removeAll(keepingCapacity: true)
                if let buffer = done.buffer { pool.give(buffer) }
                // The readers are past this batch (they run ahead of the writer, never behind): its files'
                // chunks of the list can go. Each time one does (every 4,096 files), the heap is trimmed:
                // that gives back the chunk, and what the ZIP writer's directory leaves behind as it grows.
                if releasing, files.release(below: batch.range.upperBound) { GlibcExtras.trimHeap() }
                afterBatch?(result.bytes)
            }
        } catch {
            handOff.fail(error)
            throw error
        }
        return result
    }

    // MARK: - Batches

    struct Batch {
        var range: Range<Int>
        var stream: Bool
    }

    enum Outcome {
        case read(range: Range<Int>, version: FileVersion, crc: UInt32, sha256: SHA256Bytes, reused: Bool)
        case skipped(String)
        /// Too large to hold in memory: the writer copies it in chunks.
        case stream
    }

    final class BatchResult: @unchecked Sendable {
        let buffer: ByteBuffer?
        let files: [Outcome]
        init(buffer: ByteBuffer?, files: [Outcome]) {
            self.buffer = buffer
            self.files = files
        }
    }

    func makeBatches(_ files: FileList) -> [Batch] {
        var batches: [Batch] = []
        var start = 0
        var bytes: UInt64 = 0
        for index in files.indices {
            let size = files.size(index)
            if size > streamThreshold {
                if start < index { batches.append(Batch(range: start..<index, stream: false)) }
                batches.append(Batch(range: index..<index + 1, stream: true))
                start = index + 1
                bytes = 0
                continue
            }
            if index > start, index - start >= batchFiles || bytes + size > UInt64(batchBytes) {
                batches.append(Batch(range: start..<index, stream: false))
                start = index
                bytes = 0
            }
            bytes += size
        }
        if start < files.count { batches.append(Batch(range: start..<files.count, stream: false)) }
        return batches
    }

    // MARK: - Reader side

    func read(_ batch: Batch, _ files: FileList, opener: BeneathRoot, pool: BufferPool) -> BatchResult {
        if batch.stream { return BatchResult(buffer: nil, files: [.stream]) }
        let buffer = pool.take()
        var reader = StableFileReader()
        var outcomes: [Outcome] = []
        outcomes.reserveCapacity(batch.range.count)
        for index in batch.range {
            let file = files[index]
            // Its record in the previous manifest, attached to the list by the scan (`FileList.attach`).
            let recorded = files.recorded(index)
            var reason = ""
            var outcome: Outcome?
            for attempt in 1...2 {
                if let hook = whileReading { reader.whileOpen = { hook(file.path, attempt) } }
                switch reader.read(file.path, from: opener, into: buffer, maxSize: streamThreshold) {
                case .read(let version, let range):
                    let bytes = buffer.bytes(range)
                    let crc = UInt32(truncatingIfNeeded: libdeflate_crc32(0, bytes.baseAddress, bytes.count))
                    if let sha = policy.reusable(recorded, size: version.size, modified: version.modified, crc32: crc) {
                        outcome = .read(range: range, version: version, crc: crc, sha256: sha, reused: true)
                    } else {
                        var hasher = SHA256()
                        hasher.update(bufferPointer: bytes)
                        outcome = .read(range: range, version: version, crc: crc, sha256: SHA256Bytes(hasher.finalize()), reused: false)
                    }
                case .changed: reason = "it changed while being read (twice)"
                case .vanished: reason = "it disappeared while the backup ran"
                case .failed(let why): reason = "it could not be read: \(why)"
                case .tooLarge: outcome = .stream  // it grew since the walk: the writer copies it in chunks
                }
                if outcome != nil { break }
            }
            outcomes.append(outcome ?? .skipped(reason))
        }
        return BatchResult(buffer: buffer, files: outcomes)
    }

    // MARK: - Writer side: large files

    /// Copies a large file in chunks straight into the archive; on a change mid-copy the entry is cut
    /// off the archive and the copy tried once more.
    func stream(_ file: FileCandidate, name: String, opener: BeneathRoot, into writer: ZipWriter) throws -> Swift.Result<ArchivedFile, SkippedFile> {
        let chunk = 4 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 64)
        defer { buffer.deallocate() }
        var reason = ""
        for attempt in 1...2 {
            let fd = opener.openFile(file.path)
            guard fd >= 0 else {
                let code = errno
                reason = code == ENOENT ? "it disappeared while the backup ran" : "it could not be read: \(String(cString: strerror(code)))"
                continue
            }
            defer { close(fd) }
            var before = stat(), after = stat()
            guard fstat(fd, &before) == 0, before.st_mode & S_IFMT == S_IFREG else { reason = "it changed while being read (twice)"; continue }
            let version = FileVersion(before)
            whileReading?(file.path, attempt)
            try writer.beginEntry(name, modified: version.modified.date, mode: version.mode)
            var done: UInt64 = 0
            var readError: String?
            while true {
                let n = Glibc.read(fd, buffer.baseAddress, chunk)
                if n < 0 {
                    if errno == EINTR { continue }
                    readError = String(cString: strerror(errno))
                    break
                }
                if n == 0 { break }
                try writer.write(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                done += UInt64(n)
                if done > version.size { break }
            }
            guard readError == nil, done == version.size, fstat(fd, &after) == 0, FileVersion(after) == version else {
                try writer.discardEntry()
                reason = readError.map { "it could not be read: \($0)" } ?? "it changed while being read (twice)"
                continue
            }
            let info = try writer.endEntry()
            guard let sha = SHA256Bytes(hex: info.sha256) else {
                throw BackupError(.io, "Could not write the archive.", detail: "bad SHA-256 from the writer: \(info.sha256)")
            }
            return .success(ArchivedFile(name: name, size: info.size, mode: version.mode, modified: version.modified,
                                         crc32: info.crc32, sha256: sha))
        }
        return .failure(SkippedFile(path: name, reason: reason))
    }
}

extension SkippedFile: Error {}

/// Batch buffers, recycled: after the first few batches no more memory is allocated.
final class BufferPool: @unchecked Sendable {
    private let lock = NSLock()
    private var free: [ByteBuffer] = []
    private let limit: Int
    private let capacity: Int

    init(limit: Int, capacity: Int) {
        self.limit = limit
        self.capacity = ByteBuffer.rounded(capacity)
    }

    func take() -> ByteBuffer {
        let buffer = lock.withLock { free.popLast() } ?? ByteBuffer(capacity: capacity)
        buffer.count = 0
        return buffer
    }

    func give(_ buffer: ByteBuffer) {
        // A buffer that grew for a large file is dropped rather than kept: kept, they add up to
        // `limit` × a few MiB (19 MB at 200,000 files, with 1.2% of them 150 KB to 1.5 MB).
        guard buffer.capacity <= capacity else { return }
        lock.withLock { if free.count < limit { free.append(buffer) } }
    }
}
