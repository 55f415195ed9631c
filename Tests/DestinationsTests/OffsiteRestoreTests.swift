import BackupCore
import Destinations
import Foundation
import Testing

/// A small store: a POS database with a table of sales, a data directory and its catalog.
struct Store {
    let root: URL
    let context: BackupContext

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("caps-offsite-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let pos = root.appendingPathComponent("pos.db")
        let db = try SQLiteConnection(path: pos.path, mode: .create)
        try db.execute("PRAGMA journal_mode=WAL; CREATE TABLE sale (id INTEGER PRIMARY KEY, total INTEGER, note TEXT);")
        try db.execute("BEGIN; " + (1...2000).map { "INSERT INTO sale (total, note) VALUES (\($0 * 7), 'sale \($0)');" }.joined() + " COMMIT;")
        let directory = DataDirectory(root.appendingPathComponent("data"))
        try directory.prepare()
        context = BackupContext(dataDirectory: directory, catalog: try Catalog(url: directory.catalog), posDatabase: pos)
    }

    func sales() throws -> String? {
        try SQLiteConnection(path: context.posDatabase!.path, mode: .readOnly).scalar("SELECT count(*) || ':' || sum(total) FROM sale")
    }

    func remove() { try? FileManager.default.removeItem(at: root) }
}

/// Runs a job on a thread of its own, as the server and the CLI do: a job waits for async destination
/// calls, which must not happen on Swift's cooperative pool (two threads here).
func onJobThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

@Suite("Off-site copies: the outbox, and restoring from a copy")
struct OffsiteRestoreTests {
    @Test("a succeeded backup has a pending copy for each enabled destination that takes its kind, and only those")
    func outboxIsWrittenWithSuccess() throws {
        let store = try Store()
        defer { store.remove() }
        let catalog = store.context.catalog
        try catalog.save(DestinationRecord(name: "drive", kinds: [.dbFull, .files, .full], createdAt: Date()))
        try catalog.save(DestinationRecord(name: "hourlies-only", kinds: [.dbIncremental], createdAt: Date()))
        try catalog.save(DestinationRecord(name: "off", kinds: [.dbFull], enabled: false, createdAt: Date()))
        let full = try DatabaseBackupJob(context: store.context, kind: .dbFull).run(trigger: .manual, integrityCheck: false)
        let copies = try catalog.offsiteCopies(of: full.id!)
        #expect(copies.map(\.destination) == ["drive"])
        #expect(copies.first?.status == .pending && copies.first?.size == full.size)

        // A backup that fails has none.
        var broken = store.context
        broken.posDatabase = store.root.appendingPathComponent("missing.db")
        #expect(throws: (any Error).self) { try DatabaseBackupJob(context: broken, kind: .dbFull).run(trigger: .manual) }
        let failed = try #require(try catalog.jobs(status: .failed).first)
        #expect(try catalog.offsiteCopies(of: failed.id!).isEmpty)
    }

    @Test("a backup whose archive is gone from this disk is restored from its off-site copy, byte for byte")
    func restoreFromOffsiteCopy() async throws {
        let store = try Store()
        defer { store.remove() }
        let remote = try LocalFolderDestination(name: "folder", root: store.root.appendingPathComponent("nas"))
        try store.context.catalog.save(DestinationRecord(name: "folder", kinds: [.dbFull, .dbIncremental], createdAt: Date()))
        var settings = BackupSettings()
        settings.uploads.dbIncremental = true  // off by default
        try SettingsStore(catalog: store.context.catalog).save(settings)
        let base = try DatabaseBackupJob(context: store.context, kind: .dbIncremental).run(trigger: .manual)
        try SQLiteConnection(path: store.context.posDatabase!.path, mode: .readWrite).execute("INSERT INTO sale (total, note) VALUES (99, 'late')")
        let link = try DatabaseBackupJob(context: store.context, kind: .dbIncremental).run(trigger: .manual)
        #expect(link.parentId == base.id)
        let expected = try store.sales()

        let copied = try await OffsiteCopier(context: store.context, destination: remote).copyPending()
        #expect(copied.map(\.status) == [.uploaded, .uploaded])
        #expect(copied.allSatisfy { $0.remoteChecksum?.algorithm == .sha256 && $0.attempts == 1 && $0.remoteId != nil })
        #expect(try store.context.catalog.pendingCopies(to: "folder").isEmpty)

        // The server's disk loses both archives; the POS database is damaged.
        for job in [base, link] { try FileManager.default.removeItem(atPath: job.path!) }
        try SQLiteConnection(path: store.context.posDatabase!.path, mode: .readWrite).execute("DELETE FROM sale")
        let alone = store.context
        await #expect(throws: RestoreFailure.self, "without the destination at hand there is nothing to restore from") {
            try await onJobThread { try DatabaseRestoreJob(context: alone).run(.backup(link), preRestoreSnapshot: false) }
        }
        var withRemote = store.context
        withRemote.offsite = [remote]
        let context = withRemote
        let restore = try await onJobThread { try DatabaseRestoreJob(context: context).run(.backup(link), preRestoreSnapshot: false) }
        #expect(restore.status == .succeeded)
        #expect(restore.restoredImageSha256 == link.imageSha256)
        #expect(try store.sales() == expected)
    }

    @Test("an off-site copy that does not match the recorded checksum is refused and nothing changes")
    func damagedRemoteCopyIsRefused() async throws {
        let store = try Store()
        defer { store.remove() }
        let nas = store.root.appendingPathComponent("nas")
        let remote = try LocalFolderDestination(name: "folder", root: nas)
        try store.context.catalog.save(DestinationRecord(name: "folder", kinds: [.dbFull], createdAt: Date()))
        let full = try DatabaseBackupJob(context: store.context, kind: .dbFull).run(trigger: .manual)
        let copy = try #require(try await OffsiteCopier(context: store.context, destination: remote).copyPending().first)
        try FileManager.default.removeItem(atPath: full.path!)
        // Someone edits the copy on the NAS.
        let file = try FileHandle(forWritingTo: nas.appendingPathComponent(copy.remoteId!))
        try file.seek(toOffset: 100)
        try file.write(contentsOf: Data([0xFF, 0xFE]))
        try file.close()
        let before = try store.sales()
        var withRemote = store.context
        withRemote.offsite = [remote]
        let context = withRemote
        await #expect(throws: RestoreFailure.self) {
            try await onJobThread { try DatabaseRestoreJob(context: context).run(.backup(full), preRestoreSnapshot: false) }
        }
        #expect(try store.sales() == before)
    }
}
