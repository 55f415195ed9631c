import CLibDeflate
import Crypto
import Foundation

/// Gzip for large files on all cores: the input is cut into fixed-size blocks, each compressed
/// by libdeflate into its own gzip member. A multi-member gzip is standard (RFC 1952), so `gunzip`
/// reads the result; recording the members' sizes lets us decompress in parallel too.
///
/// Both directions run on a pipeline without barriers (`BlockPipeline`): every worker
/// (de)compresses the next block, and whichever worker is free hashes and hands on the oldest
/// finished block, in order. Memory is bounded by a few blocks in flight, whatever the file size.
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
        /// Blocks whose member came from `precompressed` rather than being compressed here.
        public var reusedMembers = 0
    }

    /// Compresses the first `size` bytes of `fd`, calling `sink` with each member in order.
    /// `inspect` sees the plain bytes in order, block by block (used to index the database's pages
    /// in the same pass). `precompressed` offers members made earlier for some blocks; each is used
    /// only if its CRC-32 and length match the block's bytes now.
    public func compress(
        fd: Int32, size: UInt64,
        sink: (UnsafeRawBufferPointer) throws -> Void,
        inspect: (@Sendable (UnsafeRawBufferPointer) -> Void)? = nil,
        precompressed: (any PrecompressedMembers)? = nil,
        progress: ((UInt64) -> Void)? = nil
    ) throws -> Result {
        try compress(size: size, read: { buffer, position in try POSIXFile.pread(fd, into: buffer, at: position) },
                     sink: sink, inspect: inspect, precompressed: precompressed, progress: progress)
    }

    /// The same, for bytes that are not one file: `read` fills a buffer with the bytes at a position.
    /// `read`, `sink`, `inspect` and `progress` may run on any worker, but never two at once.
    public func compress(
        size: UInt64,
        read: (UnsafeMutableRawBufferPointer, UInt64) throws -> Int,
        sink: (UnsafeRawBufferPointer) throws -> Void,
        inspect: (@Sendable (UnsafeRawBufferPointer) -> Void)? = nil,
        precompressed: (any PrecompressedMembers)? = nil,
        progress: ((UInt64) -> Void)? = nil
    ) throws -> Result {
        let blockCount = Int((size + UInt64(blockSize) - 1) / UInt64(blockSize))
        let slots = workers * 2
        let input = BufferSet(count: slots, size: blockSize)
        let output = BufferSet(count: slots, size: CompressorPool.bound(blockSize))
        defer { input.deallocate(); output.deallocate() }
        let compressors = CompressorPool(count: workers, level: level)
        defer { compressors.free() }
        let hasher = StreamingSHA256()
        var memberSizes: [Int] = []
        memberSizes.reserveCapacity(blockCount)
        var reused = 0
        let blockSize = blockSize

        try withoutActuallyEscaping(read) { read in
            try withoutActuallyEscaping(sink) { sink in
                try withoutActuallyEscaping(progress ?? { _ in }) { progress in
                    // The closures are called under the pipeline's rules: reads one at a time, the
                    // in-order steps (hash, inspect, sink, progress) one at a time.
                    let calls = UnsafeSendable((read, sink, progress))
                    let tally = UnsafeSendable(MemberTally())
                    let reading = NSLock()
                    try BlockPipeline(blockCount: blockCount, slots: slots, workers: workers).run(
                        produce: { block, slot, worker in
                            let position = UInt64(block) * UInt64(blockSize)
                            let want = Int(min(UInt64(blockSize), size - position))
                            let plain = input.buffer(slot, length: want) as UnsafeMutableRawBufferPointer
                            let got = try reading.withLock { try calls.value.0(plain, position) }
                            guard got == want else {
                                throw BackupError(.io, "The snapshot changed size while it was being compressed.", detail: "short read at \(position)")
                            }
                            input.lengths[slot] = got
                            let bytes = UnsafeRawBufferPointer(plain)
                            // An early member that cannot be read is one less head start, not an error.
                            if let n = (try? precompressed?.member(forBlock: block, into: output.fullBuffer(slot))) ?? nil,
                               GzipTrailer(member: UnsafeRawBufferPointer(rebasing: output.fullBuffer(slot)[0..<n]))?.matches(bytes) == true {
                                output.lengths[slot] = n
                                tally.value.reused()
                                return
                            }
                            let n = compressors.gzip(bytes, into: output.fullBuffer(slot), slot: worker)
                            guard n > 0 else { throw BackupError(.io, "Compression failed.", detail: "libdeflate returned 0") }
                            output.lengths[slot] = n
                        },
                        finish: { _, slot in
                            let plain: UnsafeRawBufferPointer = input.buffer(slot, length: input.lengths[slot])
                            hasher.update(plain)
                            inspect?(plain)
                            try calls.value.1(output.buffer(slot, length: output.lengths[slot]))
                            tally.value.finished(memberSize: output.lengths[slot], plain: plain.count)
                            calls.value.2(tally.value.plainDone)
                        })
                    memberSizes = tally.value.memberSizes
                    reused = tally.value.reusedCount
                }
            }
        }
        return Result(plainSize: size, plainSHA256: hasher.finish(), memberSizes: memberSizes, reusedMembers: reused)
    }

    /// Decompresses members of known compressed sizes read from `fd` starting at `offset`,
    /// in parallel, handing plain bytes to `sink` in order. Each member's CRC-32 and length are
    /// checked by libdeflate, so a flipped bit is an error here, not silent garbage.
    ///
    /// The output is exactly `plainSize` bytes, cut as `compress` cuts it: every member but the last
    /// inflates to exactly `blockSize` bytes, the last to the rest. A member that would inflate to more
    /// is stopped by its output buffer (of exactly the size it must have) before anything of it reaches
    /// `sink`: a gzip bomb costs a refusal, never a full disk.
    public func decompress(
        fd: Int32, offset: UInt64, memberSizes: [Int], blockSize: Int, plainSize expected: UInt64,
        sink: (UnsafeRawBufferPointer) throws -> Void,
        progress: ((UInt64) -> Void)? = nil
    ) throws -> (plainSize: UInt64, plainSHA256: String) {
        @Sendable func damaged(_ why: String) -> BackupError {
            BackupError(.corruptArchive, "The archive's database entry is damaged.", detail: why)
        }
        guard blockSize > 0, blockSize <= 64 << 20 else { throw damaged("implausible gzip block size \(blockSize)") }
        let memberCount = expected / UInt64(blockSize) + (expected % UInt64(blockSize) == 0 ? 0 : 1)
        guard UInt64(memberSizes.count) == memberCount else {
            throw damaged("\(memberSizes.count) gzip members for \(expected) bytes in blocks of \(blockSize)")
        }
        guard let largest = memberSizes.max() else {
            let hasher = StreamingSHA256()
            return (0, hasher.finish())
        }
        guard memberSizes.allSatisfy({ $0 > 0 }), largest <= CompressorPool.bound(blockSize) else {
            throw damaged("implausible gzip member table")
        }
        let lastPlain = Int(expected - (memberCount - 1) * UInt64(blockSize))
        let maxMemberPlainSize = blockSize
        // Where each member starts: the running sum of the sizes before it.
        let offsets = memberSizes.reduce(into: [offset]) { $0.append($0.last! + UInt64($1)) }
        let slots = workers * 2
        let input = BufferSet(count: slots, size: largest)
        let output = BufferSet(count: slots, size: maxMemberPlainSize)
        defer { input.deallocate(); output.deallocate() }
        let decompressors = DecompressorPool(count: workers)
        defer { decompressors.free() }
        let hasher = StreamingSHA256()
        var plainSize: UInt64 = 0

        try withoutActuallyEscaping(sink) { sink in
            try withoutActuallyEscaping(progress ?? { _ in }) { progress in
                // `sink` and `progress` run in the in-order step only, one call at a time.
                let calls = UnsafeSendable((sink, progress))
                let done = UnsafeSendable(RunningTotal())
                try BlockPipeline(blockCount: memberSizes.count, slots: slots, workers: workers).run(
                    produce: { member, slot, worker in
                        let want = memberSizes[member]
                        let got = try POSIXFile.pread(fd, into: input.buffer(slot, length: want), at: offsets[member])
                        guard got == want else {
                            throw BackupError(.corruptArchive, "The archive is truncated.", detail: "gzip member \(member) short read")
                        }
                        // Room for exactly what this member must hold: more fails inside libdeflate.
                        let plain = member == memberSizes.count - 1 ? lastPlain : maxMemberPlainSize
                        let inflated = try decompressors.gunzip(
                            input.buffer(slot, length: want), into: output.buffer(slot, length: plain) as UnsafeMutableRawBufferPointer, slot: worker)
                        guard inflated == plain else {
                            throw damaged("gzip member \(member) holds \(inflated) bytes, not \(plain)")
                        }
                        output.lengths[slot] = inflated
                    },
                    finish: { member, slot in
                        let plain: UnsafeRawBufferPointer = output.buffer(slot, length: output.lengths[slot])
                        hasher.update(plain)
                        try calls.value.0(plain)
                        done.value.add(UInt64(plain.count))
                        calls.value.1(offsets[member] + UInt64(memberSizes[member]) - offset)
                    })
                plainSize = done.value.total
            }
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

final class CompressorPool: @unchecked Sendable {
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

/// A running total kept by the in-order step alone.
private final class RunningTotal {
    private(set) var total: UInt64 = 0
    func add(_ n: UInt64) { total += n }
}

/// What the in-order step has handed on so far. Touched by one worker at a time (the pipeline's
/// finisher), except `reused`, which is locked.
private final class MemberTally {
    var memberSizes: [Int] = []
    var plainDone: UInt64 = 0
    private let lock = NSLock()
    private var reusedBlocks = 0
    func finished(memberSize: Int, plain: Int) {
        memberSizes.append(memberSize)
        plainDone += UInt64(plain)
    }
    func reused() { lock.withLock { reusedBlocks += 1 } }
    var reusedCount: Int { lock.withLock { reusedBlocks } }
}

/// Members compressed before the compression proper, one per block at most (see `CompressingSnapshot`).
public protocol PrecompressedMembers: Sendable {
    /// Copies block `block`'s member into `buffer` and returns its length; nil when there is none,
    /// or when the block may have changed since. The caller still checks the member's CRC-32.
    func member(forBlock block: Int, into buffer: UnsafeMutableRawBufferPointer) throws -> Int?
}

/// The last 8 bytes of a gzip member: CRC-32 and length (mod 2^32) of the plain bytes (RFC 1952).
struct GzipTrailer {
    var crc32: UInt32
    var size: UInt32

    init?(member: UnsafeRawBufferPointer) {
        guard member.count >= 18 else { return nil }  // the smallest member: 10-byte header, empty block, trailer
        crc32 = member.loadUnaligned(fromByteOffset: member.count - 8, as: UInt32.self).littleEndian
        size = member.loadUnaligned(fromByteOffset: member.count - 4, as: UInt32.self).littleEndian
    }

    func matches(_ plain: UnsafeRawBufferPointer) -> Bool {
        size == UInt32(truncatingIfNeeded: plain.count)
            && crc32 == UInt32(truncatingIfNeeded: libdeflate_crc32(0, plain.baseAddress, plain.count))
    }
}
