import CLibDeflate
import Crypto
import Foundation

/// Gzip for large files on all cores: the input is cut into fixed-size blocks, each compressed
/// by libdeflate into its own gzip member. A multi-member gzip is standard (RFC 1952), so `gunzip`
/// reads the result; recording the members' sizes lets us decompress in parallel too.
///
/// Work goes in batches through one `concurrentPerform` per batch that, at the same time, compresses
/// batch k+1, hashes batch k+1's plain bytes and hands batch k's output to the sink. Memory is
/// bounded by two batches of output plus one of input, whatever the file size.
public struct ParallelGzip: Sendable {
    public var blockSize: Int
    public var level: Int32
    public var workers: Int

    public init(blockSize: Int = 4 << 20, level: Int32 = 6, workers: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.blockSize = blockSize
        self.level = level
        self.workers = max(1, workers)
    }

    public struct Result: Sendable {
        public var plainSize: UInt64
        public var plainSHA256: String
        public var memberSizes: [Int]
    }

    /// Compresses the first `size` bytes of `fd`, calling `sink` with each member in order.
    /// `inspect` sees the plain bytes in order, block by block, on the hashing worker (used to
    /// index the database's pages in the same pass).
    public func compress(
        fd: Int32, size: UInt64,
        sink: (UnsafeRawBufferPointer) throws -> Void,
        inspect: (@Sendable (UnsafeRawBufferPointer) -> Void)? = nil,
        progress: ((UInt64) -> Void)? = nil
    ) throws -> Result {
        try compress(size: size, read: { buffer, position in try POSIXFile.pread(fd, into: buffer, at: position) },
                     sink: sink, inspect: inspect, progress: progress)
    }

    /// The same, for bytes that are not one file: `read` fills a buffer with the bytes at a position.
    public func compress(
        size: UInt64,
        read: (UnsafeMutableRawBufferPointer, UInt64) throws -> Int,
        sink: (UnsafeRawBufferPointer) throws -> Void,
        inspect: (@Sendable (UnsafeRawBufferPointer) -> Void)? = nil,
        progress: ((UInt64) -> Void)? = nil
    ) throws -> Result {
        let perBatch = workers * 2
        let input = BufferSet(count: perBatch, size: blockSize)
        let bound = CompressorPool.bound(blockSize)
        let outputs = [BufferSet(count: perBatch, size: bound), BufferSet(count: perBatch, size: bound)]
        defer { input.deallocate(); outputs.forEach { $0.deallocate() } }
        let compressors = CompressorPool(count: perBatch, level: level)
        defer { compressors.free() }
        let hasher = StreamingSHA256()
        let failure = FailureBox()

        var memberSizes: [Int] = []
        var position: UInt64 = 0
        var pending: (set: BufferSet, count: Int)? = nil
        var batch = 0
        while position < size || pending != nil {
            // Read the next batch's plain blocks (page cache; the cores do the heavy part).
            var blocks = 0
            while blocks < perBatch, position < size {
                let want = Int(min(UInt64(blockSize), size - position))
                let got = try read(input.buffer(blocks, length: want), position)
                guard got == want else {
                    throw BackupError(.io, "The snapshot changed size while it was being compressed.", detail: "short read at \(position)")
                }
                input.lengths[blocks] = got
                position += UInt64(got)
                blocks += 1
            }
            let output = outputs[batch % 2]
            let toSink = pending
            let batchBlocks = blocks
            // Iterations: [0, blocks) compress, blocks: hash plain input, blocks+1: sink previous batch.
            withoutActuallyEscaping(sink) { sink in
                let sinkBox = SinkBox(call: sink)
                DispatchQueue.concurrentPerform(iterations: batchBlocks + 2) { i in
                    do {
                        if i < batchBlocks {
                            let n = compressors.gzip(input.buffer(i, length: input.lengths[i]), into: output.fullBuffer(i), slot: i)
                            guard n > 0 else { throw BackupError(.io, "Compression failed.", detail: "libdeflate returned 0") }
                            output.lengths[i] = n
                        } else if i == batchBlocks {
                            for b in 0..<batchBlocks {
                                let plain: UnsafeRawBufferPointer = input.buffer(b, length: input.lengths[b])
                                hasher.update(plain)
                                inspect?(plain)
                            }
                        } else if let toSink {
                            for b in 0..<toSink.count { try sinkBox.call(toSink.set.buffer(b, length: toSink.set.lengths[b])) }
                        }
                    } catch {
                        failure.record(error)
                    }
                }
            }
            if let error = failure.error { throw error }
            if let toSink { memberSizes += toSink.set.lengths[0..<toSink.count] }
            pending = blocks > 0 ? (output, blocks) : nil
            batch += 1
            progress?(position)
        }
        return Result(plainSize: position, plainSHA256: hasher.finish(), memberSizes: memberSizes)
    }

    /// Decompresses members of known compressed sizes read from `fd` starting at `offset`,
    /// in parallel, handing plain bytes to `sink` in order. Each member's CRC-32 and length are
    /// checked by libdeflate, so a flipped bit is an error here, not silent garbage.
    public func decompress(
        fd: Int32, offset: UInt64, memberSizes: [Int], maxMemberPlainSize: Int,
        sink: (UnsafeRawBufferPointer) throws -> Void,
        progress: ((UInt64) -> Void)? = nil
    ) throws -> (plainSize: UInt64, plainSHA256: String) {
        guard let largest = memberSizes.max() else {
            let hasher = StreamingSHA256()
            return (0, hasher.finish())
        }
        guard largest > 0, largest <= CompressorPool.bound(maxMemberPlainSize), maxMemberPlainSize <= 64 << 20 else {
            throw BackupError(.corruptArchive, "The archive's database entry is damaged.", detail: "implausible gzip member table")
        }
        let perBatch = workers * 2
        let input = BufferSet(count: perBatch, size: largest)
        let outputs = [BufferSet(count: perBatch, size: maxMemberPlainSize), BufferSet(count: perBatch, size: maxMemberPlainSize)]
        defer { input.deallocate(); outputs.forEach { $0.deallocate() } }
        let decompressors = DecompressorPool(count: perBatch)
        defer { decompressors.free() }
        let hasher = StreamingSHA256()
        let failure = FailureBox()
        var position = offset
        var next = 0
        var plainSize: UInt64 = 0
        var pending: (set: BufferSet, count: Int)? = nil
        var batch = 0
        while next < memberSizes.count || pending != nil {
            var blocks = 0
            while blocks < perBatch, next < memberSizes.count {
                let want = memberSizes[next]
                let got = try POSIXFile.pread(fd, into: input.buffer(blocks, length: want), at: position)
                guard got == want else {
                    throw BackupError(.corruptArchive, "The archive is truncated.", detail: "gzip member \(next) short read")
                }
                input.lengths[blocks] = got
                position += UInt64(got)
                next += 1
                blocks += 1
            }
            let output = outputs[batch % 2]
            let toSink = pending
            let batchBlocks = blocks
            withoutActuallyEscaping(sink) { sink in
                let sinkBox = SinkBox(call: sink)
                DispatchQueue.concurrentPerform(iterations: batchBlocks + 1) { i in
                    do {
                        if i < batchBlocks {
                            output.lengths[i] = try decompressors.gunzip(
                                input.buffer(i, length: input.lengths[i]), into: output.fullBuffer(i), slot: i)
                        } else if let toSink {
                            for b in 0..<toSink.count {
                                let plain: UnsafeRawBufferPointer = toSink.set.buffer(b, length: toSink.set.lengths[b])
                                hasher.update(plain)
                                try sinkBox.call(plain)
                            }
                        }
                    } catch {
                        failure.record(error)
                    }
                }
            }
            if let error = failure.error { throw error }
            if let toSink { plainSize += toSink.set.lengths[0..<toSink.count].reduce(0) { $0 + UInt64($1) } }
            pending = blocks > 0 ? (output, blocks) : nil
            batch += 1
            progress?(position - offset)
        }
        return (plainSize, hasher.finish())
    }
}

// MARK: - Plumbing shared by the worker iterations. Each slot is touched by one iteration at a time.

private final class BufferSet: @unchecked Sendable {
    let storage: [UnsafeMutableRawBufferPointer]
    /// Raw memory, not an Array: worker iterations write their own slot concurrently.
    let lengths: UnsafeMutableBufferPointer<Int>
    init(count: Int, size: Int) {
        // Large allocations are mmap'd: untouched pages cost no memory, so a bound-sized
        // output buffer only becomes resident as far as compressed data reaches.
        storage = (0..<count).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, 1), alignment: 64) }
        lengths = .allocate(capacity: count)
        lengths.initialize(repeating: 0)
    }
    func buffer(_ i: Int, length: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: storage[i][0..<length])
    }
    func buffer(_ i: Int, length: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: storage[i][0..<length])
    }
    func fullBuffer(_ i: Int) -> UnsafeMutableRawBufferPointer { storage[i] }
    func deallocate() {
        storage.forEach { $0.deallocate() }
        lengths.deallocate()
    }
}

private final class CompressorPool: @unchecked Sendable {
    let compressors: [OpaquePointer]
    init(count: Int, level: Int32) {
        compressors = (0..<count).map { _ in libdeflate_alloc_compressor(level)! }
    }
    static func bound(_ size: Int) -> Int {
        let c = libdeflate_alloc_compressor(1)!
        defer { libdeflate_free_compressor(c) }
        return libdeflate_gzip_compress_bound(c, size)
    }
    func gzip(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, slot: Int) -> Int {
        libdeflate_gzip_compress(compressors[slot], input.baseAddress, input.count, output.baseAddress, output.count)
    }
    func free() { compressors.forEach { libdeflate_free_compressor($0) } }
}

private final class DecompressorPool: @unchecked Sendable {
    let decompressors: [OpaquePointer]
    init(count: Int) { decompressors = (0..<count).map { _ in libdeflate_alloc_decompressor()! } }
    func gunzip(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, slot: Int) throws -> Int {
        var inUsed = 0
        var outUsed = 0
        let rc = libdeflate_gzip_decompress_ex(
            decompressors[slot], input.baseAddress, input.count, output.baseAddress, output.count, &inUsed, &outUsed)
        guard rc == LIBDEFLATE_SUCCESS, inUsed == input.count else {
            throw BackupError(.corruptArchive, "The archive's database entry is damaged (a compressed block does not check out).",
                              detail: "libdeflate result \(rc.rawValue), consumed \(inUsed) of \(input.count)")
        }
        return outUsed
    }
    func free() { decompressors.forEach { libdeflate_free_decompressor($0) } }
}

private final class FailureBox: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var error: (any Error)?
    func record(_ e: any Error) { lock.withLock { if error == nil { error = e } } }
}

/// The sink runs in exactly one iteration per batch, never concurrently with itself.
private struct SinkBox: @unchecked Sendable {
    let call: (UnsafeRawBufferPointer) throws -> Void
}
