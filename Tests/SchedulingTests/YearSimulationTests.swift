import BackupCore
import Foundation
import Scheduling
import Testing

@Suite("A simulated year")
struct YearSimulationTests {
    @Test("A year of the spec's schedules in New York: runs at the right local times across both DST changes, and retention keeps exactly the policy")
    func year() async throws {
        var h = try Harness(from: "2026-01-01 00:30", to: "2027-01-01 12:30", settings())
        h.options.pollInterval = 3_600
        await h.run()

        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = newYork
        let calls = h.runner.calls.get
        func runs(_ kind: BackupKind) -> [DateComponents] {
            calls.filter { $0.kind == kind }.map { calendar.dateComponents([.year, .month, .day, .hour, .minute, .weekday], from: $0.at) }
        }
        // Every real hour at :00 (8,772 hours from 00:30 on Jan 1 to 12:30 a year later), 23 on the
        // spring-forward day, 25 on the fall-back day; daily at 23:59; Sundays 03:00; the 1st at 02:00.
        let hourly = runs(.dbIncremental)
        #expect(hourly.count == 365 * 24 + 12 && hourly.allSatisfy { $0.minute == 0 })
        #expect(hourly.filter { $0.month == 3 && $0.day == 8 && $0.year == 2026 }.count == 23)
        #expect(hourly.filter { $0.month == 11 && $0.day == 1 && $0.year == 2026 }.count == 25)
        #expect(hourly.filter { $0.month == 11 && $0.day == 1 && $0.hour == 1 }.count == 2)
        let hourlyTimes = calls.filter { $0.kind == .dbIncremental }.map(\.at)
        #expect(zip(hourlyTimes, hourlyTimes.dropFirst()).allSatisfy { $1.timeIntervalSince($0) == 3_600 }, "one real hour apart, always")
        let daily = runs(.dbFull)
        #expect(daily.count == 365 && daily.allSatisfy { $0.hour == 23 && $0.minute == 59 })
        let weekly = runs(.files)
        #expect(weekly.count == 52 && weekly.allSatisfy { $0.weekday == 1 && $0.hour == 3 && $0.minute == 0 })
        let monthly = runs(.full)
        #expect(monthly.count == 13 && monthly.allSatisfy { $0.day == 1 && $0.hour == 2 && $0.minute == 0 })
        #expect(h.logs.events("schedule.skipped").isEmpty && h.logs.events("backup.failed").isEmpty)

        // What is left, on 2027-01-01 12:30 (a Friday), by hand:
        // - incrementals: the last 24 hours that have one (Jan 1 00:00–12:00, Dec 31 13:00–23:00), plus
        //   Dec 31 00:00–12:00, which Dec 31 13:00 builds on: 24 + 13 = 37;
        // - fulls: 7 days (Jan 1's newest is an incremental; Dec 26–31), 4 weeks (adds Dec 13 and Dec 20),
        //   12 months (Jan's is an incremental, Dec 31 counted; adds Feb 28 … Nov 30): 6 + 2 + 10 = 18;
        // - file backups: the last 2; full archives: the last 12.
        let kept = try h.context.catalog.jobs(status: .succeeded, limit: .max)
        func count(_ kind: BackupKind) -> Int { kept.filter { $0.kind == kind }.count }
        #expect(count(.dbIncremental) == 37)
        #expect(count(.dbFull) == 18)
        #expect(count(.files) == 2)
        #expect(count(.full) == 12)

        // Pruning after every run leaves exactly what one plan over the whole history keeps.
        var everything = try h.context.catalog.jobs(limit: .max)
        let deleted = everything.filter { $0.status == .deleted }
        #expect(deleted.count == everything.count - kept.count)
        #expect(deleted.allSatisfy { $0.deletedBy?.hasPrefix("retention: ") == true && $0.deletedAt != nil })
        for i in everything.indices { everything[i].status = .succeeded }
        let plan = RetentionPolicy.plan(backups: everything, now: h.clock.now(), settings: .init(), timeZone: newYork)
        #expect(Set(plan.filter(\.keep).map(\.id)) == Set(kept.map { $0.id! }))
    }
}
