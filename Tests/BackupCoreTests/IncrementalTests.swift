import BackupCore
import Foundation
import Testing

@Suite("Incremental database backups")
struct IncrementalTests {
    /// Runs a full, then applies each change and takes an incremental; every point must restore to
    /// exactly the image it recorded, with the data the change produced.
    func expectChainRestores(_ changes: [(String, (SQLiteConnection) throws -> Void, (SQLiteConnection) throws -> Void)],
                             sourceLocation: SourceLocation = #_sourceLocation) throws {
        let dir = TemporaryDirectory()
        let database = dir.path("pos.db")
        try makeStoreDatabase(database, rows: 3000)
        let context = try makeContext(dir, posDatabase: database)
        var points = [try DatabaseBackupJob(context: context).run(trigger: .manual, integrityCheck: false)]
        for (name, change, _) in changes {
            try change(try SQLiteConnection(path: database.path, mode: .readWrite))
            let job = try DatabaseBackupJob(context: context, kind: .dbIncremental).run(trigger: .manual, integrityCheck: false)
            #expect(job.kind == .dbIncremental, "\(name)", sourceLocation: sourceLocation)
            points.append(job)
        }
        for (i, job) in points.enumerated() {
            let target = dir.path("restored-\(i).db")
            var restoreContext = context
            restoreContext.posDatabase = target
            let restore = try DatabaseRestoreJob(context: restoreContext).run(.backup(job))
            #expect(restore.restoredImageSha256 == job.imageSha256, sourceLocation: sourceLocation)
            let db = try SQLiteConnection(path: target.path, mode: .readOnly)
            #expect(try db.integrityProblems() == nil, sourceLocation: sourceLocation)
            if i > 0 { try changes[i - 1].2(db) }
        }
    }

    @Test("Schema changes between incrementals: new table, new column, dropped index")
    func schemaChanges() throws {
        try expectChainRestores([
            ("new table", { db throws in try db.execute("CREATE TABLE gift_card(id INTEGER PRIMARY KEY, code TEXT); INSERT INTO gift_card(code) VALUES ('A1'), ('B2')") },
             { db throws in #expect(try db.integer("SELECT count(*) FROM gift_card") == 2) }),
            ("new column", { db throws in try db.execute("ALTER TABLE invoice ADD COLUMN tip REAL DEFAULT 0; UPDATE invoice SET tip = 1.5 WHERE id % 10 = 0") },
             { db throws in #expect(try db.integer("SELECT count(*) FROM invoice WHERE tip = 1.5") == 300) }),
            ("dropped index", { db throws in try db.execute("CREATE INDEX invoice_total ON invoice(total); DROP INDEX invoice_total") },
             { db throws in #expect(try db.integer("SELECT count(*) FROM sqlite_master WHERE name = 'invoice_total'") == 0) }),
        ])
    }

    @Test("A database that shrank (rows deleted, then VACUUM by the POS) restores correctly")
    func shrunk() throws {
        try expectChainRestores([
            ("grow", { db throws in try db.execute("INSERT INTO invoice(customer_id, total, note) SELECT customer_id, total, note FROM invoice") },
             { db throws in #expect(try db.integer("SELECT count(*) FROM invoice") == 6000) }),
            ("delete and vacuum", { db throws in try db.execute("DELETE FROM invoice WHERE id > 1000; DELETE FROM log_without_pk; VACUUM") },
             { db throws in
                 #expect(try db.integer("SELECT count(*) FROM invoice") == 1000)
                 #expect(try db.integer("SELECT count(*) FROM log_without_pk") == 0)
             }),
        ])
    }

    @Test("Tables without a primary key are captured (the session extension's trap)")
    func tablesWithoutPrimaryKey() throws {
        try expectChainRestores([
            ("log rows", { db throws in try db.execute("INSERT INTO log_without_pk VALUES ('2026-11-26', 'added after the full')") },
             { db throws in #expect(try db.integer("SELECT count(*) FROM log_without_pk WHERE message = 'added after the full'") == 1) }),
        ])
    }

    @Test("The first incremental, or one whose parent's page index is gone, starts a new chain holding every page")
    func startsNewChain() throws {
        let dir = TemporaryDirectory()
        let database = dir.path("pos.db")
        try makeStoreDatabase(database)
        let context = try makeContext(dir, posDatabase: database)
        _ = try DatabaseBackupJob(context: context).run(trigger: .manual, integrityCheck: false)
        let base = try DatabaseBackupJob(context: context, kind: .dbIncremental).run(trigger: .manual, integrityCheck: false)
        #expect(base.kind == .dbIncremental && base.parentId == nil)
        try setMarker(database, "second")
        let second = try DatabaseBackupJob(context: context, kind: .dbIncremental).run(trigger: .manual, integrityCheck: false)
        #expect(second.parentId == base.id)
        #expect(try #require(second.size) < (try #require(base.size)) / 2)
        try FileManager.default.removeItem(at: context.dataDirectory.pageIndex(second.uuid))
        let third = try DatabaseBackupJob(context: context, kind: .dbIncremental).run(trigger: .manual, integrityCheck: false)
        #expect(third.parentId == nil)
    }

    @Test("Unchanged pages are not stored again: an incremental after one small change holds a few pages")
    func smallChangeSmallIncrement() throws {
        let dir = TemporaryDirectory()
        let database = dir.path("pos.db")
        try makeStoreDatabase(database, rows: 20_000)
        let context = try makeContext(dir, posDatabase: database)
        _ = try DatabaseBackupJob(context: context, kind: .dbIncremental).run(trigger: .manual, integrityCheck: false)
        try SQLiteConnection(path: database.path, mode: .readWrite).execute("UPDATE invoice SET total = 0 WHERE id = 12345")
        let job = try DatabaseBackupJob(context: context, kind: .dbIncremental).run(trigger: .manual, integrityCheck: false)
        let manifest = try #require(try context.catalog.manifest(jobId: job.id!))
        let delta = try #require(manifest.database?.delta)
        #expect(delta.newPages <= 4, "\(delta.newPages) pages stored for a one-row change")
    }

    @Test("Pages changed a little are stored as XORs against the kept hourly image; every point restores exactly")
    func xorPages() throws {
        let dir = TemporaryDirectory()
        let database = dir.path("pos.db")
        try makeStoreDatabase(database, rows: 20_000)
        let context = try makeContext(dir, posDatabase: database)
        var points = [try DatabaseBackupJob(context: context, kind: .dbIncremental).run(trigger: .manual, integrityCheck: false)]
        for round in 1...4 {
            // The same rows every round, so some pages are XOR-ed in every link of the chain.
            try SQLiteConnection(path: database.path, mode: .readWrite).execute("""
                UPDATE invoice SET total = total + \(round) WHERE id % 97 = 0;
                INSERT INTO invoice(customer_id, total, note) VALUES (1, \(round), 'round \(round)');
                UPDATE marker SET value = 'round \(round)'
                """)
            let job = try DatabaseBackupJob(context: context, kind: .dbIncremental).run(trigger: .manual, integrityCheck: false)
            let delta = try #require(try context.catalog.manifest(jobId: job.id!)?.database?.delta)
            #expect(job.parentId == points.last?.id)
            #expect((delta.xorPages ?? 0) > delta.newPages / 2, "round \(round): \(delta.xorPages ?? 0) of \(delta.newPages) pages XOR-coded")
            points.append(job)
        }
        // Only the newest hourly's image is kept.
        let kept = try FileManager.default.contentsOfDirectory(atPath: context.dataDirectory.pageIndexes.path).filter { $0.hasSuffix(".img") }
        #expect(kept == [context.dataDirectory.hourlyImage(points.last!.uuid).lastPathComponent])

        for (round, job) in points.enumerated() {
            let target = dir.path("restored-\(round).db")
            var restoreContext = context
            restoreContext.posDatabase = target
            let restore = try DatabaseRestoreJob(context: restoreContext).run(.backup(job), preRestoreSnapshot: false)
            #expect(restore.restoredImageSha256 == job.imageSha256)
            #expect(try marker(target) == (round == 0 ? "original" : "round \(round)"))
            let db = try SQLiteConnection(path: target.path, mode: .readOnly)
            #expect(try db.integer("SELECT count(*) FROM invoice") == 20_000 + round)
            #expect(try db.integrityProblems() == nil)
        }
    }

    @Test("A damaged or missing kept image costs size, never a wrong incremental")
    func damagedKeptImage() throws {
        let dir = TemporaryDirectory()
        let database = dir.path("pos.db")
        try makeStoreDatabase(database, rows: 20_000)
        let context = try makeContext(dir, posDatabase: database)
        let base = try DatabaseBackupJob(context: context, kind: .dbIncremental).run(trigger: .manual, integrityCheck: false)
        let change = "UPDATE invoice SET total = total + 1 WHERE id % 50 = 0"

        // Damage every other page of the kept image: those pages must be stored whole.
        let image = context.dataDirectory.hourlyImage(base.uuid)
        let fd = open(image.path, O_RDWR)
        #expect(fd >= 0)
        let size = try POSIXFile.fileSize(image)
        var garbage = [UInt8](repeating: 0xA5, count: 64)
        for page in stride(from: UInt64(4096), to: size, by: 8192) {
            #expect(pwrite(fd, &garbage, garbage.count, off_t(page + 1000)) == garbage.count)
        }
        close(fd)
        try SQLiteConnection(path: database.path, mode: .readWrite).execute(change)
        let damaged = try DatabaseBackupJob(context: context, kind: .dbIncremental).run(trigger: .manual, integrityCheck: false)
        let damagedDelta = try #require(try context.catalog.manifest(jobId: damaged.id!)?.database?.delta)
        #expect(damaged.parentId == base.id)
        #expect((damagedDelta.xorPages ?? 0) > 0 && (damagedDelta.xorPages ?? 0) < damagedDelta.newPages)

        // No kept image at all: every changed page stored whole.
        try FileManager.default.removeItem(at: context.dataDirectory.hourlyImage(damaged.uuid))
        try SQLiteConnection(path: database.path, mode: .readWrite).execute(change)
        let missing = try DatabaseBackupJob(context: context, kind: .dbIncremental).run(trigger: .manual, integrityCheck: false)
        let missingDelta = try #require(try context.catalog.manifest(jobId: missing.id!)?.database?.delta)
        #expect(missing.parentId == damaged.id)
        #expect(missingDelta.xorPages == 0 && missingDelta.newPages > 0)

        for job in [damaged, missing] {
            let target = dir.path("restored-\(job.id!).db")
            var restoreContext = context
            restoreContext.posDatabase = target
            let restore = try DatabaseRestoreJob(context: restoreContext).run(.backup(job), preRestoreSnapshot: false)
            #expect(restore.restoredImageSha256 == job.imageSha256)
        }
    }

    @Test("An incremental archive on its own cannot be restored without its parent in the catalog")
    func orphanArchive() throws {
        let dir = TemporaryDirectory()
        let database = dir.path("pos.db")
        try makeStoreDatabase(database)
        let context = try makeContext(dir, posDatabase: database)
        _ = try DatabaseBackupJob(context: context).run(trigger: .manual, integrityCheck: false)
        let incremental = try DatabaseBackupJob(context: context, kind: .dbIncremental).run(trigger: .manual, integrityCheck: false)
        let otherDir = TemporaryDirectory("other")
        let other = try makeContext(otherDir, posDatabase: database)
        let failure = #expect(throws: RestoreFailure.self) {
            _ = try DatabaseRestoreJob(context: other).run(.archive(URL(fileURLWithPath: incremental.path!)))
        }
        #expect(failure?.error.message.contains("needs its parent backup") == true)
    }
}
