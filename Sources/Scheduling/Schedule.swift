import BackupCore
import Foundation

/// When one kind of backup runs, and the pure math of its next run in the store's local time.
/// The DST rules are in docs/scheduling.md; in short: hourly runs at its minute in every real hour
/// (twice in a repeated hour, never in a skipped one); daily, weekly and monthly runs happen once on
/// their day, at the first valid instant (a skipped 02:30 runs at 03:00; a repeated 01:30 runs at
/// its first occurrence only).
public struct Schedule: Sendable, Equatable {
    public enum Rule: Sendable, Equatable {
        case hourly(minute: Int)
        case daily(hour: Int, minute: Int)
        /// weekday 1 = Monday … 7 = Sunday
        case weekly(weekday: Int, hour: Int, minute: Int)
        /// day 1…28
        case monthly(day: Int, hour: Int, minute: Int)
    }

    public var kind: BackupKind
    public var rule: Rule

    public init(_ kind: BackupKind, _ rule: Rule) {
        self.kind = kind
        self.rule = rule
    }

    /// The enabled schedules of the settings, in the order they run when due together: database
    /// first (the critical tier, the full before an incremental that would build on it), then files,
    /// then the full archive.
    public static func enabled(_ s: BackupSettings.Schedules) -> [Schedule] {
        var result: [Schedule] = []
        if s.dbFull.enabled { result.append(Schedule(.dbFull, .daily(hour: s.dbFull.hour, minute: s.dbFull.minute))) }
        if s.dbIncremental.enabled { result.append(Schedule(.dbIncremental, .hourly(minute: s.dbIncremental.minute))) }
        if s.files.enabled {
            result.append(Schedule(.files, .weekly(weekday: s.files.weekday, hour: s.files.hour, minute: s.files.minute)))
        }
        if s.full.enabled { result.append(Schedule(.full, .monthly(day: s.full.day, hour: s.full.hour, minute: s.full.minute))) }
        return result
    }

    /// The first run strictly after `date`.
    public func next(after date: Date, in calendar: LocalCalendar) -> Date {
        switch rule {
        case .hourly(let minute):
            return calendar.nextTime(minute: minute, after: date)
        case .daily(let hour, let minute):
            return firstRun(after: date, calendar: calendar, hour: hour, minute: minute) { _ in true }
        case .weekly(let weekday, let hour, let minute):
            return firstRun(after: date, calendar: calendar, hour: hour, minute: minute) { CivilDate.weekday(dayNumber: $0) == weekday }
        case .monthly(let day, let hour, let minute):
            return firstRun(after: date, calendar: calendar, hour: hour, minute: minute) { CivilDate(dayNumber: $0).day == day }
        }
    }

    /// How many runs fell in `(start, end]`.
    public func runs(after start: Date, through end: Date, in calendar: LocalCalendar) -> Int {
        var count = 0
        var t = next(after: start, in: calendar)
        while t <= end {
            count += 1
            t = next(after: t, in: calendar)
        }
        return count
    }

    /// The last run in `(start, end]`, if any.
    public func latestRun(after start: Date, through end: Date, in calendar: LocalCalendar) -> Date? {
        var latest: Date?
        var t = next(after: start, in: calendar)
        while t <= end {
            latest = t
            t = next(after: t, in: calendar)
        }
        return latest
    }

    /// Walks local days from the one holding `date`; every rule matches within 62 days.
    private func firstRun(after date: Date, calendar: LocalCalendar, hour: Int, minute: Int, on matches: (Int) -> Bool) -> Date {
        let first = calendar.day(date)
        for day in first...(first + 62) where matches(day) {
            let run = calendar.instant(day: day, hour: hour, minute: minute)
            if run > date { return run }
        }
        preconditionFailure("no \(rule) run within 62 days")
    }
}
