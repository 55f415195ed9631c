import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Opens files below a root folder one path component at a time with O_NOFOLLOW, so a folder that
/// was swapped for a symbolic link after the walk can never lead a read outside the root. Keeps the
/// last folder open: files come in walk order, so most opens are one `openat` in a cached folder.
/// Not thread-safe; each reader thread has its own.
final class BeneathRoot {
    private let rootFD: Int32
    private var cachedPath: String?
    private var cachedFD: Int32 = -1
    /// O_NOATIME spares an inode write per file and per backup; only the owner or root may use it.
    private var noAtime = true
    private static let O_NOATIME: Int32 = 0o1000000  // <fcntl.h>, Linux; Glibc's module map does not export it

    init(_ root: URL) throws {
        rootFD = open(root.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard rootFD >= 0 else { throw POSIXFile.errnoError("open", root) }
    }

    deinit {
        if cachedFD >= 0 { close(cachedFD) }
        close(rootFD)
    }

    /// Opens `relative` for reading; returns -1 with `errno` set on failure (ENOENT, ELOOP for a link...).
    func openFile(_ relative: String) -> Int32 {
        let (folder, name) = Self.split(relative)
        guard let dir = directory(folder) else { return -1 }
        let flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY
        if noAtime {
            let fd = openat(dir, name, flags | Self.O_NOATIME)
            if fd >= 0 || errno != EPERM { return fd }
            noAtime = false
        }
        return openat(dir, name, flags)
    }

    /// The folder `folder` below the root, opened without following links (cached; do not close it).
    /// Nil with `errno` set when it does not exist or is not a real folder.
    func directory(_ folder: String) -> Int32? {
        if folder.isEmpty { return rootFD }
        if folder == cachedPath { return cachedFD }
        if cachedFD >= 0 { close(cachedFD); cachedFD = -1; cachedPath = nil }
        var current = rootFD
        for component in folder.split(separator: "/") {
            let next = openat(current, String(component), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            let saved = errno
            if current != rootFD { close(current) }
            guard next >= 0 else { errno = saved; return nil }
            current = next
        }
        cachedFD = current
        cachedPath = folder
        return current
    }

    /// Creates the missing folders of `folder` below the root with `mode` (and `owner`), never
    /// following a link: a link where a folder should be fails with ELOOP/ENOTDIR.
    func makeFolders(_ folder: String, mode: mode_t, owner: (uid_t, gid_t)?) throws {
        guard !folder.isEmpty, directory(folder) == nil else { return }
        var current = rootFD
        defer { if current != rootFD { close(current) } }
        for component in folder.split(separator: "/").map(String.init) {
            if mkdirat(current, component, mode) == 0 {
                fchmodat(current, component, mode, 0)  // mkdir applies the umask
                if let owner { fchownat(current, component, owner.0, owner.1, AT_SYMLINK_NOFOLLOW) }
            } else if errno != EEXIST {
                throw BackupError(.io, "Could not create the folder \(folder): \(String(cString: strerror(errno)))")
            }
            let next = openat(current, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard next >= 0 else {
                throw BackupError(.unsafeArchive, "\(folder) in the uploads folder is not a real folder (a link or a file); nothing more was restored.")
            }
            if current != rootFD { close(current) }
            current = next
        }
    }

    static func split(_ relative: String) -> (folder: String, name: String) {
        guard let slash = relative.lastIndex(of: "/") else { return ("", relative) }
        return (String(relative[..<slash]), String(relative[relative.index(after: slash)...]))
    }
}
