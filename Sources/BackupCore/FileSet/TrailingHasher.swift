import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Computes an archive's SHA-256 by reading it back from the file (mapped, not copied) while the writer
/// is still adding to it, on its own thread, following `ZipWriter.stableOffset` (bytes before it never change again).
/// The archive's checksum is one sequential SHA-256 over gigabytes; overlapping it with the writing
/// instead of running it afterwards takes it off the critical path of a file backup.
final class TrailingHasher: @unchecked Sendable {
    private let fd: Int32
    private let condition = NSCondition()
    private var available: UInt64 = 0
    private var finalSize: UInt64?
    private var cancelled = false
    private var result: Swift.Result<String, any Error>?
    private let done = DispatchSemaphore(value: 0)

    init(reading url: URL) throws {
        fd = try POSIXFile.openForReading(url)
        let thread = Thread { [self] in run() }
        thread.name = "archive-sha256"
        thread.start()
    }

    deinit { close(fd) }

    /// Bytes before `offset` are final and may be hashed.
    func advance(to offset: UInt64) {
        condition.lock()
        if offset > available {
            available = offset
            condition.signal()
        }
        condition.unlock()
    }

    /// The archive is complete at `size` bytes: waits for the hash of all of it.
    func finish(size: UInt64) throws -> String {
        condition.lock()
        available = size
        finalSize = size
        condition.signal()
        condition.unlock()
        done.wait()
        return try result!.get()
    }

    /// Stops the thread (the archive failed); safe to call at any time, and more than once.
    func cancel() {
        condition.lock()
        let running = result == nil && !cancelled
        cancelled = true
        condition.signal()
        condition.unlock()
        if running { done.wait() }
    }

    private func run() {
        // Mapped pages count in the resident set while mapped: small windows keep that at 2 MiB.
        let chunk = 2 << 20
        var hasher = SHA256()
        var position: UInt64 = 0
        let outcome: Swift.Result<String, any Error>
        do {
            while true {
                condition.lock()
                while !cancelled, position >= available, finalSize == nil || position < finalSize! {
                    condition.wait()
                }
                let target = available, final = finalSize, stop = cancelled
                condition.unlock()
                if stop { throw BackupError(.interrupted, "cancelled") }
                if let final, position >= final { break }
                while position < target {
                    let want = Int(min(UInt64(chunk), target - position))
                    try MappedFile.withBytes(fd, at: position, count: want) { hasher.update(bufferPointer: $0) }
                    position += UInt64(want)
                }
            }
            outcome = .success(Hex.string(hasher.finalize()))
        } catch {
            outcome = .failure(error)
        }
        condition.lock()
        result = outcome
        condition.unlock()
        done.signal()
    }
}
