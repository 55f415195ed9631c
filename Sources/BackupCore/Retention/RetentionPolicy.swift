import Foundation

/// Why a backup is kept or deleted; one backup may be kept for several reasons.
public enum RetentionReason: Sendable, Hashable, CustomStringConvertible {
    /// Newest database backup of a calendar period (local time), labelled like "2026-11-26".
    case hourly(String), daily(String), weekly(String), monthly(String)
    /// File backups and full archives: among the newest `of`.
    case newest(rank: Int, of: Int)
    /// The newest backup of its kind is never deleted.
    case newestOfKind
    /// A kept incremental needs this archive to be restored.
    case parent(of: Int64)
    /// The settings would delete every backup of this tier; this one is kept and an alert raised.
    case onlyRemaining
    /// Dated after `now`: the clock is not trusted, the backup is left alone.
    case future
    /// Deleted: no rule keeps it; the text says which rules applied.
    case notKept(String)

    public var description: String {
        switch self {
        case .hourly(let hour): "newest of hour \(hour)"
        case .daily(let day): "newest of day \(day)"
        case .weekly(let week): "newest of week \(week)"
        case .monthly(let month): "newest of month \(month)"
        case .newest(let rank, let count): "newest \(rank) of \(count)"
        case .newestOfKind: "newest of its kind"
        case .parent(let child): "needed to restore backup \(child)"
        case .onlyRemaining: "the only one left: the retention settings would delete them all"
        case .future: "dated in the future (clock skew), left alone"
        case .notKept(let rules): rules
        }
    }
}

/// The decision for one succeeded backup.
public struct RetentionDecision: Sendable, Equatable {
    public var id: Int64
    public var kind: BackupKind
    /// The time the backup stands for (`RetentionPolicy.time(of:)`).
    public var time: Date
    public var keep: Bool
    public var reasons: [RetentionReason]

    public var reason: String { reasons.map(\.description).joined(separator: "; ") }
}

/// Which backups to keep, as a pure function of the history, the time and the settings (R6).
///
/// Database backups follow `restic forget --keep-daily D --keep-weekly W --keep-monthly M`: walking
/// from the newest, each rule keeps the newest backup of each of its last N local-time periods that
/// have one (days, ISO weeks Monday–Sunday, calendar months); empty periods are skipped, the rules
/// are ORed, db-full and db-incremental count alike (both are restore points). `keepHourly` is the
/// same rule over hours, applied to incrementals only: it keeps the last H hours of hourly restore
/// points, and leaves a store without incrementals at exactly D/W/M. File backups keep the newest
/// `keepFileBackups`, full archives the newest `keepFullArchives`. On top of the rules: the newest
/// backup of each kind is kept, every archive a kept incremental depends on is kept (parentId,
/// transitively), and when the rules would empty a tier (database, files or full archives), the
/// newest of each of its kinds is kept with `.onlyRemaining` (the caller raises an alert).
///
/// Only `succeeded` backups are planned; running, failed and deleted rows get no decision.
public enum RetentionPolicy {
    /// The time a backup stands for: its snapshot, else the job's start.
    public static func time(of job: BackupRecord) -> Date { job.snapshotStartedAt ?? job.startedAt }

    /// What the rules read of a backup: small, so that sorting 100,000 of them is cheap.
    struct Item {
        var id: Int64
        var kind: BackupKind
        var time: Date
        var parentId: Int64?
        var isDatabase: Bool { kind == .dbFull || kind == .dbIncremental }
    }

    /// Decisions newest first.
    public static func plan(backups: [BackupRecord], now: Date, settings: BackupSettings.RetentionSettings,
                            timeZone: TimeZone) -> [RetentionDecision] {
        let calendar = LocalCalendar(timeZone)
        let items = backups.compactMap { job in
            job.status == .succeeded ? job.id.map { Item(id: $0, kind: job.kind, time: time(of: job), parentId: job.parentId) } : nil
        }.sorted { ($0.time, $0.id) > ($1.time, $1.id) }
        // Reasons by position in `items`; an empty list means "not kept (yet)".
        var reasons = [[RetentionReason]](repeating: [], count: items.count)
        let future = items.firstIndex { $0.time <= now } ?? items.count
        for i in 0..<future { reasons[i].append(.future) }
        let dated = items.indices.dropFirst(future)

        CalendarRule.hourly(settings.keepHourly)
            .apply(to: dated.lazy.filter { items[$0].kind == .dbIncremental }, items, calendar) { reasons[$0].append($1) }
        for rule in CalendarRule.calendar(settings) {
            rule.apply(to: dated.lazy.filter { items[$0].isDatabase }, items, calendar) { reasons[$0].append($1) }
        }
        for (kind, count) in [(BackupKind.files, settings.keepFileBackups), (.full, settings.keepFullArchives)] {
            for (rank, i) in dated.lazy.filter({ items[$0].kind == kind }).prefix(count).enumerated() {
                reasons[i].append(.newest(rank: rank + 1, of: count))
            }
        }

        let position = Dictionary(items.indices.map { (items[$0].id, $0) }, uniquingKeysWith: { first, _ in first })
        func keepParents(of kept: [Int]) {
            var work = kept
            while let child = work.popLast() {
                guard let parentId = items[child].parentId, let parent = position[parentId] else { continue }
                if reasons[parent].isEmpty { work.append(parent) }
                reasons[parent].append(.parent(of: items[child].id))
            }
        }
        keepParents(of: items.indices.filter { !reasons[$0].isEmpty })
        // "Would delete all" is judged per tier (database, files, full archives): while the rules keep
        // incrementals, the newest full is just the newest of its kind, not a reason to alert.
        let tiersKept = Set(items.indices.filter { !reasons[$0].isEmpty }.map { items[$0].kind.folder })
        for kind in BackupKind.allCases {
            guard let newest = dated.first(where: { items[$0].kind == kind }), reasons[newest].isEmpty else { continue }
            reasons[newest].append(tiersKept.contains(kind.folder) ? .newestOfKind : .onlyRemaining)
            keepParents(of: [newest])
        }

        let notKept = Dictionary(uniqueKeysWithValues: BackupKind.allCases.map { ($0, [RetentionReason.notKept(deleteReason($0, settings))]) })
        return items.indices.map { i in
            let item = items[i]
            let keep = !reasons[i].isEmpty
            return RetentionDecision(id: item.id, kind: item.kind, time: item.time, keep: keep, reasons: keep ? reasons[i] : notKept[item.kind]!)
        }
    }

    private static func deleteReason(_ kind: BackupKind, _ s: BackupSettings.RetentionSettings) -> String {
        switch kind {
        case .dbFull, .dbIncremental:
            "not the newest of any of the last \(s.keepDaily) days, \(s.keepWeekly) weeks or \(s.keepMonthly) months, "
                + "nor of the last \(s.keepHourly) hours of incrementals, that have a backup"
        case .files: "older than the newest \(s.keepFileBackups) file backups"
        case .full: "older than the newest \(s.keepFullArchives) full archives"
        }
    }
}

/// One restic-style keep rule: the newest backup in each of the last `count` periods that have one.
struct CalendarRule {
    let count: Int
    /// The period a wall-clock second falls in; equal keys are the same period.
    let period: (Int64) -> Int64
    let reason: (Int64) -> RetentionReason

    static func hourly(_ count: Int) -> CalendarRule {
        CalendarRule(count: count, period: { floorDiv($0, 3_600) }, reason: { .hourly(label(hourOf: $0)) })
    }

    static func calendar(_ s: BackupSettings.RetentionSettings) -> [CalendarRule] {
        [
            CalendarRule(count: s.keepDaily, period: { floorDiv($0, 86_400) }, reason: { .daily(label(dayOf: $0)) }),
            CalendarRule(count: s.keepWeekly, period: { mondayOf($0) }, reason: { .weekly(label(weekOf: $0)) }),
            CalendarRule(count: s.keepMonthly, period: { monthOf($0) }, reason: { .monthly(label(monthOf: $0)) }),
        ]
    }

    /// `positions` newest first. Stops once `count` periods are filled, so ten years of hourlies cost
    /// only as much as the periods actually kept.
    func apply(to positions: some Sequence<Int>, _ items: [RetentionPolicy.Item], _ calendar: LocalCalendar,
               keep: (Int, RetentionReason) -> Void) {
        var remaining = count
        var last: Int64?
        for i in positions {
            guard remaining > 0 else { return }
            let wall = calendar.wallSeconds(items[i].time)
            let key = period(wall)
            if key != last {
                last = key
                remaining -= 1
                keep(i, reason(wall))
            }
        }
    }

    private static func dayNumber(_ wall: Int64) -> Int { Int(floorDiv(wall, 86_400)) }
    private static func mondayOf(_ wall: Int64) -> Int64 {
        let day = dayNumber(wall)
        return Int64(day - CivilDate.weekday(dayNumber: day) + 1)
    }
    private static func monthOf(_ wall: Int64) -> Int64 {
        let date = CivilDate(dayNumber: dayNumber(wall))
        return Int64(date.year * 12 + date.month - 1)
    }

    private static func label(dayOf wall: Int64) -> String {
        let d = CivilDate(dayNumber: dayNumber(wall))
        return String(format: "%04d-%02d-%02d", d.year, d.month, d.day)
    }
    private static func label(hourOf wall: Int64) -> String {
        label(dayOf: wall) + String(format: " %02d:00", floorMod(wall, 86_400) / 3_600)
    }
    private static func label(weekOf wall: Int64) -> String {
        let week = CivilDate.isoWeek(dayNumber: dayNumber(wall))
        return String(format: "%04d-W%02d", week.year, week.week)
    }
    private static func label(monthOf wall: Int64) -> String {
        let d = CivilDate(dayNumber: dayNumber(wall))
        return String(format: "%04d-%02d", d.year, d.month)
    }
}
