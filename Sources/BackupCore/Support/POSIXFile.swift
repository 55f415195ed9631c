import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Thin, explicit wrappers around the POSIX calls whose exact behaviour matters for a backup:
/// creation modes (0600/0700), fsync of files and directories, atomic rename.
public enum POSIXFile {
    public static let privateFileMode: mode_t = 0o600
    public static let privateDirectoryMode: mode_t = 0o700

    /// Creates `url` and its missing parents with mode 0700, and tightens an existing directory to 0700.
    public static func makePrivateDirectory(_ url: URL) throws {
        try FileManager.default.createDirectory(
            at: url, withIntermediateDirectories: true,
            attributes: [.posixPermissions: Int(privateDirectoryMode)])
        guard chmod(url.path, privateDirectoryMode) == 0 else { throw errnoError("chmod", url) }
    }

    /// Opens a new file for writing (and reading, if asked) with mode 0600 (umask cannot widen it: we chmod explicitly).
    public static func createPrivate(_ url: URL, exclusive: Bool = true, readable: Bool = false) throws -> Int32 {
        var flags = (readable ? O_RDWR : O_WRONLY) | O_CREAT | O_CLOEXEC
        flags |= exclusive ? O_EXCL : O_TRUNC
        let fd = open(url.path, flags, privateFileMode)
        guard fd >= 0 else { throw errnoError("open", url) }
        fchmod(fd, privateFileMode)
        return fd
    }

    public static func openForReading(_ url: URL) throws -> Int32 {
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw BackupError(.notFound, "File not found: \(url.path)") }
            throw errnoError("open", url)
        }
        return fd
    }

    public static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < buffer.count {
            let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                if errno == ENOSPC { throw BackupError(.insufficientSpace, "The disk is full.", detail: "write: ENOSPC") }
                throw BackupError(.io, "Could not write a file.", detail: "write: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }

    public static func pwriteAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, at position: UInt64) throws {
        var offset = 0
        while offset < buffer.count {
            let n = pwrite(fd, buffer.baseAddress! + offset, buffer.count - offset, off_t(position) + off_t(offset))
            if n < 0 {
                if errno == EINTR { continue }
                throw BackupError(.io, "Could not write a file.", detail: "pwrite: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }

    /// Reads up to `count` bytes at `position`; fewer only at end of file.
    public static func pread(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at position: UInt64) throws -> Int {
        var done = 0
        while done < buffer.count {
            let n = Glibc.pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(position) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw BackupError(.io, "Could not read a file.", detail: "pread: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    public static func fsyncFile(_ fd: Int32) throws {
        guard fsync(fd) == 0 else {
            throw BackupError(.io, "Could not flush a file to disk.", detail: "fsync: \(String(cString: strerror(errno)))")
        }
    }

    /// Makes a rename or create in `directory` durable.
    public static func fsyncDirectory(_ directory: URL) throws {
        let fd = open(directory.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw errnoError("open", directory) }
        defer { close(fd) }
        _ = fsync(fd)
    }

    /// rename(2): atomic within one filesystem; the published name appears complete or not at all.
    public static func rename(_ from: URL, to: URL) throws {
        guard Glibc.rename(from.path, to.path) == 0 else { throw errnoError("rename", from) }
    }

    public static func fileSize(_ url: URL) throws -> UInt64 {
        var st = stat()
        guard stat(url.path, &st) == 0 else { throw errnoError("stat", url) }
        return UInt64(st.st_size)
    }

    public static func mode(_ url: URL) throws -> mode_t {
        var st = stat()
        guard lstat(url.path, &st) == 0 else { throw errnoError("lstat", url) }
        return st.st_mode & 0o7777
    }

    public static func exists(_ url: URL) -> Bool {
        var st = stat()
        return lstat(url.path, &st) == 0
    }

    /// Free bytes available to this (unprivileged) user on the filesystem holding `url`.
    public static func availableBytes(at url: URL) throws -> UInt64 {
        var s = statvfs()
        guard statvfs(url.path, &s) == 0 else { throw errnoError("statvfs", url) }
        return UInt64(s.f_bavail) * UInt64(s.f_frsize)
    }

    static func errnoError(_ call: String, _ url: URL) -> BackupError {
        let code = errno
        let reason = String(cString: strerror(code))
        if code == ENOSPC { return BackupError(.insufficientSpace, "The disk is full.", detail: "\(call) \(url.path): \(reason)") }
        if code == ENOENT { return BackupError(.notFound, "Not found: \(url.path)", detail: "\(call): \(reason)") }
        return BackupError(.io, "Could not access \(url.path): \(reason)", detail: call)
    }
}
