import CSQLiteShims
import Foundation

/// Where SQLite has written one database file so far, chunk by chunk, through the pass-through VFS
/// of `write_watch.c`: lets another thread use the finished parts of a `VACUUM INTO` image while
/// SQLite still writes the rest.
///
/// Each chunk has a generation that every write to it bumps twice (before and after), so a chunk
/// read while its generation was even and still has that generation later was read exactly as it
/// is. Chunks past `capacity` are never reported stable.
final class WriteWatch: @unchecked Sendable {
    let chunkSize: Int
    private let watch: OpaquePointer

    init(chunkSize: Int, capacity: UInt64) throws {
        let chunks = (capacity + UInt64(chunkSize) - 1) / UInt64(chunkSize)
        guard let watch = caps_write_watch_create(Int64(chunkSize), chunks) else {
            throw BackupError(.database, "Could not register the SQLite write watch.")
        }
        self.chunkSize = chunkSize
        self.watch = watch
    }

    deinit { caps_write_watch_free(watch) }

    /// The URI that makes SQLite write `file` through the watch (for a connection opened with
    /// SQLITE_OPEN_URI, e.g. as the target of `VACUUM INTO`).
    func uri(for file: URL) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~/")
        let path = file.path.addingPercentEncoding(withAllowedCharacters: allowed) ?? file.path
        return "file:\(path)?vfs=\(CAPS_WRITE_WATCH_VFS)&caps_watch=\(caps_write_watch_id(watch))"
    }

    func generation(ofChunk chunk: Int) -> UInt64 {
        caps_write_watch_generation(watch, UInt64(chunk))
    }

    /// The end of the furthest write so far, in bytes.
    var front: UInt64 { caps_write_watch_front(watch) }
}
