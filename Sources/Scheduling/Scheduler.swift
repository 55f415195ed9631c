import BackupCore
import Foundation

/// Runs the scheduled backups (R4), one at a time, until its task is cancelled.
///
/// Each tick re-reads the settings from the catalog (so a change by the server or another process
/// applies without a restart), runs whatever fell due since the previous tick, then sleeps until
/// the next run, a pending retry, or the poll interval, whichever is first. The rules (see
/// docs/scheduling.md):
/// - Runs due at the same moment run one after the other (database first). A run that falls due
///   while a backup is running is skipped: a `schedule.skipped` log line and a `schedule.skip` audit
///   entry with the reason. So is one whose job lock is held by another process.
/// - A failed scheduled run is retried once, `retryDelay` (15 minutes) after the failure; when the
///   retry fails too, a `scheduled-backup-failed` alert.
/// - At start-up each kind's last recorded run (any status) is read from the catalog; if runs were
///   missed since, one catch-up run happens now, however many were missed. A kind never run before
///   waits for its first scheduled time.
/// - An error of the scheduler itself is logged, alerted, and the loop goes on after `errorBackoff`.
public struct Scheduler: Sendable {
    public struct Options: Sendable {
        /// The longest sleep: how soon a settings change or a clock jump is noticed.
        public var pollInterval: TimeInterval = 60
        public var retryDelay: TimeInterval = 15 * 60
        public var errorBackoff: TimeInterval = 60
        public init() {}
    }

    /// Who scheduled runs are recorded as.
    public static let actor = BackupContext.Actor(userId: "scheduler", stationId: nil, client: "scheduler")

    public let catalog: Catalog
    public let runner: any BackupRunning
    public let clock: any SchedulerClock
    public let log: EventLog
    public let options: Options

    public init(catalog: Catalog, runner: any BackupRunning, clock: any SchedulerClock = SystemClock(),
                log: EventLog = .standardError, options: Options = Options()) {
        self.catalog = catalog
        self.runner = runner
        self.clock = clock
        self.log = log
        self.options = options
    }

    /// What the loop remembers between ticks.
    struct State {
        /// Per kind: runs at or before this instant have been dealt with (run, skipped or caught up).
        var cursor: [BackupKind: Date]
        /// Per kind: when its one retry is due.
        var retries: [BackupKind: Date] = [:]

        /// Never backwards: after the wall clock is set back, a run already done is not due again.
        mutating func advance(to date: Date) {
            for kind in BackupKind.allCases { cursor[kind] = max(cursor[kind] ?? date, date) }
        }
    }

    /// One due piece of work.
    struct Due {
        var kind: BackupKind
        var at: Date
        var isRetry: Bool
        var missed: Int
    }

    /// Returns when the task is cancelled (after the running backup, if any, has finished).
    public func run() async {
        log(.info, "scheduler.started", at: clock.now())
        var state: State?
        while !Task.isCancelled {
            do {
                if state == nil { state = try startupState() }
                try await tick(&state!)
            } catch is CancellationError {
                break
            } catch {
                let now = clock.now()
                log(.error, "scheduler.error", at: now, ["error": String(describing: error)])
                _ = try? catalog.raise(.schedulerError(String(describing: error)), at: now)
                do { try await clock.sleep(until: now.addingTimeInterval(options.errorBackoff)) } catch { break }
            }
        }
        log(.info, "scheduler.stopped", at: clock.now())
    }

    /// Catch-up: each kind's cursor starts at its last recorded run, so runs missed since then fall due now.
    func startupState() throws -> State {
        let now = clock.now()
        var cursor: [BackupKind: Date] = [:]
        for kind in BackupKind.allCases {
            cursor[kind] = try catalog.jobs(kind: kind, limit: 1).first.map { min($0.startedAt, now) } ?? now
        }
        return State(cursor: cursor)
    }

    func tick(_ state: inout State) async throws {
        let settings = try SettingsStore(catalog: catalog).load()
        let calendar = LocalCalendar(settings.schedules.zone)
        let schedules = Schedule.enabled(settings.schedules)
        let now = clock.now()

        var due: [Due] = []
        for schedule in schedules {
            let cursor = state.cursor[schedule.kind] ?? now
            let next = schedule.next(after: cursor, in: calendar)
            guard next <= now else { continue }
            due.append(Due(kind: schedule.kind, at: next, isRetry: state.retries[schedule.kind] != nil,
                           missed: schedule.runs(after: cursor, through: now, in: calendar)))
        }
        // A retry whose schedule was disabled meanwhile is dropped.
        state.retries = state.retries.filter { kind, _ in schedules.contains { $0.kind == kind } }
        for (kind, at) in state.retries where at <= now && !due.contains(where: { $0.kind == kind }) {
            due.append(Due(kind: kind, at: at, isRetry: true, missed: 1))
        }

        if due.isEmpty {
            state.advance(to: now)
            let wake = ([now.addingTimeInterval(options.pollInterval)]
                        + schedules.map { $0.next(after: now, in: calendar) } + Array(state.retries.values)).min()!
            try await clock.sleep(until: wake)
            return
        }

        let order = schedules.map(\.kind)
        due.sort { order.firstIndex(of: $0.kind)! < order.firstIndex(of: $1.kind)! }
        for item in due {
            try Task.checkCancellation()
            await run(item, state: &state)
        }
        // Runs that fell due while this batch was running are skipped (R4.4).
        let finished = clock.now()
        for schedule in schedules {
            let missed = schedule.runs(after: now, through: finished, in: calendar)
            if missed > 0 {
                skipped(schedule.kind, at: finished, count: missed, reason: "another backup was running at the scheduled time")
            }
        }
        state.advance(to: max(now, finished))
    }

    private func run(_ item: Due, state: inout State) async {
        var fields = ["kind": item.kind.rawValue, "due": Timestamp.iso8601(item.at), "attempt": item.isRetry ? "retry" : "first"]
        // More than R4.3's five minutes late: the scheduler was not running (or could not read its settings) at the time.
        let catchUp = !item.isRetry && clock.now().timeIntervalSince(item.at) > 5 * 60
        if catchUp { fields["missedRuns"] = String(item.missed) }
        log(.info, catchUp ? "backup.catch-up" : "backup.started", at: clock.now(), fields)

        switch await runner.runBackup(item.kind, trigger: .scheduled, alertOnFailure: false) {
        case .succeeded(let job, let pruned):
            state.retries[item.kind] = nil
            log(.info, "backup.succeeded", at: clock.now(),
                fields.merging(["id": String(job.id ?? 0), "pruned": String(pruned)]) { $1 })
        case .skipped(let reason):
            state.retries[item.kind] = nil
            skipped(item.kind, at: clock.now(), count: 1, reason: reason)
        case .failed(let error, let job):
            let now = clock.now()
            fields["error"] = error.message
            if let id = job?.id { fields["id"] = String(id) }
            if item.isRetry {
                state.retries[item.kind] = nil
                log(.error, "backup.failed", at: now, fields)
                _ = try? catalog.raise(.scheduledBackupFailedTwice(item.kind, error), at: now)
            } else {
                let retry = now.addingTimeInterval(options.retryDelay)
                state.retries[item.kind] = retry
                log(.warning, "backup.failed", at: now, fields.merging(["retryAt": Timestamp.iso8601(retry)]) { $1 })
            }
        }
    }

    /// A skip is a log line and an audit entry, so the dashboard's log shows it too.
    private func skipped(_ kind: BackupKind, at now: Date, count: Int, reason: String) {
        log(.warning, "schedule.skipped", at: now, ["kind": kind.rawValue, "runs": String(count), "reason": reason])
        try? catalog.auditSkippedBackup(kind, reason: count == 1 ? reason : "\(count) runs: \(reason)", actor: Self.actor, at: now)
    }
}
