import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Applies a verified image to the live database in one write transaction (see DatabaseRestoreJob).
public struct LiveDatabaseReplacer: Sendable {
    public init() {}

    public func replace(_ target: URL, with image: URL) throws {
        if !POSIXFile.exists(target) { return try install(image, at: target) }
        let source = try SQLiteConnection(path: image.path, mode: .readOnly, untrusted: true)
        // The image is a private, verified file nobody else writes: its size cannot change under us.
        let expectedPages = try source.integer("PRAGMA page_count")
        let live = try SQLiteConnection(path: target.path, mode: .readWrite, busyTimeoutMs: 30_000)
        // Checked against what the backup API reports of its own transaction, never by reading the live
        // file afterwards: the POS may commit the moment the copy does, and its new sales legitimately
        // grow the file (a restore must not be recorded as failed because the store kept selling).
        let copied = try live.replaceContents(from: source)
        guard copied.sourcePages == expectedPages, copied.remaining == 0 else {
            throw BackupError(.database, "The restored database does not have the expected size.",
                              detail: "copied \(copied.sourcePages - copied.remaining) of \(expectedPages) pages")
        }
        // Fold the new pages into the main file when nobody is reading; never block the POS for it.
        _ = try? live.execute("PRAGMA wal_checkpoint(PASSIVE)")
    }

    /// Fresh install: nobody has the database open, so the verified image is put next to it and renamed
    /// into place. The image is the restore's own scratch file, of no use afterwards: it is moved there
    /// when it is on the same filesystem (a copy cost 4 s per GiB of a fresh install's time), copied when
    /// not. A -wal or -shm left behind by a deleted database would be replayed into the new file and
    /// corrupt it, so they are moved aside first.
    private func install(_ image: URL, at target: URL) throws {
        let stamp = Timestamp.fileStamp(Date())
        for suffix in ["-wal", "-shm", "-journal"] {
            let stale = URL(fileURLWithPath: target.path + suffix)
            if POSIXFile.exists(stale) { try POSIXFile.rename(stale, to: URL(fileURLWithPath: stale.path + ".stale-\(stamp)")) }
        }
        let temporary = URL(fileURLWithPath: target.path + ".caps-restore-\(getpid())")
        try? FileManager.default.removeItem(at: temporary)
        if Glibc.rename(image.path, temporary.path) != 0 {
            guard errno == EXDEV else { throw POSIXFile.errnoError("rename", image) }
            try FileManager.default.copyItem(at: image, to: temporary)
        }
        let fd = try POSIXFile.openForReading(temporary)
        try POSIXFile.fsyncFile(fd)
        close(fd)
        // Private until the technician hands it to the POS user (see the README).
        chmod(temporary.path, POSIXFile.privateFileMode)
        try POSIXFile.rename(temporary, to: target)
        try POSIXFile.fsyncDirectory(target.deletingLastPathComponent())
    }
}
