import BackupCore
import Foundation
import Scheduling
import Testing

/// A scheduler on a fresh catalog with a fake clock and a recording runner.
struct Harness {
    let dir = TestDirectory()
    let clock: FakeClock
    let context: BackupContext
    let logs = LogCollector()
    var runner: RecordingRunner
    var options = Scheduler.Options()

    init(from start: String, to end: String, _ settings: BackupSettings) throws {
        clock = FakeClock(local(start), end: local(end))
        context = try dir.context(clock: clock)
        runner = RecordingRunner(context: context, clock: clock)
        try SettingsStore(catalog: context.catalog).save(settings)
    }

    func run() async {
        await Scheduler(catalog: context.catalog, runner: runner, clock: clock, log: logs.log, options: options).run()
    }

    var calls: [String] { runner.calls.get.map { "\($0.kind.rawValue) \(wall($0.at))" } }

    /// A row as an earlier run would have left it.
    func history(_ kind: BackupKind, _ time: String, status: JobStatus = .succeeded) throws {
        var job = BackupRecord(kind: kind, trigger: .scheduled, startedAt: local(time))
        job.status = status
        _ = try context.catalog.insert(job)
    }

    func alerts(_ kind: String) throws -> [BackupCore.Alert] { try context.catalog.alerts().filter { $0.kind == kind } }
}

@Suite("Scheduler: overlap, retry, catch-up, live settings, errors")
struct SchedulerTests {
    static let dbOnly = settings { s in
        s.schedules.files.enabled = false
        s.schedules.full.enabled = false
    }

    @Test("Runs due while another backup runs are skipped, logged and audited once; the newest is made up when it ends")
    func overlap() async throws {
        var h = try Harness(from: "2026-05-13 23:30", to: "2026-05-14 02:30", Self.dbOnly)
        h.runner.duration = { $0 == .dbFull ? 90 * 60 : 60 }
        await h.run()
        // 00:00 and 01:00 fall due during the 90-minute full; 01:00's run is made up at 01:29, and 02:00 runs as usual.
        #expect(h.calls == ["db-full 2026-05-13 23:59", "db-incremental 2026-05-14 01:29", "db-incremental 2026-05-14 02:00"])
        let skips = h.logs.events("schedule.skipped")
        #expect(skips.map { $0.fields["kind"] } == ["db-incremental"] && skips.first?.fields["runs"] == "2")
        #expect(skips.first?.fields["makeUp"] == Timestamp.iso8601(local("2026-05-14 01:00")))
        let audit = try h.context.catalog.auditLog().filter { $0.action == "schedule.skip" }
        #expect(audit.count == 1 && audit.first?.target == "db-incremental" && audit.first?.outcome == "skipped")
        #expect(audit.first?.detail?.contains("another backup was running") == true)
        #expect(audit.first?.detail?.contains("the newest runs as soon as the slot is free") == true)
    }

    @Test("The 00:00 hourly skipped by a 23:59 full that runs until 00:03 starts right at 00:03, once (R4.3)")
    func hourlyAfterNightlyFull() async throws {
        var h = try Harness(from: "2026-05-13 23:30", to: "2026-05-14 01:30", Self.dbOnly)
        h.runner.duration = { $0 == .dbFull ? 4 * 60 : 60 }
        await h.run()
        let calls = h.runner.calls.get
        #expect(h.calls == ["db-full 2026-05-13 23:59", "db-incremental 2026-05-14 00:03", "db-incremental 2026-05-14 01:00"])
        let madeUp = try #require(calls.dropFirst().first)
        #expect(madeUp.at == local("2026-05-14 00:03"), "at once when the full ends")
        #expect(madeUp.at <= local("2026-05-14 00:08"), "within R4.3's five minutes")

        // The skip is logged and audited once; the made-up run says what it is, and is no catch-up.
        let skips = h.logs.events("schedule.skipped")
        #expect(skips.count == 1 && skips.first?.fields["runs"] == "1" && skips.first?.fields["kind"] == "db-incremental")
        #expect(skips.first?.fields["makeUp"] == Timestamp.iso8601(local("2026-05-14 00:00")))
        let audit = try h.context.catalog.auditLog().filter { $0.action == "schedule.skip" }
        #expect(audit.map(\.detail) == ["another backup was running at the scheduled time; it runs as soon as the slot is free"])
        let started = h.logs.events("backup.started").filter { $0.fields["kind"] == "db-incremental" }
        #expect(started.map { $0.fields["deferred"] } == ["true", nil])
        #expect(started.first?.fields["due"] == Timestamp.iso8601(local("2026-05-14 00:00")))
        #expect(h.logs.events("backup.catch-up").isEmpty)
    }

    @Test("A run skipped because another process holds the job lock runs within 30 s of its release, logged once")
    func lockHeldElsewhere() async throws {
        var h = try Harness(from: "2026-05-13 09:30", to: "2026-05-13 10:30", Self.dbOnly)
        let release = local("2026-05-13 10:07")
        h.runner.busy = { now in now < release ? "another backup or restore is running" : nil }
        await h.run()
        let calls = h.runner.calls.get
        #expect(calls.map(\.kind) == [.dbIncremental])
        let first = try #require(calls.first)
        #expect(first.at >= release && first.at <= release.addingTimeInterval(30))
        #expect(h.runner.skips.get.count > 1, "it tried again while the lock was held")
        let skips = h.logs.events("schedule.skipped")
        #expect(skips.count == 1 && skips.first?.fields["reason"] == "another backup or restore is running")
        #expect(try h.context.catalog.auditLog().filter { $0.action == "schedule.skip" }.count == 1)
    }

    @Test("A skipped run is never made up after its kind's next scheduled time: that run takes over")
    func makeUpIsBounded() async throws {
        var h = try Harness(from: "2026-05-13 10:30", to: "2026-05-13 12:30", Self.dbOnly)
        let release = local("2026-05-13 12:10")
        h.runner.busy = { now in now < release ? "another backup or restore is running" : nil }
        await h.run()
        // 11:00 waits for the lock until 12:00, then is dropped; 12:00 is skipped in its turn and made up at 12:10.
        #expect(h.calls == ["db-incremental 2026-05-13 12:10"])
        #expect(h.runner.skips.get.allSatisfy { $0 < release })
        #expect(h.runner.skips.get.filter { $0 >= local("2026-05-13 11:00") && $0 < local("2026-05-13 12:00") }.count > 1)
        let skips = h.logs.events("schedule.skipped")
        #expect(skips.map { $0.fields["makeUp"] } == [Timestamp.iso8601(local("2026-05-13 11:00")), Timestamp.iso8601(local("2026-05-13 12:00"))])
        #expect(try h.context.catalog.auditLog().filter { $0.action == "schedule.skip" }.count == 2)
    }

    @Test("A skipped run is not made up when someone else backed up its kind meanwhile")
    func makeUpNotNeeded() async throws {
        var h = try Harness(from: "2026-05-13 09:30", to: "2026-05-13 11:30", Self.dbOnly)
        let release = local("2026-05-13 10:05")
        h.runner.busy = { now in now < release ? "another backup or restore is running" : nil }
        // The process holding the lock was running an hourly of its own, which succeeded at 10:01.
        let catalog = h.context.catalog
        h.clock.at(local("2026-05-13 10:01")) {
            var job = BackupRecord(kind: .dbIncremental, trigger: .manual, startedAt: local("2026-05-13 10:00", newYork).addingTimeInterval(20))
            job.status = .succeeded
            _ = try! catalog.insert(job)
        }
        await h.run()
        #expect(h.calls == ["db-incremental 2026-05-13 11:00"], "no second hourly for 10:00")
        #expect(h.logs.events("schedule.skipped").count == 1)
    }

    @Test("A skipped run whose schedule is disabled meanwhile is not made up")
    func makeUpDroppedWhenDisabled() async throws {
        var h = try Harness(from: "2026-05-13 09:30", to: "2026-05-13 10:30", Self.dbOnly)
        h.runner.busy = { now in now < local("2026-05-13 10:05") ? "another backup or restore is running" : nil }
        let path = h.context.dataDirectory.catalog
        h.clock.at(local("2026-05-13 10:02")) {
            try! SettingsStore(catalog: try! Catalog(url: path)).save(settings { s in
                s.schedules.dbIncremental.enabled = false
                s.schedules.files.enabled = false
                s.schedules.full.enabled = false
            })
        }
        await h.run()
        #expect(h.calls.isEmpty)
    }

    @Test("Runs due at the same moment run one after the other, database first")
    func sameMoment() async throws {
        // Sunday 2026-05-17 03:00: the hourly and the weekly file backup are both due.
        let h = try Harness(from: "2026-05-17 02:30", to: "2026-05-17 03:30", settings { $0.schedules.dbFull.enabled = false })
        await h.run()
        #expect(h.calls == ["db-incremental 2026-05-17 03:00", "files 2026-05-17 03:00"])
        #expect(h.logs.events("schedule.skipped").isEmpty)
    }

    @Test("A failed run is retried once after 15 minutes; the second failure raises one alert, counted again the next night")
    func retryThenAlert() async throws {
        var h = try Harness(from: "2026-05-13 23:00", to: "2026-05-15 01:00", settings { s in
            s.schedules.dbIncremental.enabled = false
            s.schedules.files.enabled = false
            s.schedules.full.enabled = false
        })
        h.runner.fails = { _, _ in true }
        let alertsAtRetry = Locked<[Int]>([])
        let catalog = h.context.catalog
        h.runner.during = { _ in alertsAtRetry.write { $0.append((try? catalog.alerts().count) ?? -1) } }
        await h.run()
        #expect(h.calls == ["db-full 2026-05-13 23:59", "db-full 2026-05-14 00:14", "db-full 2026-05-14 23:59", "db-full 2026-05-15 00:14"])
        #expect(h.runner.calls.get.allSatisfy { !$0.alertOnFailure })
        #expect(alertsAtRetry.get.prefix(2) == [0, 0], "no alert after the first failure")
        let alerts = try h.alerts("scheduled-backup-failed")
        #expect(alerts.count == 1 && alerts.first?.count == 2 && alerts.first?.severity == .critical)
        #expect(alerts.first?.detail?.contains("simulated failure") == true)
        let failures = h.logs.events("backup.failed")
        #expect(failures.map(\.level) == [.warning, .error, .warning, .error])
        #expect(failures.first?.fields["retryAt"] == Timestamp.iso8601(local("2026-05-14 00:14")))
    }

    @Test("A retry that succeeds raises no alert")
    func retrySucceeds() async throws {
        var h = try Harness(from: "2026-05-13 23:00", to: "2026-05-14 23:00", settings { s in
            s.schedules.dbIncremental.enabled = false
            s.schedules.files.enabled = false
            s.schedules.full.enabled = false
        })
        h.runner.fails = { _, index in index == 0 }
        await h.run()
        #expect(h.calls == ["db-full 2026-05-13 23:59", "db-full 2026-05-14 00:14"])
        #expect(try h.context.catalog.alerts().isEmpty)
    }

    @Test("After a 3-day outage each missed kind runs once at start-up; a kind never run waits for its time")
    func catchUp() async throws {
        let h = try Harness(from: "2026-01-13 14:20", to: "2026-01-13 15:30", settings())
        try h.history(.dbFull, "2026-01-09 23:59")
        try h.history(.dbIncremental, "2026-01-10 10:00")
        try h.history(.files, "2026-01-04 03:00")
        await h.run()
        #expect(h.calls == ["db-full 2026-01-13 14:20", "db-incremental 2026-01-13 14:20", "files 2026-01-13 14:20",
                            "db-incremental 2026-01-13 15:00"])
        let catchUps = h.logs.events("backup.catch-up")
        #expect(catchUps.map { $0.fields["kind"] } == ["db-full", "db-incremental", "files"])
        #expect(catchUps.map { $0.fields["missedRuns"] } == ["3", "76", "1"])
    }

    @Test("A settings change written by another process applies without a restart")
    func liveSettings() async throws {
        let h = try Harness(from: "2026-05-13 10:30", to: "2026-05-13 13:10", settings { s in
            s.schedules.dbFull.enabled = false
            s.schedules.files.enabled = false
            s.schedules.full.enabled = false
        })
        let path = h.context.dataDirectory.catalog
        h.clock.at(local("2026-05-13 11:20")) {
            let other = try! Catalog(url: path)
            try! SettingsStore(catalog: other).save(settings { s in
                s.schedules.dbIncremental.minute = 45
                s.schedules.dbFull = .init(enabled: true, hour: 12, minute: 50)
                s.schedules.files.enabled = false
                s.schedules.full.enabled = false
            })
        }
        await h.run()
        #expect(h.calls == ["db-incremental 2026-05-13 11:00", "db-incremental 2026-05-13 11:45",
                            "db-incremental 2026-05-13 12:45", "db-full 2026-05-13 12:50"])
    }

    @Test("An error inside the scheduler is logged and alerted once, and scheduling continues")
    func errorsDoNotStopScheduling() async throws {
        var h = try Harness(from: "2026-05-13 09:30", to: "2026-05-13 12:30", Self.dbOnly)
        h.options.errorBackoff = 5 * 60
        let path = h.context.dataDirectory.catalog
        h.clock.at(local("2026-05-13 09:40")) {
            try! SQLiteConnection(path: path.path, mode: .readWrite)
                .execute("UPDATE backup_settings SET value = '{broken' WHERE key = 'schedules'")
        }
        h.clock.at(local("2026-05-13 10:30")) {
            try! SettingsStore(catalog: try! Catalog(url: path)).save(Self.dbOnly)
        }
        await h.run()
        let calls = h.runner.calls.get
        #expect(calls.count == 3)
        #expect(calls.first.map { $0.at >= local("2026-05-13 10:30") && $0.at <= local("2026-05-13 10:36") } == true,
                "the 10:00 run happens once the settings are readable again")
        #expect(h.calls.dropFirst() == ["db-incremental 2026-05-13 11:00", "db-incremental 2026-05-13 12:00"])
        let errors = h.logs.events("scheduler.error")
        #expect(errors.count >= 5 && errors.allSatisfy { $0.level == .error })
        let alerts = try h.alerts("scheduler-error")
        #expect(alerts.count == 1 && alerts.first?.count == errors.count)
    }

    @Test("A wall clock set back (NTP) does not make a run that already happened due again")
    func clockSetBack() async throws {
        var h = try Harness(from: "2026-05-13 10:30", to: "2026-05-13 12:30", Self.dbOnly)
        let clock = h.clock
        h.runner.during = { call in if wall(call.at) == "2026-05-13 11:00" { clock.advance(by: -120) } }
        await h.run()
        #expect(h.calls == ["db-incremental 2026-05-13 11:00", "db-incremental 2026-05-13 12:00"])
    }

    @Test("Log lines are one JSON object each, with the event, level and time")
    func jsonLines() {
        let record = LogRecord(at: local("2026-05-13 10:00"), level: .warning, event: "schedule.skipped", fields: ["kind": "files"])
        #expect(record.jsonLine == #"{"at":"2026-05-13T14:00:00.000Z","event":"schedule.skipped","kind":"files","level":"warning"}"#)
    }
}
