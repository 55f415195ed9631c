import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// GNU extensions the Glibc module does not export, looked up at run time (with a fallback).
enum GlibcExtras {
    /// syncfs(2): flushes one file system, instead of an fsync per restored file (or sync(2) of all).
    static func syncfs(_ fd: Int32) -> Int32 { syncfsFunction(fd) }

    /// malloc_trim(3): hands freed heap back to the kernel, in every thread's arena. A file backup frees
    /// tens of MB between phases (the previous manifest, the walk, the ZIP writer's directory); without
    /// this they stay in the resident set.
    static func trimHeap() { _ = mallocTrimFunction(0) }

    /// sync_file_range(2) with SYNC_FILE_RANGE_WRITE: starts writing these bytes to disk without waiting,
    /// so the final fsync finds little left to do. Best effort.
    static func startWriteback(_ fd: Int32, from offset: UInt64, count: UInt64) {
        _ = syncFileRangeFunction(fd, Int64(offset), Int64(count), 2 /* SYNC_FILE_RANGE_WRITE */)
    }

    /// sync_file_range(2) with WAIT_BEFORE | WRITE | WAIT_AFTER: writes these bytes and waits until they
    /// are on disk (data only, no metadata: a pace, not a durability promise). Best effort.
    static func writeAndWait(_ fd: Int32, from offset: UInt64, count: UInt64) {
        _ = syncFileRangeFunction(fd, Int64(offset), Int64(count), 1 | 2 | 4)
    }

    private static let syncFileRangeFunction: @convention(c) (Int32, Int64, Int64, UInt32) -> Int32 =
        lookUp("sync_file_range") ?? { _, _, _, _ in 0 }
    private static let syncfsFunction: @convention(c) (Int32) -> Int32 =
        lookUp("syncfs") ?? { _ in sync(); return 0 }
    private static let mallocTrimFunction: @convention(c) (Int) -> Int32 =
        lookUp("malloc_trim") ?? { _ in 0 }

    private static func lookUp<F>(_ name: String) -> F? {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { return nil }
        return unsafeBitCast(symbol, to: F.self)
    }
}

/// Reads part of a file through a temporary read-only mapping instead of copying it into a buffer:
/// reading back the gigabytes of an archive just written then costs page-table entries, not a copy.
/// Only for files that are not truncated meanwhile (we read back our own archive below what is final).
enum MappedFile {
    static func withBytes<T>(_ fd: Int32, at offset: UInt64, count: Int, _ body: (UnsafeRawBufferPointer) throws -> T) throws -> T {
        guard count > 0 else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        let page = UInt64(sysconf(Int32(_SC_PAGESIZE)))
        let start = offset / page * page
        let skip = Int(offset - start)
        let length = skip + count
        guard let base = mmap(nil, length, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, off_t(start)), base != MAP_FAILED else {
            throw BackupError(.io, "Could not read the archive back.", detail: "mmap: \(String(cString: strerror(errno)))")
        }
        defer { munmap(base, length) }
        return try body(UnsafeRawBufferPointer(start: base + skip, count: count))
    }
}
