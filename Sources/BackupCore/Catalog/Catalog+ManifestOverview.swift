import Foundation
import GRDB
import GRDBSQLite

/// A manifest as a detail page shows it: everything but the entries, the first few entries, and the
/// count and total size of all of them.
public struct ManifestOverview: Sendable {
    /// The manifest with only its first entries.
    public var manifest: Manifest
    public var entryCount: Int
    public var totalBytes: UInt64
}

extension Catalog {
    /// The overview of a backup's manifest. A file backup's manifest is tens of MB at 200,000 files and
    /// a detail page needs its first entries only, so it is scanned from its row a piece at a time
    /// (`ManifestScanner`) rather than decoded whole; a manifest in another shape (a database backup's,
    /// a few KB) is decoded as usual.
    public func manifestOverview(jobId: Int64, listed: Int) throws -> ManifestOverview? {
        let scanned: ManifestOverview? = try database.read { db in
            var scanner = ManifestScanner()
            var entries: [Manifest.Entry] = []
            var total: UInt64 = 0
            func collect(_ entry: ScannedEntry) {
                total += entry.size
                if entries.count < listed { entries.append(Manifest.Entry(entry)) }
            }
            guard try ManifestBlob.read(manifestOf: jobId, in: db, { scanner.feed($0, collect) }),
                  scanner.finish(collect), var manifest = try? scanner.decodeOuter() else { return nil }
            manifest.entries = entries
            return ManifestOverview(manifest: manifest, entryCount: scanner.entryCount, totalBytes: total)
        }
        if let scanned { return scanned }
        guard var manifest = try manifest(jobId: jobId) else { return nil }
        let overview = ManifestOverview(manifest: manifest, entryCount: manifest.entries.count,
                                        totalBytes: manifest.entries.reduce(0) { $0 + $1.size })
        manifest.entries = Array(manifest.entries.prefix(listed))
        return ManifestOverview(manifest: manifest, entryCount: overview.entryCount, totalBytes: overview.totalBytes)
    }
}

extension Manifest.Entry {
    init(_ scanned: ScannedEntry) {
        self.init(path: String(decoding: scanned.path, as: UTF8.self), size: scanned.size,
                  sha256: String(decoding: scanned.sha256, as: UTF8.self),
                  sourcePath: scanned.sourcePath.map { String(decoding: $0, as: UTF8.self) },
                  mode: scanned.mode, modified: scanned.modified, crc32: scanned.crc32)
    }
}

/// A manifest's row in the catalog, read a megabyte at a time through SQLite's incremental blob I/O.
enum ManifestBlob {
    static let piece = 1 << 20

    /// Feeds the manifest of `jobId` to `feed` piece by piece; false when there is none or `feed`
    /// returned false (the text is not in the shape it reads).
    static func read(manifestOf jobId: Int64, in db: Database, _ feed: (UnsafeRawBufferPointer) throws -> Bool) throws -> Bool {
        var blob: OpaquePointer?
        guard sqlite3_blob_open(db.sqliteConnection, "main", BackupManifestRecord.databaseTableName, "manifest_json", jobId, 0, &blob) == SQLITE_OK,
              let blob else {
            if blob != nil { sqlite3_blob_close(blob) }
            return false
        }
        defer { sqlite3_blob_close(blob) }
        let total = Int(sqlite3_blob_bytes(blob))
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: piece, alignment: 16)
        defer { buffer.deallocate() }
        var offset = 0
        while offset < total {
            let n = min(piece, total - offset)
            let rc = sqlite3_blob_read(blob, buffer.baseAddress, Int32(n), Int32(offset))
            guard rc == SQLITE_OK else {
                throw BackupError(.database, "A backup's manifest could not be read from the catalog.", detail: "sqlite3_blob_read: \(rc)")
            }
            guard try feed(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) else { return false }
            offset += n
        }
        return true
    }
}
