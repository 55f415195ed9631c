import BackupCore
import Foundation
import Testing

/// Property tests over random histories of up to two years (seeded, so a failure reproduces):
/// the plan matches an independent oracle built on Foundation's calendars, never loses the newest
/// backup of a kind, never orphans a kept incremental, and never plans a row that did not succeed.
@Suite("Retention policy (properties)")
struct RetentionPropertyTests {
    static let zones = ["America/New_York", "Europe/Berlin", "Australia/Sydney", "Asia/Kolkata", "UTC"].map { TimeZone(identifier: $0)! }

    @Test("300 random histories", arguments: [UInt64(1), 2, 3])
    func randomHistories(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        for round in 0..<100 {
            let zone = Self.zones[Int(random.next() % UInt64(Self.zones.count))]
            let (history, now) = Self.randomHistory(&random)
            var s = BackupSettings.RetentionSettings()
            s.keepHourly = Int(random.next() % 30)
            s.keepDaily = Int(random.next() % 10)
            s.keepWeekly = Int(random.next() % 6)
            s.keepMonthly = Int(random.next() % 14)
            s.keepFileBackups = Int(random.next() % 3) + 1
            s.keepFullArchives = Int(random.next() % 13) + 1
            let plan = RetentionPolicy.plan(backups: history, now: now, settings: s, timeZone: zone)
            let context = "seed \(seed) round \(round) zone \(zone.identifier) settings \(s)"

            let succeeded = history.filter { $0.status == .succeeded }
            #expect(plan.map(\.id).sorted() == succeeded.map { $0.id! }, "exactly the succeeded rows: \(context)")
            let kept = Set(plan.filter(\.keep).map(\.id))
            #expect(kept == Oracle(history: history, now: now, settings: s, zone: zone).kept, "bucket rules: \(context)")
            for kind in BackupKind.allCases {
                if let newest = succeeded.filter({ $0.kind == kind && $0.startedAt <= now }).max(by: { ($0.startedAt, $0.id!) < ($1.startedAt, $1.id!) }) {
                    #expect(kept.contains(newest.id!), "newest \(kind) kept: \(context)")
                }
            }
            let byId = Dictionary(uniqueKeysWithValues: succeeded.map { ($0.id!, $0) })
            for id in kept {
                if let parent = byId[id]?.parentId, byId[parent] != nil {
                    #expect(kept.contains(parent), "kept \(id) keeps its parent \(parent): \(context)")
                }
            }
            #expect(plan.filter { !$0.keep }.allSatisfy { $0.reasons.count == 1 }, "\(context)")
        }
    }

    /// Up to two years: bursts of hourly incrementals chained to the latest database backup,
    /// nightly fulls with gaps, weekly file backups, monthly full archives, some failed, running or
    /// deleted rows, and a few backups dated after `now`.
    static func randomHistory(_ random: inout SplitMix64) -> ([BackupRecord], Date) {
        let start = 1_767_225_600.0 + Double(random.next() % (365 * 86_400)) // some time in 2026
        let span = Double(random.next() % (2 * 365 * 86_400)) + 3_600
        let density = Double(random.next() % 40) + 1 // average hours between database backups
        var jobs: [BackupRecord] = []
        var lastDatabase: Int64?
        func add(_ kind: BackupKind, _ t: Double) {
            var job = BackupRecord(kind: kind, trigger: .scheduled, startedAt: Date(timeIntervalSince1970: t.rounded()))
            job.id = Int64(jobs.count + 1)
            let roll = random.next() % 20
            job.status = roll == 0 ? .failed : roll == 1 ? .deleted : roll == 2 ? .running : .succeeded
            if kind == .dbIncremental { job.parentId = random.next() % 10 == 0 ? nil : lastDatabase }
            if kind == .dbFull || kind == .dbIncremental, job.status != .failed { lastDatabase = job.id }
            jobs.append(job)
        }
        var t = start
        var nextFiles = start + Double(random.next() % (7 * 86_400))
        var nextFull = start + Double(random.next() % (30 * 86_400))
        while t < start + span, jobs.count < 3_000 {
            let burst = random.next() % 3 == 0
            add(burst || random.next() % 3 != 0 ? .dbIncremental : .dbFull, t)
            t += burst ? 3_600 : Double(random.next() % UInt64(density * 2 * 3_600)) + 60
            if t > nextFiles { add(.files, nextFiles); nextFiles += 7 * 86_400 }
            if t > nextFull { add(.full, nextFull); nextFull += 30 * 86_400 }
        }
        let now = Date(timeIntervalSince1970: t - Double(random.next() % 86_400))
        return (jobs, now)
    }
}

/// The retention rules written the plain way, on Foundation's calendars: an independent check of
/// the wall-clock and ISO-week arithmetic and of the rule bookkeeping.
struct Oracle {
    let kept: Set<Int64>

    init(history: [BackupRecord], now: Date, settings s: BackupSettings.RetentionSettings, zone: TimeZone) {
        var gregorian = Calendar(identifier: .gregorian)
        gregorian.timeZone = zone
        var iso = Calendar(identifier: .iso8601)
        iso.timeZone = zone
        let all = history.filter { $0.status == .succeeded }.sorted { ($0.startedAt, $0.id!) > ($1.startedAt, $1.id!) }
        var kept = Set(all.filter { $0.startedAt > now }.map { $0.id! })
        let dated = all.filter { $0.startedAt <= now }
        let database = dated.filter { $0.kind == .dbFull || $0.kind == .dbIncremental }

        func newestPerPeriod(_ jobs: [BackupRecord], _ count: Int, _ period: (Date) -> [Int]) -> [Int64] {
            var seen: [[Int]] = []
            var result: [Int64] = []
            for job in jobs where seen.count < count {
                let key = period(job.startedAt)
                if seen.last != key { seen.append(key); result.append(job.id!) }
            }
            return result
        }
        func parts(_ date: Date, _ c: Set<Calendar.Component>, _ calendar: Calendar) -> [Int] {
            let d = calendar.dateComponents(c, from: date)
            return [d.yearForWeekOfYear ?? d.year ?? 0, d.weekOfYear ?? d.month ?? 0, d.day ?? 0, d.hour ?? 0]
        }
        kept.formUnion(newestPerPeriod(database.filter { $0.kind == .dbIncremental }, s.keepHourly) { parts($0, [.year, .month, .day, .hour], gregorian) })
        kept.formUnion(newestPerPeriod(database, s.keepDaily) { parts($0, [.year, .month, .day], gregorian) })
        kept.formUnion(newestPerPeriod(database, s.keepWeekly) { parts($0, [.yearForWeekOfYear, .weekOfYear], iso) })
        kept.formUnion(newestPerPeriod(database, s.keepMonthly) { parts($0, [.year, .month], gregorian) })
        kept.formUnion(dated.filter { $0.kind == .files }.prefix(s.keepFileBackups).map { $0.id! })
        kept.formUnion(dated.filter { $0.kind == .full }.prefix(s.keepFullArchives).map { $0.id! })

        let byId = Dictionary(uniqueKeysWithValues: all.map { ($0.id!, $0) })
        func closeOverParents() {
            var changed = true
            while changed {
                changed = false
                for id in kept { if let p = byId[id]?.parentId, byId[p] != nil, !kept.contains(p) { kept.insert(p); changed = true } }
            }
        }
        closeOverParents()
        for kind in BackupKind.allCases {
            if let newest = dated.first(where: { $0.kind == kind }) { kept.insert(newest.id!) }
        }
        closeOverParents()
        self.kept = kept
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
