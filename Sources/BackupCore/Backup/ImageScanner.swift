import Foundation

/// Reads an image once, on all cores: the SHA-256 of the whole file and the fingerprint of each page.
/// With the previous image at hand (the kept hourly image), a page whose bytes equal its previous
/// version's takes that version's fingerprint instead of being hashed again: the SHA-256 of the whole
/// file on one core is then nearly all the work, and the next batch is read while it runs.
struct ImageScanner {
    let pageSize: Int
    var batchBytes = 2 << 20
    let workers = max(2, ProcessInfo.processInfo.activeProcessorCount)

    /// One batch of the image (and of the previous image, if any), read ahead of its hashing.
    private final class Batch: @unchecked Sendable {
        let bytes: UnsafeMutableRawBufferPointer
        let old: UnsafeMutableRawBufferPointer?
        var length = 0
        var oldLength = 0
        var position: UInt64 = 0
        init(capacity: Int, withOld: Bool) {
            bytes = .allocate(byteCount: capacity, alignment: 64)
            old = withOld ? .allocate(byteCount: capacity, alignment: 64) : nil
        }
        deinit { bytes.deallocate(); old?.deallocate() }
    }

    /// Returns the SHA-256 of the whole image. Batch by batch, in page order, it asks `previousHashes`
    /// for the next pages' fingerprints in the previous image (fewer, or none, past its end) and hands
    /// `batch` the batch's first page number, its pages' fingerprints and those previous ones: nothing
    /// here grows with the image (issue 15: an hourly's memory stays flat).
    func scan(fd: Int32, size: UInt64, previous: ParentPages? = nil,
              previousHashes: (_ count: Int) throws -> [PageHash],
              batch onBatch: (_ firstPage: Int, _ hashes: [PageHash], _ previous: [PageHash]) throws -> Void,
              progress: ((UInt64) -> Void)? = nil) throws -> String {
        let batches = [Batch(capacity: batchBytes, withOld: previous != nil), Batch(capacity: batchBytes, withOld: previous != nil)]
        let whole = StreamingSHA256()
        let pageSize = pageSize
        let parts = workers - 1  // one core hashes the whole file, the others fingerprint pages and read ahead
        let slots = ScanSlots(count: parts)
        let readFailure = Outcome<Void>()
        readFailure.set {}

        @Sendable func read(_ batch: Batch, at position: UInt64) throws {
            batch.position = position
            batch.length = Int(min(UInt64(batchBytes), size - position))
            let got = try POSIXFile.pread(fd, into: UnsafeMutableRawBufferPointer(rebasing: batch.bytes[0..<batch.length]), at: position)
            guard got == batch.length else { throw BackupError(.io, "The snapshot ended early.", detail: "at \(position)") }
            if let old = batch.old, let previous {
                batch.oldLength = previous.read(into: UnsafeMutableRawBufferPointer(rebasing: old[0..<batch.length]), at: position)
            }
        }

        var firstPage = 0
        if size > 0 { try read(batches[0], at: 0) }
        var k = 0
        while batches[k % 2].length > 0 {
            let batch = batches[k % 2], next = batches[(k + 1) % 2]
            let nextPosition = batch.position + UInt64(batch.length)
            next.length = 0
            let known = UnsafeSendable(try previousHashes((batch.length + pageSize - 1) / pageSize))
            let pagesPerPart = (batch.length / pageSize + parts - 1) / parts
            // Iteration 0 hashes the whole batch; each other fingerprints its share of the pages; the
            // last one also reads the next batch into the other buffers.
            DispatchQueue.concurrentPerform(iterations: parts + 1) { i in
                if i == 0 {
                    whole.update(UnsafeRawBufferPointer(rebasing: batch.bytes[0..<batch.length]))
                    return
                }
                let from = min((i - 1) * pagesPerPart * pageSize, batch.length)
                let to = min(from + pagesPerPart * pageSize, batch.length)
                let view = UnsafeRawBufferPointer(rebasing: batch.bytes[from..<to])
                let builder = PageIndexBuilder(pageSize: pageSize)
                let start = min(from / pageSize, known.value.count)
                if let old = batch.old, from < batch.oldLength {
                    let end = min(start + (to - from) / pageSize + 1, known.value.count)
                    builder.add(view, previous: UnsafeRawBufferPointer(rebasing: old[from..<min(to, batch.oldLength)]),
                                previousHashes: known.value[start..<end])
                } else {
                    builder.add(view)
                }
                slots.store(builder.hashes, at: i - 1)
                if i == parts, nextPosition < size {
                    readFailure.set { try read(next, at: nextPosition) }
                }
            }
            try readFailure.get()
            var hashes: [PageHash] = []
            for i in 0..<parts { hashes += slots.take(i) }
            try onBatch(firstPage, hashes, known.value)
            firstPage += hashes.count
            progress?(nextPosition)
            k += 1
        }
        return whole.finish()
    }
}

private final class ScanSlots: @unchecked Sendable {
    private var slots: [[PageHash]]
    private let lock = NSLock()
    init(count: Int) { slots = Array(repeating: [], count: count) }
    func store(_ hashes: [PageHash], at i: Int) { lock.withLock { slots[i] = hashes } }
    func take(_ i: Int) -> [PageHash] { lock.withLock { defer { slots[i] = [] }; return slots[i] } }
}
