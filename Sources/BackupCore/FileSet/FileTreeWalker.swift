import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A regular file found under the uploads folder, as lstat(2) saw it during the walk.
public struct FileCandidate: Sendable, Equatable {
    /// Relative to the uploads folder, `/`-separated, valid UTF-8.
    public var path: String
    public var size: UInt64
    public var modified: FileTime
    public var mode: UInt16
}

/// Something under the uploads folder that is not in the backup although no exclude pattern asked
/// for that, and why. Listed in the manifest, so nobody has to guess.
public struct SkippedFile: Codable, Sendable, Equatable {
    public var path: String
    public var reason: String
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
}

/// Walks the uploads folder: regular files only, in a stable order (names sorted per folder), without
/// following symbolic links (a link could lead out of the folder, and archives never hold links).
/// One lstat per entry, relative to an open directory (`fstatat`), so 52,000 files take a fraction
/// of a second.
public struct FileTreeWalker: Sendable {
    /// Folders a restore stages files in; never backed up, even if a crash left one behind.
    public static let stagingPrefix = ".caps-restore-"

    public let root: URL
    public let excludes: ExcludeMatcher
    /// Entries in the archive are named `namePrefix + path`; names the ZIP rules refuse are skipped.
    public let namePrefix: String

    public init(root: URL, excludes: ExcludeMatcher, namePrefix: String = "files/") {
        self.root = root
        self.excludes = excludes
        self.namePrefix = namePrefix
    }

    public struct Result: Sendable {
        public var files = FileList()
        public var skipped: [SkippedFile] = []
        public var totalBytes: UInt64 = 0
    }

    public func walk() throws -> Result {
        let rootFD = open(root.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard rootFD >= 0 else {
            if errno == ENOENT {
                throw BackupError(.notFound, "The uploads folder \(root.path) does not exist.")
            }
            throw POSIXFile.errnoError("open", root)
        }
        var result = Result()
        var seen = NormalizationDuplicates()
        // Depth-first, in sorted order: a stack of (directory fd, its relative path, names left).
        var stack: [(fd: Int32, path: String, names: [String])] = []
        stack.append((rootFD, "", try listNames(rootFD, path: "", into: &result)))
        defer { for frame in stack { close(frame.fd) } }
        while !stack.isEmpty {
            guard let name = stack[stack.count - 1].names.popLast() else {
                close(stack.removeLast().fd)
                continue
            }
            let dirFD = stack[stack.count - 1].fd
            let relative = stack[stack.count - 1].path.isEmpty ? name : stack[stack.count - 1].path + "/" + name
            var st = stat()
            guard fstatat(dirFD, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
                // Deleted between readdir and stat: it is simply not part of this backup.
                if errno != ENOENT { result.skipped.append(SkippedFile(path: relative, reason: "cannot be read: \(String(cString: strerror(errno)))")) }
                continue
            }
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                if excludes.excludes(directory: relative) { continue }
                let fd = openat(dirFD, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard fd >= 0 else {
                    result.skipped.append(SkippedFile(path: relative + "/", reason: "folder cannot be read: \(String(cString: strerror(errno)))"))
                    continue
                }
                let names: [String]
                do { names = try listNames(fd, path: relative, into: &result) } catch {
                    close(fd)
                    result.skipped.append(SkippedFile(path: relative + "/", reason: "folder cannot be read"))
                    continue
                }
                stack.append((fd, relative, names))
            case S_IFREG:
                if excludes.excludes(file: relative) { continue }
                if let problem = nameProblem(relative) {
                    result.skipped.append(SkippedFile(path: relative, reason: problem))
                    continue
                }
                guard seen.insert(relative, in: result.files) else {
                    result.skipped.append(SkippedFile(path: relative, reason: "its name differs from another file's only in Unicode normalization"))
                    continue
                }
                result.files.append(FileCandidate(path: relative, size: UInt64(st.st_size), modified: FileTime(st.st_mtim),
                                                  mode: UInt16(st.st_mode & 0o7777)))
                result.totalBytes += UInt64(st.st_size)
            case S_IFLNK:
                if excludes.excludes(file: relative) { continue }
                result.skipped.append(SkippedFile(path: relative, reason: "symbolic link (not followed; archives never hold links)"))
            default:
                if excludes.excludes(file: relative) { continue }
                result.skipped.append(SkippedFile(path: relative, reason: "not a regular file (device, socket or pipe)"))
            }
        }
        result.files.compact()
        return result
    }

    /// The names in a directory, sorted so that `popLast()` yields them in ascending order.
    /// Names that are not UTF-8 are recorded as skipped (a ZIP name must be UTF-8).
    private func listNames(_ fd: Int32, path: String, into result: inout Result) throws -> [String] {
        let dupFD = dup(fd)
        guard dupFD >= 0, let dir = fdopendir(dupFD) else {
            if dupFD >= 0 { close(dupFD) }
            throw BackupError(.io, "Could not read the folder \(path).")
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw -> String? in
                let bytes = raw.bindMemory(to: UInt8.self)
                let length = bytes.firstIndex(of: 0) ?? bytes.count
                let slice = UnsafeBufferPointer(rebasing: bytes[0..<length])
                if length == 1 && slice[0] == 46 || length == 2 && slice[0] == 46 && slice[1] == 46 { return "" }
                guard let text = String(validating: slice, as: UTF8.self) else {
                    result.skipped.append(SkippedFile(path: (path.isEmpty ? "" : path + "/") + String(decoding: slice, as: UTF8.self),
                                                      reason: "its name is not valid UTF-8"))
                    return nil
                }
                return text
            }
            guard let name, !name.isEmpty else { continue }
            if path.isEmpty && PathBytes.hasPrefix(name, Self.stagingPrefix) { continue }
            names.append(name)
        }
        // Byte order, not Unicode collation: the same order on every machine and cheap.
        names.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        names.reverse()
        return names
    }

    private func nameProblem(_ relative: String) -> String? {
        do {
            try ArchivePath.validate(namePrefix + relative)
            return nil
        } catch let error as BackupError {
            return "its name cannot be stored safely in a ZIP archive (\(error.detail ?? error.message))"
        } catch {
            return "its name cannot be stored safely in a ZIP archive"
        }
    }
}

/// Spots a path that differs from an earlier one only in Unicode normalization (`String`'s `==` holds
/// them equal), as a `Set<String>` of every path did, but keeps only each path's hash and the number of
/// its file in the walk (~20 bytes a file, during the walk only); a hash met again is checked with `==`.
struct NormalizationDuplicates {
    private var first: [Int: Int32] = [:]
    /// Paths whose hash was taken by a different path (practically never).
    private var collided: Set<String> = []

    /// False if `path` is `==` to a path already inserted; `files` holds those, in insertion order.
    mutating func insert(_ path: String, in files: FileList) -> Bool {
        let hash = path.hashValue
        guard let earlier = first[hash] else {
            first[hash] = Int32(files.count)
            return true
        }
        if files.withPath(Int(earlier), { String(decoding: $0, as: UTF8.self) }) == path { return false }
        return collided.insert(path).inserted
    }
}
