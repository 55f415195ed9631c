import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// "One job at a time", held with flock(2): the kernel drops it when the process dies, so a
/// crash never leaves a stale lock behind (the trouble Borg users know).
public final class JobLock {
    private let fd: Int32

    private init(fd: Int32) { self.fd = fd }

    /// Takes the lock, or returns nil at once when another process holds it.
    public static func tryAcquire(_ dataDirectory: DataDirectory) throws -> JobLock? {
        let fd = open(dataDirectory.lockFile.path, O_RDWR | O_CREAT | O_CLOEXEC, POSIXFile.privateFileMode)
        guard fd >= 0 else { throw POSIXFile.errnoError("open", dataDirectory.lockFile) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            close(fd)
            return nil
        }
        return JobLock(fd: fd)
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
