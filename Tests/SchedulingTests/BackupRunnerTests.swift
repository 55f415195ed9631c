import BackupCore
import Foundation
import Scheduling
import Testing

/// The real runner on a tiny real store: lock, full disk, retention after success.
@Suite("BackupRunner")
struct BackupRunnerTests {
    struct Store {
        let dir = TestDirectory("runner")
        let database: URL
        let context: BackupContext
        let freeBytes = Locked<UInt64>(1 << 40)

        init(clock: FakeClock? = nil) throws {
            database = dir.url.appendingPathComponent("pos.db")
            try SQLiteConnection(path: database.path, mode: .create).execute("""
                PRAGMA journal_mode=WAL;
                CREATE TABLE sale(id INTEGER PRIMARY KEY, total REAL);
                WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500) INSERT INTO sale(total) SELECT x FROM c;
                """)
            let free = freeBytes
            context = try dir.context(posDatabase: database, clock: clock, availableBytes: { _ in free.get })
        }

        var runner: BackupRunner { BackupRunner(context: context) }
        var archives: [String] {
            (try? FileManager.default.contentsOfDirectory(atPath: context.dataDirectory.archives(.dbFull).path))?.sorted() ?? []
        }
    }

    @Test("A full disk stops the job before it writes anything and raises an alert; existing backups are untouched")
    func fullDisk() throws {
        let store = try Store()
        guard case .succeeded(let first, _) = store.runner.run(.dbFull, trigger: .manual, integrityCheck: false) else {
            Issue.record("the first backup should succeed")
            return
        }
        let before = store.archives
        let sha = try Checksums.sha256(of: URL(fileURLWithPath: first.path!))

        store.freeBytes.write { $0 = 1 << 20 }
        guard case .failed(let error, let job) = store.runner.run(.dbFull, trigger: .scheduled, alertOnFailure: false) else {
            Issue.record("a backup on a full disk must fail")
            return
        }
        #expect(error.code == .insufficientSpace)
        #expect(job?.status == .failed && job?.path == nil)
        #expect(store.archives == before)
        #expect(try Checksums.sha256(of: URL(fileURLWithPath: first.path!)) == sha)
        #expect(try store.context.catalog.job(id: first.id!)?.status == .succeeded)
        #expect((try? FileManager.default.contentsOfDirectory(atPath: store.context.dataDirectory.tmp.path))?.isEmpty == true)
        let alert = try #require(try store.context.catalog.alerts().first { $0.kind == "disk-space" })
        #expect(alert.severity == .critical)
    }

    @Test("When another process holds the job lock, the run is skipped with the reason")
    func lockHeld() throws {
        let store = try Store()
        let held = try #require(try JobLock.tryAcquire(store.context.dataDirectory))
        let outcome = store.runner.run(.dbFull, trigger: .scheduled)
        guard case .skipped(let reason) = outcome else {
            Issue.record("expected a skip, got \(outcome)")
            return
        }
        #expect(reason.contains("another backup"))
        #expect(try store.context.catalog.jobs().isEmpty)
        withExtendedLifetime(held) {}
    }

    @Test("The scheduler records a lock skip as a log line and an audit entry")
    func schedulerSkipsOnLock() async throws {
        let clock = FakeClock(local("2026-05-13 23:50"), end: local("2026-05-14 00:10"))
        let store = try Store(clock: clock)
        try SettingsStore(catalog: store.context.catalog).save(settings { s in
            s.schedules.dbIncremental.enabled = false
            s.schedules.files.enabled = false
            s.schedules.full.enabled = false
        })
        let held = try #require(try JobLock.tryAcquire(store.context.dataDirectory))
        let logs = LogCollector()
        await Scheduler(catalog: store.context.catalog, runner: store.runner, clock: clock, log: logs.log).run()
        withExtendedLifetime(held) {}
        #expect(logs.events("schedule.skipped").first?.fields["reason"] == "another backup or restore is running")
        let audit = try store.context.catalog.auditLog().first { $0.action == "schedule.skip" }
        #expect(audit?.target == "db-full" && audit?.userId == "scheduler")
        #expect(logs.events("backup.failed").isEmpty, "a skip is not a failure: no retry")
    }

    @Test("After a success, retention runs: the older backups of the day are deleted, archive and sidecar")
    func retentionAfterSuccess() throws {
        let store = try Store()
        try SettingsStore(catalog: store.context.catalog).save(settings { s in
            s.retention.keepHourly = 0
            s.retention.keepDaily = 1
            s.retention.keepWeekly = 0
            s.retention.keepMonthly = 0
        })
        var jobs: [BackupRecord] = []
        var pruned: [Int] = []
        for _ in 0..<3 {
            guard case .succeeded(let job, let count) = store.runner.run(.dbFull, trigger: .manual, integrityCheck: false) else {
                Issue.record("backup failed")
                return
            }
            jobs.append(job)
            pruned.append(count)
        }
        #expect(pruned == [0, 1, 1])
        #expect(store.archives == [URL(fileURLWithPath: jobs[2].path!).lastPathComponent, URL(fileURLWithPath: jobs[2].path!).lastPathComponent + ".sha256"])
        for old in jobs.prefix(2) {
            let row = try #require(try store.context.catalog.job(id: old.id!))
            #expect(row.status == .deleted && row.deletedBy?.hasPrefix("retention: ") == true)
        }
    }

    @Test("A file backup with no uploads folder configured fails with a configuration error; the alert only when asked")
    func notConfigured() throws {
        let store = try Store()
        guard case .failed(let error, nil) = store.runner.run(.files, trigger: .scheduled, alertOnFailure: false) else {
            Issue.record("expected a failure")
            return
        }
        #expect(error.code == .configuration)
        #expect(try store.context.catalog.alerts().isEmpty)
        _ = store.runner.run(.files, trigger: .manual)
        #expect(try store.context.catalog.alerts().map(\.kind) == ["backup-failed"])
    }
}
