import BackupCore
import Foundation
import Testing

@Suite("Full database backup, verify and restore")
struct BackupRestoreTests {
    /// A store with a database and a config file, and a context on a fresh data directory.
    struct Store {
        let dir = TemporaryDirectory("store")
        let database: URL
        let configFile: URL
        let context: BackupContext

        init(rows: Int = 2000, availableBytes: (@Sendable (URL) throws -> UInt64)? = nil) throws {
            database = dir.path("pos.db")
            configFile = dir.path("pos.toml")
            try makeStoreDatabase(database, rows: rows)
            try Data("[printer]\nname = \"front\"\n".utf8).write(to: configFile)
            context = try makeContext(dir, posDatabase: database, configFiles: [configFile], availableBytes: availableBytes)
        }

        func backup() throws -> BackupRecord {
            try DatabaseBackupJob(context: context).run(trigger: .manual)
        }

        func restore(_ source: RestoreSource, pre: Bool = true) throws -> RestoreRecord {
            try DatabaseRestoreJob(context: context).run(source, preRestoreSnapshot: pre)
        }
    }

    @Test("A backup publishes a verified archive with a sidecar and a recorded manifest; files 0600, folders 0700")
    func backupRecordsEverything() throws {
        let store = try Store()
        let job = try store.backup()
        #expect(job.status == .succeeded)
        let archive = URL(fileURLWithPath: try #require(job.path))
        #expect(try POSIXFile.fileSize(archive) == UInt64(try #require(job.size)))
        #expect(try sha256(archive) == job.sha256)
        let sidecar = try String(contentsOf: Checksums.sidecarURL(for: archive), encoding: .utf8)
        #expect(sidecar == "\(job.sha256!)  \(archive.lastPathComponent)\n")
        let manifest = try #require(try store.context.catalog.manifest(jobId: job.id!))
        #expect(manifest.backupId == job.uuid)
        #expect(manifest.entries.map(\.path) == ["db/pos.sqlite.gz", "config/pos.toml"])
        #expect(manifest.database?.imageSha256 == job.imageSha256)
        let recorded = try #require(try store.context.catalog.job(id: job.id!))
        #expect(recorded.status == .succeeded && recorded.sha256 == job.sha256 && recorded.path == job.path && recorded.uuid == job.uuid)
        #expect(recorded.integrityCheck == "ok")

        let data = store.context.dataDirectory
        for folder in [data.root, data.archivesRoot, data.archives(.dbFull), data.tmp, data.failedRoot, data.preRestore] {
            #expect(try POSIXFile.mode(folder) == 0o700, "\(folder.path)")
        }
        for file in [archive, Checksums.sidecarURL(for: archive), data.catalog, data.lockFile] {
            #expect(try POSIXFile.mode(file) == 0o600, "\(file.path)")
        }
        #expect(fileList(data.tmp).isEmpty)
        #expect(try store.context.catalog.auditLog().first?.action == "backup.db-full")
    }

    @Test("Restore brings back the backed-up content, keeps a pre-restore copy, and records the restore")
    func restoreRoundTrip() throws {
        let store = try Store()
        try setMarker(store.database, "backed-up")
        let job = try store.backup()
        try setMarker(store.database, "changed after backup")
        let restore = try store.restore(.backup(job))
        #expect(restore.status == .succeeded)
        #expect(try marker(store.database) == "backed-up")
        let live = try SQLiteConnection(path: store.database.path, mode: .readOnly)
        #expect(try live.integrityProblems() == nil)
        #expect(try live.scalar("PRAGMA journal_mode") == "wal")
        let pre = URL(fileURLWithPath: try #require(restore.preRestorePath))
        #expect(try marker(pre) == "changed after backup")
        #expect(try POSIXFile.mode(pre) == 0o600)
        let recorded = try #require(try store.context.catalog.restoreJobs().first)
        #expect(recorded.id == restore.id && recorded.status == .succeeded && recorded.sourceJobId == job.id)
        #expect(recorded.preRestorePath == restore.preRestorePath && recorded.finishedAt != nil)

        // The pre-restore copy is itself a valid restore source: the way back.
        let back = try store.restore(.databaseFile(pre), pre: false)
        #expect(back.status == .succeeded)
        #expect(try marker(store.database) == "changed after backup")
    }

    @Test("Restore onto a fresh install creates the database")
    func restoreFreshInstall() throws {
        let store = try Store()
        let job = try store.backup()
        let fresh = store.dir.path("new-server/pos.db")
        try FileManager.default.createDirectory(at: fresh.deletingLastPathComponent(), withIntermediateDirectories: true)
        var context = store.context
        context.posDatabase = fresh
        try Data("stale wal from a deleted database".utf8).write(to: URL(fileURLWithPath: fresh.path + "-wal"))
        let restore = try DatabaseRestoreJob(context: context).run(.backup(job))
        #expect(restore.preRestorePath == nil)
        #expect(restore.restoredImageSha256 == job.imageSha256)
        #expect(try marker(fresh) == "original")
        let db = try SQLiteConnection(path: fresh.path, mode: .readOnly)
        #expect(try db.integrityProblems() == nil)
        #expect(try db.scalar("PRAGMA journal_mode") == "wal")
        #expect(try db.integer("SELECT count(*) FROM invoice") == 2000)
        #expect(fileList(fresh.deletingLastPathComponent()).contains { $0.hasPrefix("pos.db-wal.stale-") })
    }

    @Test("A fresh install moves the checked image into place on its filesystem, and copies it from another one")
    func freshInstallMovesOrCopies() throws {
        let dir = TemporaryDirectory()
        func image(at url: URL) throws -> URL {
            let db = try SQLiteConnection(path: url.path, mode: .create)
            try db.execute("CREATE TABLE t(x); INSERT INTO t VALUES ('restored');")
            return url
        }
        let sameDisk = try image(at: dir.path("image.sqlite"))
        let target = dir.path("pos.db")
        try LiveDatabaseReplacer().replace(target, with: sameDisk)
        #expect(try SQLiteConnection(path: target.path, mode: .readOnly).scalar("SELECT x FROM t") == "restored")
        #expect(!POSIXFile.exists(sameDisk), "moved, not copied")
        #expect(try POSIXFile.mode(target) & 0o777 == POSIXFile.privateFileMode)

        // tmpfs is another filesystem here: rename(2) answers EXDEV and the image is copied instead.
        let shm = URL(fileURLWithPath: "/dev/shm/caps-image-\(UUID().uuidString).sqlite")
        var shmInfo = stat(), dirInfo = stat()
        guard stat("/dev/shm", &shmInfo) == 0, stat(dir.url.path, &dirInfo) == 0, shmInfo.st_dev != dirInfo.st_dev else { return }
        defer { try? FileManager.default.removeItem(at: shm) }
        let otherDisk = try image(at: shm)
        let second = dir.path("second/pos.db")
        try FileManager.default.createDirectory(at: second.deletingLastPathComponent(), withIntermediateDirectories: true)
        try LiveDatabaseReplacer().replace(second, with: otherDisk)
        #expect(try SQLiteConnection(path: second.path, mode: .readOnly).scalar("SELECT x FROM t") == "restored")
        #expect(POSIXFile.exists(otherDisk), "copied across filesystems")
    }

    /// Damages a copy of a good archive, then checks that verify and restore refuse it with a clear
    /// message and that nothing changed: live database, pre-restore folder, published archives.
    func expectRefused(_ damage: (URL) throws -> Void, message: String, useCatalogRecord: Bool = true,
                       sourceLocation: SourceLocation = #_sourceLocation) throws {
        let store = try Store()
        let job = try store.backup()
        let archive = URL(fileURLWithPath: job.path!)
        try damage(archive)
        try setMarker(store.database, "live")
        let liveBefore = try sha256(store.database)
        let source: RestoreSource = useCatalogRecord ? .backup(job) : .archive(archive)

        let failure = #expect(throws: RestoreFailure.self, sourceLocation: sourceLocation) { _ = try store.restore(source) }
        #expect(failure?.error.message.contains(message) == true, "\(failure?.error.message ?? "no error")", sourceLocation: sourceLocation)
        #expect(failure?.restore?.status == .failed, sourceLocation: sourceLocation)
        #expect(failure?.recoverySteps.first?.sentence?.contains("was not changed") == true, sourceLocation: sourceLocation)
        #expect(try sha256(store.database) == liveBefore, sourceLocation: sourceLocation)
        #expect(try marker(store.database) == "live", sourceLocation: sourceLocation)
        #expect(fileList(store.context.dataDirectory.preRestore).isEmpty, sourceLocation: sourceLocation)
        #expect(fileList(store.context.dataDirectory.tmp).isEmpty, sourceLocation: sourceLocation)

        let report = VerifyJob(context: store.context).run(archive: archive, job: useCatalogRecord ? job : nil)
        #expect(report.status == "failed", sourceLocation: sourceLocation)
        #expect(report.error?.contains(message) == true, "\(report.error ?? "")", sourceLocation: sourceLocation)
    }

    @Test("A truncated archive is refused")
    func truncated() throws {
        try expectRefused({ url in
            let size = try POSIXFile.fileSize(url)
            try FileHandle(forWritingTo: url).truncate(atOffset: size / 2)
        }, message: "checksum does not match")
        try expectRefused({ url in
            try FileHandle(forWritingTo: url).truncate(atOffset: try POSIXFile.fileSize(url) - 10)
            try FileManager.default.removeItem(at: Checksums.sidecarURL(for: url))
        }, message: "not a caps-backup archive", useCatalogRecord: false)
    }

    @Test("One flipped bit in the database entry is refused, by the archive checksum or, without one, by the entry's")
    func flippedBit() throws {
        func flip(_ url: URL) throws {
            var data = try Data(contentsOf: url)
            data[200] ^= 0x01  // inside db/pos.sqlite.gz, the first entry
            try data.write(to: url)
        }
        try expectRefused(flip, message: "checksum does not match the recorded one")
        try expectRefused({ url in
            try flip(url)
            try FileManager.default.removeItem(at: Checksums.sidecarURL(for: url))
        }, message: "CRC-32", useCatalogRecord: false)
    }

    @Test("A wrong sidecar checksum is refused")
    func wrongSidecar() throws {
        try expectRefused({ url in
            try Data("\(String(repeating: "0", count: 64))  x.zip\n".utf8).write(to: Checksums.sidecarURL(for: url))
        }, message: "(sidecar)")
        try expectRefused({ url in
            try Data("garbage".utf8).write(to: Checksums.sidecarURL(for: url))
        }, message: "unreadable")
    }

    @Test("A file that is not a ZIP is refused")
    func notAZip() throws {
        try expectRefused({ url in
            try Data(repeating: 0x41, count: 4096).write(to: url)
            try FileManager.default.removeItem(at: Checksums.sidecarURL(for: url))
        }, message: "not a caps-backup archive", useCatalogRecord: false)
    }

    @Test("A manifest that disagrees with the entries is refused", arguments: ["extra entry", "missing entry", "wrong size", "wrong hash"])
    func manifestDisagrees(_ variant: String) throws {
        try expectRefused({ url in
            try rewriteArchive(url) { manifest, extra in
                switch variant {
                case "extra entry": extra["config/surprise.txt"] = Array("hi".utf8)
                case "missing entry": manifest.entries.append(.init(path: "config/gone.toml", size: 3, sha256: String(repeating: "a", count: 64)))
                case "wrong size": manifest.entries[1].size += 1
                default: manifest.entries[1].sha256 = String(repeating: "b", count: 64)
                }
            }
        }, message: variant == "wrong hash" ? "does not match its checksum in the manifest" : "manifest disagrees with its contents",
           useCatalogRecord: false)
    }

    @Test("Entries named ../x or /etc/x are refused", arguments: ["../x", "/etc/x"])
    func traversalEntries(_ name: String) throws {
        try expectRefused({ url in
            let made = try run("/usr/bin/env", ["python3", "-W", "ignore", "-c", """
                import zipfile, sys, shutil
                src = zipfile.ZipFile(sys.argv[1])
                out = zipfile.ZipFile(sys.argv[1] + '.new', 'w')
                for i in src.infolist(): out.writestr(i, src.read(i))
                out.writestr(sys.argv[2], b'owned')
                out.close()
                shutil.move(sys.argv[1] + '.new', sys.argv[1])
                """, url.path, name])
            #expect(made.status == 0, "\(made.output)")
            try FileManager.default.removeItem(at: Checksums.sidecarURL(for: url))
        }, message: "unsafe entry name", useCatalogRecord: false)
    }

    @Test("Not enough disk space stops the backup before it writes, records the failure and raises an alert")
    func diskFull() throws {
        let store = try Store(availableBytes: { _ in 10 << 20 })
        let failure = #expect(throws: BackupFailure.self) { _ = try store.backup() }
        #expect(failure?.error.code == .insufficientSpace)
        #expect(failure?.job.status == .failed)
        #expect(failure?.job.error?.contains("Not enough free disk space") == true)
        let data = store.context.dataDirectory
        #expect(fileList(data.archivesRoot).allSatisfy { !$0.hasSuffix(".zip") })
        #expect(fileList(data.tmp).isEmpty)
        let alert = try #require(try store.context.catalog.alerts().first)
        #expect(alert.kind == "disk-space")
        #expect(alert.severity == .critical)
    }

    @Test("Not enough space for the pre-restore copy: refused before the live database is touched")
    func restoreDiskFull() throws {
        let space = SpaceProbe(bytes: 1 << 40)
        let store = try Store(availableBytes: { _ in space.bytes })
        let job = try store.backup()
        try setMarker(store.database, "live")
        let before = try sha256(store.database)
        space.bytes = 1 << 20
        let failure = #expect(throws: RestoreFailure.self) { _ = try store.restore(.backup(job)) }
        #expect(failure?.error.code == .insufficientSpace)
        // The domain says the copy can be skipped; the CLI and the API each say how (WordingTests, CLI tests).
        #expect(failure?.error.remedy == .skipPreRestoreCopy && failure?.error.message.contains("--") == false)
        #expect(try sha256(store.database) == before)
        #expect(fileList(store.context.dataDirectory.preRestore).isEmpty)
    }

    @Test("A repeated failure counts up one alert instead of adding another")
    func alertDeduplication() throws {
        let store = try Store(availableBytes: { _ in 0 })
        for _ in 0..<3 { _ = try? store.backup() }
        let alerts = try store.context.catalog.alerts()
        #expect(alerts.count == 1)
        #expect(alerts.first?.count == 3)
    }

    @Test("A missing POS database fails the job with a clear message and files its leftovers under failed/")
    func missingDatabase() throws {
        let store = try Store()
        try FileManager.default.removeItem(at: store.database)
        let failure = #expect(throws: BackupFailure.self) { _ = try store.backup() }
        #expect(failure?.error.message.contains("POS database was not found") == true)
        #expect(fileList(store.context.dataDirectory.failedRoot) == ["\(failure!.job.id!)"])
    }

    @Test("Start-up recovery deletes scratch a killed job left on its way out, and files unknown leftovers")
    func recoveryCleansScratch() throws {
        let store = try Store()
        let tmp = store.context.dataDirectory.tmp
        try Data(repeating: 1, count: 4096).write(to: tmp.appendingPathComponent("removing-0F1E2D3C"))
        try FileManager.default.createDirectory(at: tmp.appendingPathComponent("stray-work"), withIntermediateDirectories: true)
        try JobRecovery(context: store.context).recoverInterruptedJobs()
        #expect(fileList(tmp).isEmpty)
        #expect(fileList(store.context.dataDirectory.failedRoot) == ["orphan-stray-work"])
    }

    @Test("Crash recovery leaves tmp/ alone while a verify outside the job lock works there, and sweeps once it is done")
    func recoverySparesAVerifyInProgress() throws {
        let store = try Store()
        let tmp = store.context.dataDirectory.tmp
        var verify: UnlockedScratch? = try UnlockedScratch(store.context.dataDirectory, name: "verify")
        let scratch = try #require(verify).url
        try POSIXFile.makePrivateDirectory(scratch)
        try Data(repeating: 2, count: 4096).write(to: scratch.appendingPathComponent("image.sqlite"))
        try FileManager.default.createDirectory(at: tmp.appendingPathComponent("stray-work"), withIntermediateDirectories: true)
        // Another process's backup starts and recovers (flock conflicts between open files, in one process as in two).
        _ = try store.backup()
        #expect(fileList(tmp).contains(scratch.lastPathComponent))
        #expect(POSIXFile.exists(scratch.appendingPathComponent("image.sqlite")))
        #expect(!fileList(store.context.dataDirectory.failedRoot).contains { $0.hasPrefix("orphan-") })
        verify = nil
        #expect(!POSIXFile.exists(scratch))
        try JobRecovery(context: store.context).recoverInterruptedJobs()
        #expect(fileList(tmp).isEmpty)
        #expect(fileList(store.context.dataDirectory.failedRoot).contains("orphan-stray-work"))
    }

    @Test("caps-backup verify leaves no scratch behind, ok or failed")
    func verifyLeavesNoScratch() throws {
        let store = try Store()
        let job = try store.backup()
        let report = VerifyJob(context: store.context).run(archive: URL(fileURLWithPath: job.path!), job: job)
        #expect(report.status == "ok" && report.integrity == "ok")
        let bogus = store.dir.path("bogus.zip")
        try Data("not a zip".utf8).write(to: bogus)
        #expect(VerifyJob(context: store.context).run(archive: bogus).status == "failed")
        #expect(fileList(store.context.dataDirectory.tmp).isEmpty)
    }

    @Test("A full backup leaves nothing in tmp/, with or without the integrity check that keeps its snapshot longer")
    func fullBackupLeavesNoScratch() throws {
        let store = try Store()
        _ = try DatabaseBackupJob(context: store.context).run(trigger: .manual, integrityCheck: false)
        _ = try DatabaseBackupJob(context: store.context).run(trigger: .manual, integrityCheck: true)
        #expect(fileList(store.context.dataDirectory.tmp).isEmpty)
    }

    @Test("Only one job runs at a time")
    func oneJobAtATime() throws {
        let store = try Store()
        let held = try #require(try JobLock.tryAcquire(store.context.dataDirectory))
        let failure = #expect(throws: BackupError.self) { _ = try store.backup() }
        #expect(failure?.code == .busy)
        withExtendedLifetime(held) {}
    }
}

/// Rewrites an archive with a modified manifest and extra entries, keeping the other entries' bytes.
func rewriteArchive(_ url: URL, _ change: (inout Manifest, inout [String: [UInt8]]) -> Void) throws {
    let reader = try ZipReader(url: url)
    var manifest = try Manifest.decode(try reader.readData(reader.entry(named: Manifest.entryName)!, limit: 1 << 20))
    var extra: [String: [UInt8]] = [:]
    change(&manifest, &extra)
    let rewritten = url.appendingPathExtension("new")
    let writer = try ZipWriter(creating: rewritten)
    for entry in reader.entries where entry.name != Manifest.entryName {
        try writer.addEntry(entry.name, data: try reader.readData(entry, limit: 1 << 30), modified: Date())
    }
    for (name, data) in extra { try writer.addEntry(name, data: data, modified: Date()) }
    try writer.addEntry(Manifest.entryName, data: try manifest.encoded(), modified: Date())
    try writer.finish()
    try POSIXFile.rename(rewritten, to: url)
    try? FileManager.default.removeItem(at: Checksums.sidecarURL(for: url))
}

@Suite("Deleting a backup")
struct BackupDeletionTests {
    @Test("Deletion removes the archive and sidecar, keeps the row as deleted with who and when, and is audited")
    func deleteKeepsHistory() throws {
        let dir = TemporaryDirectory()
        let database = dir.path("pos.db")
        try makeStoreDatabase(database)
        let context = try makeContext(dir, posDatabase: database)
        let job = try DatabaseBackupJob(context: context).run(trigger: .manual)
        let archive = URL(fileURLWithPath: job.path!)
        let deleted = try BackupDeletion(context: context).delete(job, reason: "user:admin",
                                                                  actor: .init(userId: "admin", stationId: "till-1", client: "127.0.0.1"))
        #expect(!POSIXFile.exists(archive) && !POSIXFile.exists(Checksums.sidecarURL(for: archive)))
        #expect(!POSIXFile.exists(context.dataDirectory.pageIndex(job.uuid)))
        let row = try #require(try context.catalog.job(id: job.id!))
        #expect(row.status == .deleted && row.deletedBy == "user:admin" && row.deletedAt != nil && row.path == job.path)
        #expect(deleted.status == .deleted)
        let audit = try #require(try context.catalog.auditLog().first)
        #expect(audit.action == "backup.delete" && audit.userId == "admin" && audit.stationId == "till-1")
        // A deleted backup cannot be restored, with a clear message.
        let failure = #expect(throws: RestoreFailure.self) { _ = try DatabaseRestoreJob(context: context).run(.backup(row)) }
        #expect(failure?.error.message.contains("is deleted") == true)
    }
}

/// A free-space figure a test can change between steps.
final class SpaceProbe: @unchecked Sendable {
    private let lock = NSLock()
    private var value: UInt64
    init(bytes: UInt64) { value = bytes }
    var bytes: UInt64 {
        get { lock.withLock { value } }
        set { lock.withLock { value = newValue } }
    }
}
