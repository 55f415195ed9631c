import BackupCore
import Foundation
import Scheduling
import Testing

@Suite("Schedule math: next run in local time, across DST")
struct ScheduleTests {
    let ny = LocalCalendar(newYork)

    func runs(_ schedule: Schedule, after start: Date, count: Int, in calendar: LocalCalendar? = nil) -> [String] {
        let calendar = calendar ?? ny
        var t = start
        return (0..<count).map { _ in
            t = schedule.next(after: t, in: calendar)
            return wall(t, calendar.timeZone, offset: true)
        }
    }

    @Test("The spec's defaults: hourly at :00, daily 23:59, Sunday 03:00, the 1st at 02:00")
    func defaults() {
        let all = Schedule.enabled(BackupSettings().schedules)
        #expect(all.map(\.kind) == [.dbFull, .dbIncremental, .files, .full])
        let from = local("2026-05-13 10:20") // a Wednesday
        #expect(all.map { wall($0.next(after: from, in: ny)) } == ["2026-05-13 23:59", "2026-05-13 11:00", "2026-05-17 03:00", "2026-06-01 02:00"])
    }

    @Test("Strictly after: a run at its own due time is not due again")
    func strictlyAfter() {
        let daily = Schedule(.dbFull, .daily(hour: 23, minute: 59))
        let due = local("2026-05-13 23:59")
        #expect(wall(daily.next(after: due, in: ny)) == "2026-05-14 23:59")
        #expect(wall(daily.next(after: due.addingTimeInterval(-0.5), in: ny)) == "2026-05-13 23:59")
    }

    @Test("Spring forward: a daily 02:30 runs once on the 8th, at 03:00, the first valid time")
    func springForwardSequence() {
        let daily = Schedule(.dbFull, .daily(hour: 2, minute: 30))
        #expect(runs(daily, after: local("2026-03-06 12:00"), count: 3)
                == ["2026-03-07 02:30 -05:00", "2026-03-08 03:00 -04:00", "2026-03-09 02:30 -04:00"])
    }

    @Test("Fall back: a daily 01:30 runs once, at the first 01:30 (EDT), never again at 01:30 EST")
    func fallBackDaily() {
        let daily = Schedule(.dbFull, .daily(hour: 1, minute: 30))
        #expect(runs(daily, after: local("2026-10-31 12:00"), count: 2) == ["2026-11-01 01:30 -04:00", "2026-11-02 01:30 -05:00"])
        // Even when asked from between the two 01:30s (a restart at 01:45 EDT), it does not run again that day.
        let between = local("2026-11-01 01:30").addingTimeInterval(45 * 60)
        #expect(wall(daily.next(after: between, in: ny), offset: true) == "2026-11-02 01:30 -05:00")
    }

    @Test("Hourly runs every real hour: none in the skipped hour, two in the repeated one")
    func hourlyAcrossTransitions() {
        let hourly = Schedule(.dbIncremental, .hourly(minute: 0))
        #expect(runs(hourly, after: local("2026-03-08 00:30"), count: 3)
                == ["2026-03-08 01:00 -05:00", "2026-03-08 03:00 -04:00", "2026-03-08 04:00 -04:00"])
        let halfPast = Schedule(.dbIncremental, .hourly(minute: 30))
        #expect(runs(halfPast, after: local("2026-11-01 00:00"), count: 4)
                == ["2026-11-01 00:30 -04:00", "2026-11-01 01:30 -04:00", "2026-11-01 01:30 -05:00", "2026-11-01 02:30 -05:00"])
        // 23 runs on the spring-forward day, 25 on the fall-back day.
        #expect(hourly.runs(after: local("2026-03-08 00:00").addingTimeInterval(-1), through: local("2026-03-09 00:00").addingTimeInterval(-1), in: ny) == 23)
        #expect(hourly.runs(after: local("2026-11-01 00:00").addingTimeInterval(-1), through: local("2026-11-02 00:00").addingTimeInterval(-1), in: ny) == 25)
    }

    @Test("Weekly and monthly on a transition day")
    func weeklyMonthly() {
        // 2026-03-08 is a Sunday: a Sunday 02:30 run moves to 03:00; 2026-11-01 is a Sunday and the 1st.
        let weekly = Schedule(.files, .weekly(weekday: 7, hour: 2, minute: 30))
        #expect(runs(weekly, after: local("2026-03-02 00:00"), count: 2) == ["2026-03-08 03:00 -04:00", "2026-03-15 02:30 -04:00"])
        let monthly = Schedule(.full, .monthly(day: 1, hour: 1, minute: 15))
        #expect(runs(monthly, after: local("2026-10-15 00:00"), count: 2) == ["2026-11-01 01:15 -04:00", "2026-12-01 01:15 -05:00"])
    }

    @Test("Southern hemisphere and a zone that moves by 30 minutes")
    func otherZones() {
        let sydney = LocalCalendar(TimeZone(identifier: "Australia/Sydney")!)
        let daily = Schedule(.dbFull, .daily(hour: 2, minute: 30))
        #expect(runs(daily, after: local("2026-10-03 12:00", sydney.timeZone), count: 2, in: sydney)
                == ["2026-10-04 03:00 +11:00", "2026-10-05 02:30 +11:00"])
        #expect(runs(daily, after: local("2026-04-04 12:00", sydney.timeZone), count: 2, in: sydney)
                == ["2026-04-05 02:30 +11:00", "2026-04-06 02:30 +10:00"])
        // Lord Howe springs forward 02:00 → 02:30: a daily 02:10 runs at 02:30.
        let lordHowe = LocalCalendar(TimeZone(identifier: "Australia/Lord_Howe")!)
        let early = Schedule(.dbFull, .daily(hour: 2, minute: 10))
        #expect(runs(early, after: local("2026-10-03 12:00", lordHowe.timeZone), count: 1, in: lordHowe) == ["2026-10-04 02:30 +11:00"])
    }

    @Test("Property: over random instants in six zones, next() is the first matching instant after, by brute force")
    func bruteForce() {
        var random = SplitMix64(seed: 20_260_308)
        let zones = ["America/New_York", "Australia/Sydney", "Australia/Lord_Howe", "Asia/Kolkata", "UTC", "Europe/London"]
        let base = local("2026-01-01 00:00", TimeZone(identifier: "UTC")!).timeIntervalSince1970
        for _ in 0..<300 {
            let calendar = LocalCalendar(TimeZone(identifier: zones[Int(random.next() % UInt64(zones.count))])!)
            let start = Date(timeIntervalSince1970: base + Double(random.next() % (2 * 365 * 86_400)))
            let minute = Int(random.next() % 60), hour = Int(random.next() % 24)

            // Hourly: the first whole minute after `start` whose local minute matches.
            let hourly = Schedule(.dbIncremental, .hourly(minute: minute)).next(after: start, in: calendar)
            var t = (start.timeIntervalSince1970 / 60).rounded(.down) * 60 + 60
            while localMinute(Date(timeIntervalSince1970: t), calendar) != minute { t += 60 }
            #expect(hourly.timeIntervalSince1970 == t, "\(calendar.timeZone.identifier) \(start) :\(minute)")

            // Daily: the first occurrence of hour:minute on its local day, or the end of a gap holding it.
            let daily = Schedule(.dbFull, .daily(hour: hour, minute: minute)).next(after: start, in: calendar)
            #expect(daily > start && daily.timeIntervalSince(start) <= 26 * 3_600)
            let reading = localHourMinute(daily, calendar)
            if reading != hour * 60 + minute {
                // In a gap: the minute before reads earlier than hour:minute, and the run reads later.
                let before = localHourMinute(daily.addingTimeInterval(-60), calendar)
                #expect(before < hour * 60 + minute && reading > hour * 60 + minute, "\(calendar.timeZone.identifier) \(daily)")
            } else {
                // The first occurrence: the same reading did not happen within the previous two hours.
                for back in stride(from: 60.0, through: 7_200, by: 60) {
                    let earlier = daily.addingTimeInterval(-back)
                    #expect(!(localHourMinute(earlier, calendar) == reading && calendar.day(earlier) == calendar.day(daily)))
                }
            }
        }
    }

    func localMinute(_ date: Date, _ calendar: LocalCalendar) -> Int {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = calendar.timeZone
        return c.component(.minute, from: date)
    }

    func localHourMinute(_ date: Date, _ calendar: LocalCalendar) -> Int {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = calendar.timeZone
        let parts = c.dateComponents([.hour, .minute], from: date)
        return parts.hour! * 60 + parts.minute!
    }
}

/// A small, fast, seedable generator for property tests.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
