import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Who may sweep `tmp/`. Work that runs without the job lock (`caps-backup verify`, the server's check
/// of an uploaded archive) holds this lock shared while its scratch folder exists; crash recovery
/// (`JobRecovery`, in whichever process starts the next job) files away strays only when it can take
/// the lock exclusively, so it never moves a folder that a verify in another process is working in.
/// flock(2), like `JobLock`: the kernel drops it when its process dies, so a crashed verify's folder
/// is swept by the next recovery.
final class ScratchLock {
    private let fd: Int32

    private init(fd: Int32) { self.fd = fd }

    /// Shared, waiting while a recovery sweeps (milliseconds).
    static func share(_ dataDirectory: DataDirectory) throws -> ScratchLock {
        try take(dataDirectory, LOCK_SH)!
    }

    /// Exclusive, or nil at once when any verify holds it shared.
    static func trySweep(_ dataDirectory: DataDirectory) throws -> ScratchLock? {
        try take(dataDirectory, LOCK_EX | LOCK_NB)
    }

    private static func take(_ dataDirectory: DataDirectory, _ operation: Int32) throws -> ScratchLock? {
        let url = dataDirectory.scratchLockFile
        try POSIXFile.makePrivateDirectory(dataDirectory.root)
        let fd = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC, POSIXFile.privateFileMode)
        guard fd >= 0 else { throw POSIXFile.errnoError("open", url) }
        while flock(fd, operation) != 0 {
            let code = errno
            if code == EINTR { continue }
            close(fd)
            if code == EWOULDBLOCK { return nil }
            errno = code
            throw POSIXFile.errnoError("flock", url)
        }
        return ScratchLock(fd: fd)
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}

/// A scratch folder under `tmp/` for work outside the job lock, removed with its lock when done.
public final class UnlockedScratch {
    public let url: URL
    private let lock: ScratchLock

    public init(_ dataDirectory: DataDirectory, name: String) throws {
        lock = try ScratchLock.share(dataDirectory)
        url = dataDirectory.tmp.appendingPathComponent("\(name)-\(UUID().uuidString.lowercased())")
        try POSIXFile.makePrivateDirectory(dataDirectory.tmp)
    }

    deinit { try? FileManager.default.removeItem(at: url) }
}
