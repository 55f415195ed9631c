import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What identifies one version of a file. If any of it differs before and after a read, the file
/// changed while it was being read and the bytes may be a mix of two versions.
struct FileVersion: Equatable {
    var size: UInt64
    var modified: FileTime
    var changed: FileTime
    var inode: UInt64
    var mode: UInt16

    init(_ st: stat) {
        size = UInt64(st.st_size)
        modified = FileTime(st.st_mtim)
        changed = FileTime(st.st_ctim)
        inode = UInt64(st.st_ino)
        mode = UInt16(st.st_mode & 0o7777)
    }
}

/// A growable byte buffer that one thread fills and another drains; recycled through a pool.
/// Its memory is mapped directly (not `malloc`'d): freed, it goes back to the kernel at once, whatever
/// malloc's thresholds and per-thread arenas would have done with a block of a few MiB.
final class ByteBuffer: @unchecked Sendable {
    private(set) var base: UnsafeMutableRawPointer
    private(set) var capacity: Int
    var count = 0

    init(capacity: Int) {
        self.capacity = Self.rounded(capacity)
        base = Self.map(self.capacity)
    }

    deinit { munmap(base, capacity) }

    /// Makes room for `extra` more bytes after `count`, keeping the content.
    func reserve(_ extra: Int) {
        guard count + extra > capacity else { return }
        let newCapacity = Self.rounded(max(count + extra, capacity * 2))
        let grown = Self.map(newCapacity)
        grown.copyMemory(from: base, byteCount: count)
        munmap(base, capacity)
        base = grown
        capacity = newCapacity
    }

    func bytes(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count)
    }

    static func rounded(_ size: Int) -> Int {
        let page = 64 << 10
        return max(page, (size + page - 1) / page * page)
    }

    private static func map(_ size: Int) -> UnsafeMutableRawPointer {
        guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else {
            fatalError("out of memory: mmap of \(size) bytes: \(String(cString: strerror(errno)))")
        }
        return p
    }
}

/// Reads a whole file in one go and makes sure the bytes are one version of it: fstat before and
/// after the read must agree (size, mtime, ctime, inode), and the read must get exactly the size.
/// One open, one read and two fstats per file: the cheapest way to be sure on small files.
struct StableFileReader {
    enum Outcome {
        /// The bytes are at `range` of the buffer.
        case read(FileVersion, range: Range<Int>)
        case changed
        case vanished
        case failed(String)
        /// It grew past `maxSize` since the walk: to be copied in chunks instead.
        case tooLarge
    }

    /// Tests use it to change a file between the first fstat and the read.
    var whileOpen: (() -> Void)?

    func read(_ relative: String, from root: BeneathRoot, into buffer: ByteBuffer, maxSize: UInt64 = .max) -> Outcome {
        let fd = root.openFile(relative)
        guard fd >= 0 else { return failure(errno) }
        defer { close(fd) }
        var before = stat()
        guard fstat(fd, &before) == 0 else { return failure(errno) }
        guard before.st_mode & S_IFMT == S_IFREG else { return .changed }
        guard UInt64(before.st_size) <= maxSize else { return .tooLarge }
        whileOpen?()
        let size = Int(before.st_size)
        let start = buffer.count
        buffer.reserve(size)
        var done = 0
        // Exactly the size fstat gave; a file that grew meanwhile shows in the second fstat.
        while done < size {
            let n = Glibc.read(fd, buffer.base + start + done, size - done)
            if n < 0 {
                if errno == EINTR { continue }
                return failure(errno)
            }
            if n == 0 { break }  // it shrank
            done += n
        }
        guard done == size else { return .changed }
        var after = stat()
        guard fstat(fd, &after) == 0 else { return failure(errno) }
        let version = FileVersion(before)
        guard FileVersion(after) == version else { return .changed }
        buffer.count = start + size
        return .read(version, range: start..<start + size)
    }

    private func failure(_ code: Int32) -> Outcome {
        if code == ENOENT || code == ENOTDIR { return .vanished }
        if code == ELOOP { return .changed }  // became a symbolic link since the walk
        return .failed(String(cString: strerror(code)))
    }
}
