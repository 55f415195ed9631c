import BackupCore
import Foundation
import Scheduling

/// A value shared between the test and the code under test.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func read<T>(_ body: (Value) -> T) -> T { lock.withLock { body(value) } }
    func write<T>(_ body: (inout Value) -> T) -> T { lock.withLock { body(&value) } }
    var get: Value { read { $0 } }
}

/// Simulated time: `sleep` jumps forward at once, running the events it passes (a settings change
/// "made by another process" at 10:05). Sleeping past `end` cancels: that is how a test stops the scheduler.
final class FakeClock: SchedulerClock, @unchecked Sendable {
    private let state: Locked<(now: Date, events: [(at: Date, action: @Sendable () -> Void)])>
    let end: Date

    init(_ start: Date, end: Date) {
        state = Locked((start, []))
        self.end = end
    }

    func now() -> Date { state.read { $0.now } }

    func advance(by seconds: TimeInterval) { state.write { $0.now.addTimeInterval(seconds) } }

    func at(_ date: Date, _ action: @escaping @Sendable () -> Void) {
        state.write { $0.events.append((date, action)); $0.events.sort { $0.at < $1.at } }
    }

    func sleep(until deadline: Date) async throws {
        while let event = state.write({ s -> (Date, @Sendable () -> Void)? in
            guard let first = s.events.first, first.at <= deadline, first.at <= end else { return nil }
            s.events.removeFirst()
            s.now = max(s.now, first.at)
            return (first.at, first.action)
        }) {
            event.1()
        }
        let stop = state.write { s -> Bool in
            if deadline > end { s.now = end; return true }
            s.now = max(s.now, deadline)
            return false
        }
        if stop { throw CancellationError() }
        await Task.yield()
    }
}

/// Collects log records for assertions.
final class LogCollector: Sendable {
    let records = Locked<[LogRecord]>([])
    var log: EventLog { EventLog { [records] record in records.write { $0.append(record) } } }
    func events(_ name: String) -> [LogRecord] { records.read { $0.filter { $0.event == name } } }
}

/// A stand-in for `BackupRunner` that writes catalog rows without archives, taking `duration` of
/// simulated time and failing when `fails` says so, then applies retention like the real runner.
struct RecordingRunner: BackupRunning {
    struct Call: Equatable {
        var kind: BackupKind
        var at: Date
        var alertOnFailure: Bool
    }

    let context: BackupContext
    let clock: FakeClock
    let calls = Locked<[Call]>([])
    var duration: @Sendable (BackupKind) -> TimeInterval = { _ in 0 }
    var fails: @Sendable (BackupKind, Int) -> Bool = { _, _ in false }
    /// Runs during each call, as another process would while a backup runs.
    var during: @Sendable (Call) -> Void = { _ in }
    /// A reason when the job slot is held by someone else at that moment (the call is then a skip, not recorded).
    var busy: @Sendable (Date) -> String? = { _ in nil }
    let skips = Locked<[Date]>([])

    func runBackup(_ kind: BackupKind, trigger: JobTrigger, alertOnFailure: Bool) async -> BackupOutcome {
        if let reason = busy(clock.now()) {
            skips.write { $0.append(clock.now()) }
            return .skipped(reason: reason)
        }
        let call = Call(kind: kind, at: clock.now(), alertOnFailure: alertOnFailure)
        let index = calls.write { $0.append(call); return $0.count - 1 }
        during(call)
        do {
            var job = BackupRecord(kind: kind, trigger: trigger, startedAt: call.at)
            if kind == .dbIncremental {
                // The newest database backup, as the incremental job chooses its parent.
                job.parentId = try (context.catalog.jobs(kind: .dbFull, status: .succeeded, limit: 1)
                    + context.catalog.jobs(kind: .dbIncremental, status: .succeeded, limit: 1))
                    .max { ($0.startedAt, $0.id!) < ($1.startedAt, $1.id!) }?.id
            }
            clock.advance(by: duration(kind))
            job.finishedAt = clock.now()
            if fails(kind, index) {
                job.status = .failed
                job.error = "simulated failure"
                return .failed(BackupError(.io, "simulated failure"), job: try context.catalog.insert(job))
            }
            job.status = .succeeded
            job = try context.catalog.insert(job)
            let settings = try SettingsStore(catalog: context.catalog).load()
            let pruned = try RetentionPruner(context: context).prune(settings: settings).filter { !$0.keep }.count
            return .succeeded(job, pruned: pruned)
        } catch {
            return .failed(BackupError.wrap(error, "test runner"), job: nil)
        }
    }
}

/// A fresh data directory on tmpfs when there is one (a simulated year commits tens of thousands of
/// catalog transactions), removed at deinit.
final class TestDirectory: @unchecked Sendable {
    let url: URL
    init(_ name: String = #function) {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? URL(fileURLWithPath: "/dev/shm") : FileManager.default.temporaryDirectory
        url = base.appendingPathComponent("caps-sched-\(name.filter { $0.isLetter })-\(UUID().uuidString.prefix(8))")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }

    func context(posDatabase: URL? = nil, clock: FakeClock? = nil,
                 availableBytes: (@Sendable (URL) throws -> UInt64)? = nil) throws -> BackupContext {
        let data = DataDirectory(url.appendingPathComponent("data"))
        try data.prepare()
        var context = BackupContext(dataDirectory: data, catalog: try Catalog(url: data.catalog), posDatabase: posDatabase)
        if let clock { context.now = { clock.now() } }
        if let availableBytes { context.availableBytes = availableBytes }
        return context
    }
}

let newYork = TimeZone(identifier: "America/New_York")!

/// "2026-03-08 02:30" on the local clock of `zone`; a repeated time gives its first occurrence.
func local(_ text: String, _ zone: TimeZone = newYork) -> Date {
    let parts = text.split(whereSeparator: { " -:".contains($0) }).map { Int($0)! }
    let day = CivilDate(year: parts[0], month: parts[1], day: parts[2]).dayNumber
    let date = LocalCalendar(zone).instant(day: day, hour: parts[3], minute: parts[4])
    return parts.count > 5 ? date.addingTimeInterval(TimeInterval(parts[5])) : date
}

/// The local wall-clock reading of `date`, "2026-03-08 03:00", with the UTC offset when asked.
func wall(_ date: Date, _ zone: TimeZone = newYork, offset: Bool = false) -> String {
    let f = DateFormatter()
    f.timeZone = zone
    f.locale = Locale(identifier: "en_US_POSIX")
    f.dateFormat = offset ? "yyyy-MM-dd HH:mm xxx" : "yyyy-MM-dd HH:mm"
    return f.string(from: date)
}

func settings(zone: String = "America/New_York", _ change: (inout BackupSettings) -> Void = { _ in }) -> BackupSettings {
    var s = BackupSettings()
    s.schedules.timeZone = zone
    change(&s)
    return s
}
