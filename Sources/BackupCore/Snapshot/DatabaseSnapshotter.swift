import Foundation

/// What a snapshot captured and what it cost the POS.
public struct SnapshotInfo: Sendable {
    public var startedAt: Date
    public var finishedAt: Date
    public var journalMode: String
    public var pageSize: Int
    public var pageCount: Int
    public var size: UInt64
    /// Growth of the POS's WAL while the snapshot's read transaction held back checkpoints.
    public var walGrowthBytes: Int64
}

/// Takes consistent snapshots of the live POS database with `VACUUM INTO`.
///
/// `VACUUM INTO` reads the whole database inside one read transaction: in WAL mode the POS keeps
/// committing meanwhile, and the copy is exactly the database as of the moment that transaction
/// began. The output is a fresh, compact file. In rollback-journal mode the same read blocks the
/// POS's commits for the duration; we report that (`journalMode`) but never switch modes ourselves:
/// the journal mode of the POS's database is the POS's decision.
public struct DatabaseSnapshotter: Sendable {
    public init() {}

    public func snapshot(of source: URL, into target: URL) throws -> SnapshotInfo {
        try snapshot(of: source, into: target, watch: nil)
    }

    /// - Parameter watch: have SQLite write the image through this watch, so that another thread can
    ///   compress its finished chunks meanwhile (`CompressingSnapshot`).
    func snapshot(of source: URL, into target: URL, watch: WriteWatch?) throws -> SnapshotInfo {
        // Not `.readOnly`: see `readerOnWritableFile` (half the time, and no WAL checkpoint on close).
        try measured(source, target, mode: .readerOnWritableFile) { connection in
            // VACUUM INTO syncs its output as the source's `synchronous` says. Ours is a scratch file
            // checked by SHA-256 before any use: skip the fsyncs, which stall the POS's own commits.
            // (A per-connection setting: the POS's file and its connections are not affected.)
            try connection.execute("PRAGMA synchronous=OFF")
            if let watch {
                // The image's page cache is this connection's. SQLite's default (2 MiB) writes pages
                // out close behind the last one appended, which is what lets chunks be used early;
                // a cache size the POS may have stored in its file must not change that.
                try connection.execute("PRAGMA cache_size=-2000")
                try connection.execute("VACUUM INTO \(sqlLiteral(watch.uri(for: target)))")
            } else {
                try connection.execute("VACUUM INTO \(sqlLiteral(target.path))")
            }
        }
    }

    /// A page-identical snapshot with the online backup API in one step (one read transaction,
    /// 1.5 s per GiB here against 4.2 s for `VACUUM INTO`). It keeps the live file's page layout, so
    /// consecutive snapshots differ only in the pages the POS wrote: what hourly incrementals store.
    public func onlineSnapshot(of source: URL, into target: URL) throws -> SnapshotInfo {
        try measured(source, target, mode: .readOnly) { connection in
            let to = try SQLiteConnection(path: target.path, mode: .readWrite)
            try to.execute("PRAGMA synchronous=OFF")  // a scratch file, checked by its SHA-256 before any use
            try to.replaceContents(from: connection)
        }
    }

    /// Runs `take` against a connection to the live database that only reads, with the bookkeeping both
    /// snapshot methods share: a private empty target, the journal mode, the WAL's growth, the times.
    private func measured(_ source: URL, _ target: URL, mode: SQLiteConnection.Mode,
                          take: (SQLiteConnection) throws -> Void) throws -> SnapshotInfo {
        guard POSIXFile.exists(source) else {
            throw BackupError(.notFound, "The POS database was not found at \(source.path).")
        }
        // The target must be missing or empty; an empty 0600 file keeps the copy private.
        close(try POSIXFile.createPrivate(target))
        let connection = try SQLiteConnection(path: source.path, mode: mode)
        let journalMode = (try connection.scalar("PRAGMA journal_mode") ?? "unknown").lowercased()
        let wal = URL(fileURLWithPath: source.path + "-wal")
        let walBefore = (try? POSIXFile.fileSize(wal)).map { Int64($0) } ?? 0
        let startedAt = Date()
        try take(connection)
        let finishedAt = Date()
        let walAfter = (try? POSIXFile.fileSize(wal)).map { Int64($0) } ?? 0
        let image = try SQLiteConnection(path: target.path, mode: .readOnly)
        let pageSize = try image.integer("PRAGMA page_size")
        let pageCount = try image.integer("PRAGMA page_count")
        return SnapshotInfo(startedAt: startedAt, finishedAt: finishedAt, journalMode: journalMode, pageSize: pageSize,
                            pageCount: pageCount, size: try POSIXFile.fileSize(target), walGrowthBytes: max(0, walAfter - walBefore))
    }

    /// A page-identical copy of the live database in one read transaction (online backup API,
    /// one step): the fastest consistent copy, used for the pre-restore snapshot.
    /// `untrusted`: `source` came from elsewhere (see `SQLiteConnection`).
    public func copy(of source: URL, into target: URL, untrusted: Bool = false) throws {
        close(try POSIXFile.createPrivate(target))
        let from = try SQLiteConnection(path: source.path, mode: .readOnly, untrusted: untrusted)
        let to = try SQLiteConnection(path: target.path, mode: .readWrite, untrusted: untrusted)
        try to.replaceContents(from: from)
    }
}
