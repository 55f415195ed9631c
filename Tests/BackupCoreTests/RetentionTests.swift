import BackupCore
import Foundation
import Testing

let newYork = TimeZone(identifier: "America/New_York")!

/// "2026-01-05 23:30" on the local clock of `zone`.
func localTime(_ text: String, _ zone: TimeZone = newYork) -> Date {
    let p = text.split(whereSeparator: { " -:".contains($0) }).map { Int($0)! }
    return LocalCalendar(zone).instant(day: CivilDate(year: p[0], month: p[1], day: p[2]).dayNumber, hour: p[3], minute: p[4])
}

/// A backup history built row by row; ids in insertion order.
struct History {
    private(set) var jobs: [BackupRecord] = []

    @discardableResult
    mutating func add(_ kind: BackupKind, _ time: String, status: JobStatus = .succeeded, parent: Int64? = nil) -> Int64 {
        add(kind, at: localTime(time), status: status, parent: parent)
    }

    @discardableResult
    mutating func add(_ kind: BackupKind, at time: Date, status: JobStatus = .succeeded, parent: Int64? = nil) -> Int64 {
        var job = BackupRecord(kind: kind, trigger: .scheduled, startedAt: time)
        job.id = Int64(jobs.count + 1)
        job.status = status
        job.parentId = parent
        jobs.append(job)
        return job.id!
    }

    /// Decisions by id, with only the given rules (the others zero unless set).
    func plan(now: String, zone: TimeZone = newYork, hourly: Int = 0, daily: Int = 0, weekly: Int = 0, monthly: Int = 0,
              files: Int = 2, full: Int = 12) -> [Int64: RetentionDecision] {
        var s = BackupSettings.RetentionSettings()
        (s.keepHourly, s.keepDaily, s.keepWeekly, s.keepMonthly, s.keepFileBackups, s.keepFullArchives) = (hourly, daily, weekly, monthly, files, full)
        let decisions = RetentionPolicy.plan(backups: jobs, now: localTime(now, zone), settings: s, timeZone: zone)
        return Dictionary(uniqueKeysWithValues: decisions.map { ($0.id, $0) })
    }
}

extension Dictionary where Key == Int64, Value == RetentionDecision {
    var kept: Set<Int64> { Set(filter { $0.value.keep }.keys) }
    var deleted: Set<Int64> { Set(filter { !$0.value.keep }.keys) }
}

@Suite("Retention policy (table tests)")
struct RetentionTests {
    @Test("Daily: the newest backup of each of the last 7 days")
    func daily() {
        var h = History()
        for day in 1...10 { h.add(.dbFull, "2026-01-\(day) 23:59") }
        let plan = h.plan(now: "2026-01-10 23:59", daily: 7)
        #expect(plan.kept == Set(4...10))
        #expect(plan[10]?.reasons.first == .daily("2026-01-10"))
        #expect(plan[1]?.reason.hasPrefix("not the newest of any of the last 7 days") == true)
    }

    @Test("Days without a backup do not count (restic), and the newest of a day wins")
    func emptyPeriodsSkipped() {
        var h = History()
        for day in [1, 2, 5, 9, 20] { h.add(.dbFull, "2026-01-\(day) 10:00") }
        h.add(.dbFull, "2026-01-20 08:00")
        h.add(.dbFull, "2026-01-20 23:00")
        let plan = h.plan(now: "2026-02-15 12:00", daily: 3)
        #expect(plan.kept == [3, 4, 7])
    }

    @Test("Days are the store's local days, not UTC days")
    func localDays() {
        var h = History()
        h.add(.dbFull, "2026-01-05 20:00") // 2026-01-06 01:00 UTC
        h.add(.dbFull, "2026-01-05 23:30") // 2026-01-06 04:30 UTC
        h.add(.dbFull, "2026-01-06 00:30") // 2026-01-06 05:30 UTC
        #expect(h.plan(now: "2026-01-07 00:00", daily: 2).kept == [2, 3])
        #expect(h.plan(now: "2026-01-07 00:00", zone: TimeZone(identifier: "UTC")!, daily: 2).kept == [3])
    }

    @Test("Weeks are ISO weeks, Monday to Sunday; 2027-01-01 is in 2026-W53")
    func isoWeeks() {
        var h = History()
        h.add(.dbFull, "2026-12-20 22:00") // Sunday, W51
        h.add(.dbFull, "2026-12-27 22:00") // Sunday, W52
        h.add(.dbFull, "2026-12-28 01:00") // Monday, W53
        h.add(.dbFull, "2027-01-01 09:00") // Friday, W53
        let plan = h.plan(now: "2027-01-01 12:00", weekly: 2)
        #expect(plan.kept == [2, 4])
        #expect(plan[4]?.reasons == [.weekly("2026-W53")])
        #expect(plan[2]?.reasons == [.weekly("2026-W52")])
    }

    @Test("Months are calendar months; one backup can be kept by several rules")
    func monthsAndOverlap() {
        var h = History()
        h.add(.dbFull, "2026-01-15 12:00")
        h.add(.dbFull, "2026-01-31 23:59")
        h.add(.dbFull, "2026-02-10 12:00")
        h.add(.dbFull, "2026-03-01 00:10")
        let plan = h.plan(now: "2026-03-01 12:00", daily: 1, weekly: 1, monthly: 3)
        #expect(plan.kept == [2, 3, 4])
        #expect(plan[4]?.reasons == [.daily("2026-03-01"), .weekly("2026-W09"), .monthly("2026-03")])
        #expect(plan[1]?.keep == false)
    }

    @Test("Fall-back day: the repeated 01:00 hour is one hourly period; the day is one day")
    func fallBackHour() {
        var h = History()
        h.add(.dbIncremental, at: Date(timeIntervalSince1970: 1_793_509_200)) // 2026-11-01 01:00 EDT (05:00Z)
        h.add(.dbIncremental, at: Date(timeIntervalSince1970: 1_793_512_800)) // 2026-11-01 01:00 EST (06:00Z)
        h.add(.dbIncremental, at: Date(timeIntervalSince1970: 1_793_516_400)) // 2026-11-01 02:00 EST (07:00Z)
        let plan = h.plan(now: "2026-11-01 12:00", hourly: 24)
        #expect(plan.kept == [2, 3])
        #expect(plan[2]?.reasons == [.hourly("2026-11-01 01:00")])
        #expect(h.plan(now: "2026-11-01 12:00", daily: 1).kept == [3])
    }

    @Test("keepHourly counts hours of incrementals; a full in the same hour takes no hourly slot")
    func hourlyIsForIncrementals() {
        var h = History()
        var parent = h.add(.dbFull, "2026-05-12 23:59")
        for hour in 0..<30 {
            let day = hour < 24 ? 13 : 14
            parent = h.add(.dbIncremental, "2026-05-\(day) \(hour % 24):00", parent: parent)
            if hour == 23 { parent = h.add(.dbFull, "2026-05-13 23:59") }
        }
        let plan = h.plan(now: "2026-05-14 06:00", hourly: 24)
        let keptIncrementals = h.jobs.filter { plan.kept.contains($0.id!) && $0.kind == .dbIncremental }
        // The last 24 hours with an incremental: 2026-05-13 06:00 … 2026-05-14 05:00; and the chain under
        // them back to the full of 05-12 (incrementals 00:00–05:00 of the 13th).
        #expect(keptIncrementals.count == 30)
        #expect(plan.kept.contains(1) && plan.kept.contains(26))
        #expect(plan[2]?.reasons == [.parent(of: 3)])
        #expect(plan[26]?.reasons.contains(.parent(of: 27)) == true)
    }

    @Test("Kept incrementals keep their whole chain; an unrelated old chain goes")
    func chains() {
        var h = History()
        let oldFull = h.add(.dbFull, "2026-05-01 23:59")
        h.add(.dbIncremental, "2026-05-02 01:00", parent: oldFull)
        let full = h.add(.dbFull, "2026-05-10 23:59")
        let a = h.add(.dbIncremental, "2026-05-11 01:00", parent: full)
        let b = h.add(.dbIncremental, "2026-05-11 02:00", parent: a)
        let c = h.add(.dbIncremental, "2026-05-11 03:00", parent: b)
        let plan = h.plan(now: "2026-05-11 04:00", hourly: 1)
        #expect(plan.kept == [full, a, b, c])
        #expect(plan[a]?.reasons == [.parent(of: b)])
        #expect(plan[full]?.reasons.contains(.parent(of: a)) == true)
        #expect(plan.deleted == [oldFull, 2])
    }

    @Test("The newest backup of each kind is never deleted")
    func newestOfKind() {
        var h = History()
        h.add(.dbFull, "2026-05-10 23:59")
        h.add(.dbFull, "2026-05-11 10:00")
        h.add(.dbIncremental, "2026-05-11 12:00")
        let plan = h.plan(now: "2026-05-11 13:00", daily: 2)
        #expect(plan.kept == [1, 2, 3])
        #expect(plan[2]?.reasons == [.newestOfKind])
        // No full is kept by a rule, but the database tier keeps the incremental: no alert.
        let one = h.plan(now: "2026-05-11 13:00", daily: 1)
        #expect(one.kept == [2, 3] && one[2]?.reasons == [.newestOfKind])
    }

    @Test("Settings that would delete everything keep the newest of each kind, marked for an alert")
    func wouldDeleteAll() {
        var h = History()
        let full = h.add(.dbFull, "2026-05-10 23:59")
        h.add(.dbFull, "2026-05-11 23:59")
        h.add(.dbIncremental, "2026-05-12 01:00", parent: full)
        let plan = h.plan(now: "2026-05-12 02:00")
        #expect(plan.kept == [1, 2, 3])
        #expect(plan[2]?.reasons == [.onlyRemaining] && plan[3]?.reasons == [.onlyRemaining])
        #expect(plan[1]?.reasons == [.parent(of: 3)])
    }

    @Test("File backups keep the newest 2, full archives the newest 12")
    func filesAndFull() {
        var h = History()
        for week in 1...5 { h.add(.files, "2026-02-0\(week) 03:00") }
        for month in 1...12 { h.add(.full, "2025-\(month)-01 02:00") }
        for month in 1...3 { h.add(.full, "2026-\(month)-01 02:00") }
        let plan = h.plan(now: "2026-03-10 00:00", daily: 7, weekly: 4, monthly: 12)
        #expect(Set(plan.kept.filter { $0 <= 5 }) == [4, 5])
        #expect(plan[5]?.reasons == [.newest(rank: 1, of: 2)])
        #expect(plan[4]?.reason == "newest 2 of 2")
        #expect(Set(plan.deleted.filter { $0 > 5 }) == [6, 7, 8])
        #expect(plan[6]?.reason == "older than the newest 12 full archives")
    }

    @Test("Only succeeded backups are planned; a failed newer one does not count; a deleted parent ends the chain")
    func onlySucceeded() {
        var h = History()
        let gone = h.add(.dbFull, "2026-05-09 23:59", status: .deleted)
        h.add(.dbIncremental, "2026-05-10 01:00", parent: gone)
        h.add(.dbFull, "2026-05-10 23:59")
        h.add(.dbFull, "2026-05-11 23:59", status: .failed)
        h.add(.dbFull, "2026-05-12 10:00", status: .running)
        let plan = h.plan(now: "2026-05-12 11:00", daily: 1)
        #expect(Set(plan.keys) == [2, 3])
        #expect(plan[3]?.reasons == [.daily("2026-05-10")])
        #expect(plan[2]?.reasons == [.newestOfKind], "the database tier keeps backup 3: no alert")
    }

    @Test("A backup dated in the future is left alone and takes no period")
    func future() {
        var h = History()
        h.add(.dbFull, "2026-05-10 23:59")
        h.add(.dbFull, "2026-05-11 10:00")
        h.add(.dbFull, "2026-06-30 10:00")
        let plan = h.plan(now: "2026-05-11 12:00", daily: 1)
        #expect(plan.kept == [2, 3])
        #expect(plan[3]?.reasons == [.future])
        #expect(plan[2]?.reasons == [.daily("2026-05-11")])
    }

    @Test("The spec's defaults over a year of nightly fulls keep 7 daily + 2 more weekly + 11 more monthly")
    func yearOfNightlies() {
        var h = History()
        let first = CivilDate(year: 2026, month: 1, day: 1).dayNumber
        for day in first..<(first + 365) {
            h.add(.dbFull, at: LocalCalendar(newYork).instant(day: day, hour: 23, minute: 59))
        }
        let plan = h.plan(now: "2026-12-31 23:59", hourly: 24, daily: 7, weekly: 4, monthly: 12)
        #expect(plan.kept.count == 20)
        let keptDays = h.jobs.filter { plan.kept.contains($0.id!) }.map { LocalCalendar(newYork).day($0.startedAt) - first + 1 }
        // Dec 25–31 daily; Dec 13 and 20 weekly; the last day of Jan … Nov monthly.
        #expect(keptDays.sorted() == [31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 347, 354, 359, 360, 361, 362, 363, 364, 365])
    }
}

@Suite("Retention pruner")
struct RetentionPrunerTests {
    /// A catalog with real archive files (and sidecars) for the history's rows.
    func catalog(_ dir: TemporaryDirectory, _ history: History) throws -> BackupContext {
        let context = try makeContext(dir, posDatabase: nil)
        for var job in history.jobs {
            let archive = context.dataDirectory.archives(job.kind).appendingPathComponent("\(job.kind.rawValue)-\(job.id!).zip")
            try Data("zip".utf8).write(to: archive)
            try Data("sum".utf8).write(to: Checksums.sidecarURL(for: archive))
            job.path = archive.path
            job.id = nil
            _ = try context.catalog.insert(job)
        }
        return context
    }

    @Test("Deletion keeps the row (status deleted, deleted_by retention: reason), removes archive and sidecar, audits")
    func applies() throws {
        let dir = TemporaryDirectory()
        var h = History()
        for day in 1...3 { h.add(.dbFull, "2026-01-0\(day) 23:59") }
        let context = try catalog(dir, h)
        var s = BackupSettings()
        s.schedules.timeZone = "America/New_York"
        s.retention.keepDaily = 1
        s.retention.keepWeekly = 0
        s.retention.keepMonthly = 0
        let plan = try RetentionPruner(context: context).plan(settings: s)
        #expect(plan.map { $0.keep } == [true, false, false])
        #expect(try context.catalog.jobs(status: .succeeded).count == 3, "planning changes nothing")

        try RetentionPruner(context: context).apply(plan)
        let rows = try context.catalog.jobs()
        #expect(rows.map(\.status) == [.succeeded, .deleted, .deleted])
        for row in rows.dropFirst() {
            #expect(row.deletedBy?.hasPrefix("retention: not the newest") == true && row.deletedAt != nil)
            #expect(!FileManager.default.fileExists(atPath: row.path!))
            #expect(!FileManager.default.fileExists(atPath: row.path! + ".sha256"))
        }
        #expect(FileManager.default.fileExists(atPath: rows[0].path!))
        let audit = try context.catalog.auditLog().filter { $0.action == "backup.delete" }
        #expect(audit.count == 2 && audit.allSatisfy { $0.userId == "retention" && $0.detail?.hasPrefix("retention: ") == true })
        #expect(try context.catalog.alerts().isEmpty)
    }

    @Test("A backup deleted by someone else between plan and apply is left as it is")
    func rereadsBeforeDeleting() throws {
        let dir = TemporaryDirectory()
        var h = History()
        for day in 1...3 { h.add(.dbFull, "2026-01-0\(day) 23:59") }
        let context = try catalog(dir, h)
        var s = BackupSettings()
        s.schedules.timeZone = "America/New_York"
        (s.retention.keepDaily, s.retention.keepWeekly, s.retention.keepMonthly) = (1, 0, 0)
        let plan = try RetentionPruner(context: context).plan(settings: s)
        let oldest = try #require(try context.catalog.job(id: 1))
        try BackupDeletion(context: context).delete(oldest, reason: "user:admin")
        try RetentionPruner(context: context).apply(plan)
        #expect(try context.catalog.job(id: 1)?.deletedBy == "user:admin")
        #expect(try context.catalog.job(id: 2)?.deletedBy?.hasPrefix("retention: ") == true)
    }

    @Test("Settings that would delete every backup keep one and raise one alert per kind, counted on repeat")
    func alertWhenAllWouldGo() throws {
        let dir = TemporaryDirectory()
        var h = History()
        h.add(.dbFull, "2026-01-01 23:59")
        h.add(.dbFull, "2026-01-02 23:59")
        let context = try catalog(dir, h)
        var s = BackupSettings()
        s.retention.keepHourly = 0
        s.retention.keepDaily = 0
        s.retention.keepWeekly = 0
        s.retention.keepMonthly = 0
        try RetentionPruner(context: context).prune(settings: s)
        try RetentionPruner(context: context).prune(settings: s)
        #expect(try context.catalog.jobs(status: .succeeded).count == 1)
        let alerts = try context.catalog.alerts()
        #expect(alerts.map(\.kind) == ["retention-keep-all"] && alerts.first?.count == 2)
        #expect(alerts.first?.message.contains("full database backup") == true)
    }
}
