import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A calendar day, counted from 1970-01-01 in the proleptic Gregorian calendar.
///
/// The seeder formats millions of timestamps; doing the calendar arithmetic by hand
/// (Howard Hinnant's `days_from_civil`) is far cheaper than going through `DateFormatter`.
struct CivilDay: Comparable, Hashable, Sendable {
    var daysSinceEpoch: Int

    init(daysSinceEpoch: Int) { self.daysSinceEpoch = daysSinceEpoch }

    init(year: Int, month: Int, day: Int) {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        daysSinceEpoch = era * 146_097 + dayOfEra - 719_468
    }

    /// The local calendar day of `date`.
    init(local date: Date) {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        localtime_r(&seconds, &parts)
        self.init(year: Int(parts.tm_year) + 1900, month: Int(parts.tm_mon) + 1, day: Int(parts.tm_mday))
    }

    var ymd: (year: Int, month: Int, day: Int) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// 0 = Sunday … 6 = Saturday (1970-01-01 was a Thursday).
    var weekday: Int { ((daysSinceEpoch % 7) + 11) % 7 }

    /// 0-based day within its year.
    var dayOfYear: Int { daysSinceEpoch - CivilDay(year: ymd.year, month: 1, day: 1).daysSinceEpoch }

    func adding(days: Int) -> CivilDay { CivilDay(daysSinceEpoch: daysSinceEpoch + days) }

    /// The same day `years` years earlier (Feb 29 becomes Feb 28).
    func subtracting(years: Int) -> CivilDay {
        let (y, m, d) = ymd
        return CivilDay(year: y - years, month: m, day: (m == 2 && d == 29) ? 28 : d)
    }

    static func < (a: CivilDay, b: CivilDay) -> Bool { a.daysSinceEpoch < b.daysSinceEpoch }
}

/// SQLite-style text timestamps, `YYYY-MM-DD` and `YYYY-MM-DD HH:MM:SS`, the way the POS stores them.
enum Timestamp {
    static func date(_ day: CivilDay) -> String {
        let (y, m, d) = day.ymd
        return String(unsafeUninitializedCapacity: 10) { out in
            put(y, 4, out, 0); out[4] = 0x2D; put(m, 2, out, 5); out[7] = 0x2D; put(d, 2, out, 8)
            return 10
        }
    }

    static func dateTime(_ day: CivilDay, secondOfDay: Int) -> String {
        let (y, m, d) = day.ymd
        return String(unsafeUninitializedCapacity: 19) { out in
            put(y, 4, out, 0); out[4] = 0x2D; put(m, 2, out, 5); out[7] = 0x2D; put(d, 2, out, 8)
            out[10] = 0x20
            put(secondOfDay / 3600, 2, out, 11); out[13] = 0x3A
            put(secondOfDay / 60 % 60, 2, out, 14); out[16] = 0x3A
            put(secondOfDay % 60, 2, out, 17)
            return 19
        }
    }

    /// Local wall-clock time of a Unix timestamp in nanoseconds.
    static func localDateTime(unixNanos: Int64) -> String {
        var seconds = time_t(unixNanos / 1_000_000_000)
        var parts = tm()
        localtime_r(&seconds, &parts)
        let day = CivilDay(year: Int(parts.tm_year) + 1900, month: Int(parts.tm_mon) + 1, day: Int(parts.tm_mday))
        return dateTime(day, secondOfDay: Int(parts.tm_hour) * 3600 + Int(parts.tm_min) * 60 + Int(parts.tm_sec))
    }

    private static func put(_ value: Int, _ width: Int, _ out: UnsafeMutableBufferPointer<UInt8>, _ at: Int) {
        var v = value
        for i in stride(from: width - 1, through: 0, by: -1) {
            out[at + i] = UInt8(0x30 + v % 10)
            v /= 10
        }
    }
}

/// The two clocks the simulator needs: wall-clock for the ledger (comparable across processes)
/// and monotonic for pacing and latencies (immune to clock steps).
enum Clock {
    static func realtimeNanos() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    static func monotonicNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
