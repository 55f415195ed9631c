import BackupCore
import Foundation
import Testing

/// The apply step of a restore while the POS keeps committing (issue 15, part 4): a writer on its own
/// connection and thread, committing as fast as SQLite lets it, must never make a successful apply
/// report failure. Its commits land right after the apply's transaction and grow the file, which a
/// check that reads the live file after the commit mistakes for a bad restore.
@Suite("Applying a restore beside a POS writing at full speed")
struct LiveRestoreUnderLoadTests {
    /// Enough applies to meet a commit in the gap after the copy every time it was tried on the old check
    /// (it failed within the first few); each apply of the small image takes milliseconds.
    static let rounds = 60

    @Test("Each apply succeeds and leaves the restored content, while every sale committed after it stays")
    func applyWhileWriting() throws {
        let dir = TemporaryDirectory()
        let live = dir.path("pos.db")
        try makeStoreDatabase(live, rows: 2000, marker: "live")
        // The verified image a restore applies: a VACUUM INTO output, as inside every archive.
        let source = dir.path("backup-source.db")
        try makeStoreDatabase(source, rows: 1500, marker: "restored")
        let image = dir.path("image.sqlite")
        try SQLiteConnection(path: source.path, mode: .readOnly).execute("VACUUM INTO \(sqlQuote(image.path))")
        let imagePages = try SQLiteConnection(path: image.path, mode: .readOnly).integer("PRAGMA page_count")

        let writer = FullSpeedWriter(database: live)
        writer.start()
        defer { writer.stop() }
        try writer.waitForCommits(10)

        var failures: [String] = []
        var commitsDuringApplies = 0
        for round in 0..<Self.rounds {
            let before = writer.commits
            do {
                try LiveDatabaseReplacer().replace(live, with: image)
            } catch {
                failures.append("round \(round): \(error)")
                break  // one is proof enough; no need to wait for the others
            }
            // The writer's next commit lands on the restored content; wait for it, so that every round
            // has a commit racing the end of its apply. Counted from the apply's end: a commit just
            // before the apply began is one the restore replaced.
            try writer.waitForCommits(writer.commits + 1)
            commitsDuringApplies += writer.commits - before
        }
        writer.stop()
        #expect(failures.isEmpty, "a successful apply was reported as failed: \(failures)")
        #expect(writer.error == nil, "the writer failed: \(writer.error ?? "")")
        #expect(commitsDuringApplies >= Self.rounds, "the writer kept committing during the applies")

        // The live file holds the restored content plus the writer's newest sales, and is sound.
        let db = try SQLiteConnection(path: live.path, mode: .readOnly)
        #expect(try db.scalar("SELECT value FROM marker") == "restored")
        #expect(try db.integrityProblems() == nil)
        #expect(try db.integer("PRAGMA page_count") > imagePages, "the writer's sales after the last apply grew the file")
        #expect(try db.integer("SELECT count(*) FROM invoice WHERE note = 'pos-sale'") > 0)
    }

    @Test("An image that is not a database is refused and leaves the live database as it was")
    func notADatabase() throws {
        let dir = TemporaryDirectory()
        let live = dir.path("pos.db")
        try makeStoreDatabase(live, marker: "live")
        let image = dir.path("image.sqlite")
        try Data(repeating: 0x41, count: 8192).write(to: image)
        #expect(throws: BackupError.self) { try LiveDatabaseReplacer().replace(live, with: image) }
        #expect(try marker(live) == "live")
        #expect(try SQLiteConnection(path: live.path, mode: .readOnly).integrityProblems() == nil)
    }
}

/// A POS stand-in committing sales as fast as it can: its own connection on its own thread, in WAL with
/// `synchronous=NORMAL` (no fsync per commit, as POS apps commonly run), retrying at once when the
/// database is locked (no busy-handler sleep), so that it takes the write lock the moment another
/// writer releases it. Between its own commits it leaves the lock free for a fifth of a millisecond, or
/// the apply (whose busy handler sleeps between tries, like any SQLite client's) could starve.
final class FullSpeedWriter: @unchecked Sendable {
    private let database: URL
    private let state = Mutexed<(commits: Int, stop: Bool, done: Bool, error: String?)>((0, false, false, nil))
    private let finished = DispatchSemaphore(value: 0)
    private var started = false

    init(database: URL) { self.database = database }

    var commits: Int { state.withLock { $0.commits } }
    var error: String? { state.withLock { $0.error } }

    func start() {
        started = true
        Thread { [self] in
            defer { finished.signal() }
            do {
                let db = try SQLiteConnection(path: database.path, mode: .readWrite, busyTimeoutMs: 0)
                try db.execute("PRAGMA synchronous=NORMAL")
                while !state.withLock({ $0.stop }) {
                    do {
                        try db.execute("BEGIN IMMEDIATE")
                    } catch let error as BackupError where error.code == .busy {
                        sched_yield()
                        continue
                    }
                    do {
                        // A sale: a new row big enough to need a new page at every commit.
                        try db.execute("INSERT INTO invoice(customer_id, total, note) VALUES (1, 9.99, 'pos-sale'); "
                                       + "INSERT INTO log_without_pk VALUES (datetime('now'), hex(randomblob(2000)))")
                        try db.execute("COMMIT")
                        state.withLock { $0.commits += 1 }
                        usleep(200)  // pacing, not waiting for anything
                    } catch let error as BackupError where error.code == .busy {
                        try? db.execute("ROLLBACK")
                    }
                }
            } catch {
                state.withLock { $0.error = String(describing: error) }
            }
        }.start()
    }

    /// Waits (bounded: 30 s) until at least `count` commits happened.
    func waitForCommits(_ count: Int) throws {
        let deadline = Date().addingTimeInterval(30)
        while commits < count {
            if let error { throw BackupError(.database, "the writer failed: \(error)") }
            guard Date() < deadline else { throw BackupError(.busy, "the writer made no progress for 30 s") }
            usleep(200)
        }
    }

    func stop() {
        let wait = state.withLock { s -> Bool in
            defer { s.stop = true; s.done = true }
            return started && !s.done
        }
        if wait { finished.wait() }
    }
}
