import BackupCore
import Crypto
import Foundation
import Testing

struct SnapshotTests {
    /// The snapshot opens the POS's file read-write (VACUUM INTO is twice as fast that way), so when the
    /// POS is not running its connection is the last one to close, and SQLite would checkpoint the WAL
    /// into the POS's file and delete it. A backup must never write to the database it protects.
    @Test("A full snapshot taken while no one else has the database open leaves its file and WAL as they were")
    func snapshotDoesNotCheckpoint() throws {
        let dir = TemporaryDirectory()
        let pos = dir.path("pos.db")
        try makeStoreDatabase(pos, rows: 500)
        do {
            // A writer that leaves its commits in the WAL, as a POS that was stopped (or crashed) does.
            let writer = try SQLiteConnection(path: pos.path, mode: .readerOnWritableFile)
            try writer.execute("PRAGMA wal_autocheckpoint=0")
            try writer.execute("UPDATE marker SET value = 'in the wal'")
            try writer.execute("INSERT INTO customer(name) SELECT 'late ' || id FROM invoice")
        }
        let wal = URL(fileURLWithPath: pos.path + "-wal")
        let databaseBefore = try fileDigest(pos)
        let walBefore = try fileDigest(wal)
        #expect(try POSIXFile.fileSize(wal) > 0)

        let snapshot = dir.path("snapshot.sqlite")
        let info = try DatabaseSnapshotter().snapshot(of: pos, into: snapshot)

        #expect(try fileDigest(pos) == databaseBefore, "the POS's database file was written")
        #expect(try fileDigest(wal) == walBefore, "the POS's WAL was checkpointed or changed")
        #expect(info.journalMode == "wal")
        #expect(try marker(snapshot) == "in the wal")
        let image = try SQLiteConnection(path: snapshot.path, mode: .readOnly)
        #expect(try image.integer("SELECT count(*) FROM customer") == 502)
        #expect(try image.integrityProblems() == nil)
    }

    private func fileDigest(_ url: URL) throws -> String {
        SHA256.hash(data: try Data(contentsOf: url)).map { String(format: "%02x", $0) }.joined()
    }
}
