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
        guard PathBytes.isName(name) else { errno = EINVAL; return -1 }
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
        // Bytes, not `==`: String equality holds two spellings of "é" (two different folders) equal.
        if let cachedPath, folder.utf8.elementsEqual(cachedPath.utf8) { return cachedFD }
        if cachedFD >= 0 { close(cachedFD); cachedFD = -1; cachedPath = nil }
        let components = PathBytes.components(folder)
        guard components.allSatisfy(PathBytes.isName) else { errno = EINVAL; return nil }
        var current = rootFD
        for component in components {
            let next = openat(current, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
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
        let components = PathBytes.components(folder)
        guard components.allSatisfy(PathBytes.isName) else {
            throw BackupError(.unsafeArchive, "The folder name \(folder.debugDescription) is not safe; nothing more was restored.")
        }
        var current = rootFD
        defer { if current != rootFD { close(current) } }
        for component in components {
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

    /// The folder and the name of `relative`, split at its last `/` byte (see `PathBytes`).
    static func split(_ relative: String) -> (folder: String, name: String) {
        PathBytes.split(relative)
    }
}

/// Paths as the kernel sees them: bytes, separated by the byte 0x2F. Swift's `String` works on grapheme
/// clusters, and a `/` followed by a combining mark (U+0301, U+20DD...) or a joiner (U+200D, U+FE0F) is
/// one `Character` that is not `"/"`: `split(separator: "/")`, `lastIndex(of: "/")` and `hasPrefix` do not
/// see that separator, while `open(2)` does, and follows a symbolic link before it. Every path below a
/// root is taken apart here, and every name handed to an `*at` call is checked with `isName`.
enum PathBytes {
    static let slash = UInt8(ascii: "/")

    /// The components of a relative path, split at every `/` byte; empty components are dropped.
    /// Each piece is exact: a `/` byte never falls inside a multi-byte UTF-8 sequence.
    static func components(_ path: String) -> [String] {
        path.utf8.split(separator: slash).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The folder (possibly empty) and the last name of a relative path, split at its last `/` byte.
    static func split(_ path: String) -> (folder: String, name: String) {
        let bytes = Array(path.utf8)
        guard let slash = bytes.lastIndex(of: slash) else { return ("", path) }
        return (String(decoding: bytes[..<slash], as: UTF8.self), String(decoding: bytes[(slash + 1)...], as: UTF8.self))
    }

    /// Whether `name` can be handed to an `*at` call as one directory entry: not empty, no `/` byte
    /// (which the kernel would treat as a separator, following any link before it), not `.` or `..`.
    static func isName(_ name: String) -> Bool {
        let bytes = name.utf8
        return !bytes.isEmpty && !bytes.contains(slash) && !bytes.contains(0)
            && !bytes.elementsEqual(".".utf8) && !bytes.elementsEqual("..".utf8)
    }

    /// `path` starts with `prefix`, byte for byte (not `hasPrefix`, which compares characters).
    static func hasPrefix(_ path: String, _ prefix: String) -> Bool {
        path.utf8.starts(with: prefix.utf8)
    }

    /// `path` without its first `prefix.utf8.count` bytes (call after `hasPrefix`).
    static func dropPrefix(_ path: String, _ prefix: String) -> String {
        String(decoding: path.utf8.dropFirst(prefix.utf8.count), as: UTF8.self)
    }
}
