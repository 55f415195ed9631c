import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes a large file that was written without syncing (a backup's database snapshot: an hourly's, kept
/// for the next hourly, or a full's, kept for its integrity check) to disk on another thread, one chunk at
/// a time, each waited for before the next is started, at a capped rate.
///
/// Why: left alone, its GiB of dirty pages expire together 30 s later (`vm.dirty_expire_centisecs`) and
/// the kernel's flusher writes them in one burst, with the POS's commits queued behind it (issue 15; up to
/// 261 ms at +30 s after a monthly full on a 1 GiB store, docs/pos-latency.md). Here at most `chunk` bytes
/// of ours are in the disk's queue at any moment. `finish()` (the file stays) or `cancel()` (it goes) must
/// be called before the job ends: a process that exits leaves the rest to the flusher.
final class PacedWriteback: @unchecked Sendable {
    static let chunk: UInt64 = 4 << 20
    /// At full disk speed the chunks still held POS commits for 100+ ms in the job's first seconds (the
    /// trace in docs/pos-latency.md): at this rate a GiB takes 16 s, inside the ~19 s of its integrity check.
    static let bytesPerSecond: Double = 64 * 1024 * 1024
    private let stop = Locked(false)
    private let wake = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)
    private let progress = Locked<UInt64>(0)

    /// Bytes written out so far (read after `finish` or `cancel`).
    var written: UInt64 { progress.current }

    /// Starts at once; a file that cannot be opened is left to the kernel (best effort, never an error).
    init(_ file: URL, chunk: UInt64 = PacedWriteback.chunk, bytesPerSecond: Double = PacedWriteback.bytesPerSecond) {
        let fd = open(file.path, O_RDONLY | O_CLOEXEC)
        let size = (try? POSIXFile.fileSize(file)) ?? 0
        let thread = Thread { [stop, wake, done, progress] in
            defer { done.signal() }
            guard fd >= 0 else { return }
            defer { close(fd) }
            let started = DispatchTime.now()
            var offset: UInt64 = 0
            while offset < size, !stop.current {
                let count = min(chunk, size - offset)
                GlibcExtras.writeAndWait(fd, from: offset, count: count)
                offset += count
                progress.withLock { $0 = offset }
                // Ahead of the pace: wait (cancel wakes it).
                let due = started + .nanoseconds(Int(Double(offset) / bytesPerSecond * 1e9))
                if offset < size && DispatchTime.now() < due { _ = wake.wait(timeout: due) }
            }
        }
        thread.name = "caps-backup paced writeback"
        thread.start()
    }

    /// Waits until the whole file is on its way to disk (or `cancel` stopped it).
    func finish() { done.wait() }

    /// The file is about to be deleted: stop writing what nobody will read, then wait for the chunk in flight.
    func cancel() {
        stop.withLock { $0 = true }
        wake.signal()
        done.wait()
    }
}
