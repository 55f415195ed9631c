import Foundation

/// Wall-clock arithmetic in the store's time zone, shared by retention (which day, week, month a
/// backup belongs to) and scheduling (when 23:59 local is).
///
/// Everything is integer arithmetic on "wall seconds" (seconds since 1970-01-01 00:00 *local*);
/// the zone is asked only for its UTC offset at an instant. That keeps the rules explicit and fast
/// (retention buckets 100,000 backups), and independent of `Calendar.nextDate`'s DST policies.
public struct LocalCalendar: Sendable {
    public let timeZone: TimeZone

    public init(_ timeZone: TimeZone) { self.timeZone = timeZone }

    /// Seconds since 1970-01-01 00:00 in local wall-clock time.
    public func wallSeconds(_ date: Date) -> Int64 {
        let utc = Int64(date.timeIntervalSince1970.rounded(.down))
        return utc + offset(at: utc)
    }

    /// The local day of `date`, as days since 1970-01-01.
    public func day(_ date: Date) -> Int { Int(floorDiv(wallSeconds(date), 86_400)) }

    /// The instant the local clock reads `hour:minute` on `day`.
    /// - A time skipped by a spring-forward change does not exist: the first valid instant after
    ///   it is used (02:30 on the spring-forward day → 03:00).
    /// - A time repeated by a fall-back change exists twice: the first occurrence is used.
    public func instant(day: Int, hour: Int, minute: Int) -> Date {
        let wall = Int64(day) * 86_400 + Int64(hour) * 3_600 + Int64(minute) * 60
        // Offsets a day either side bracket at most one change (no zone changes twice in two days).
        let before = offset(at: wall - 86_400), after = offset(at: wall + 86_400)
        let candidates = Set([wall - before, wall - after]).filter { wall - $0 == offset(at: $0) }
        if let first = candidates.min() { return Self.date(first) }
        // In the gap: the clock jumped from before `wall` to after it; the jump instant is the answer.
        return Self.date(firstInstant(from: wall - after, to: wall - before) { offset(at: $0) == after })
    }

    /// The first instant after `date` at which the local clock shows `minute` past the hour (second 0),
    /// in real time: in a repeated hour that happens twice, in a skipped hour never. When the offset
    /// changes between `date` and the candidate, the search starts again from the change.
    public func nextTime(minute: Int, after date: Date) -> Date {
        var from = Int64(date.timeIntervalSince1970.rounded(.down)) + 1
        while true {
            let current = offset(at: from)
            let wall = from + current
            var candidate = wall - floorMod(wall, 3_600) + Int64(minute) * 60
            if candidate < wall { candidate += 3_600 }
            let run = candidate - current
            if offset(at: run) == current { return Self.date(run) }
            from = firstInstant(from: from, to: run) { offset(at: $0) != current }
        }
    }

    /// The first UTC second in `low...high` for which `condition` holds (it must hold at `high`
    /// and, once true, stay true).
    func firstInstant(from low: Int64, to high: Int64, where condition: (Int64) -> Bool) -> Int64 {
        var low = low, high = high
        while low < high {
            let mid = low + (high - low) / 2
            if condition(mid) { high = mid } else { low = mid + 1 }
        }
        return high
    }

    func offset(at utcSeconds: Int64) -> Int64 {
        Int64(timeZone.secondsFromGMT(for: Self.date(utcSeconds)))
    }

    static func date(_ utcSeconds: Int64) -> Date { Date(timeIntervalSince1970: TimeInterval(utcSeconds)) }
}

/// A proleptic Gregorian calendar date, converted to and from a day number (days since
/// 1970-01-01) with Howard Hinnant's `days_from_civil` / `civil_from_days`.
public struct CivilDate: Sendable, Hashable, Comparable {
    public var year: Int
    public var month: Int
    public var day: Int

    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    public init(dayNumber: Int) {
        let z = dayNumber + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        day = doy - (153 * mp + 2) / 5 + 1
        month = mp < 10 ? mp + 3 : mp - 9
        year = yoe + era * 400 + (month <= 2 ? 1 : 0)
    }

    public var dayNumber: Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = month > 2 ? month - 3 : month + 9
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// ISO weekday of a day number: 1 = Monday … 7 = Sunday (1970-01-01 was a Thursday).
    public static func weekday(dayNumber: Int) -> Int { Int(floorMod(Int64(dayNumber) + 3, 7)) + 1 }

    /// ISO 8601 week-numbering year and week: the week belongs to the year of its Thursday.
    public static func isoWeek(dayNumber: Int) -> (year: Int, week: Int) {
        let thursday = dayNumber + 4 - weekday(dayNumber: dayNumber)
        let year = CivilDate(dayNumber: thursday).year
        return (year, (thursday - CivilDate(year: year, month: 1, day: 1).dayNumber) / 7 + 1)
    }

    public static func < (a: CivilDate, b: CivilDate) -> Bool { (a.year, a.month, a.day) < (b.year, b.month, b.day) }
}

extension BackupSettings.Schedules {
    /// The store's zone: the configured one, or the server's.
    public var zone: TimeZone { timeZone.flatMap(TimeZone.init(identifier:)) ?? .current }
}

func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }
func floorMod(_ a: Int64, _ b: Int64) -> Int64 { a - floorDiv(a, b) * b }
