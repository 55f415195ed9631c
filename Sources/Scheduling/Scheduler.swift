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
/// - A skipped run is not lost: it runs as soon as the job slot is free again (at once after this
///   scheduler's own backup ends; within `busyRecheckInterval` of another process's), unless its own
///   next scheduled time comes first or a backup of its kind succeeded meanwhile. Of several skipped
///   runs of one kind only the newest is made up; the skip is logged and audited once either way.
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
        /// How often a run skipped because another process (or a dashboard job) held the job slot
        /// tries again; well inside R4.3's five minutes.
        public var busyRecheckInterval: TimeInterval = 30
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
        /// Per kind: a skipped run waiting for the job slot.
        var deferred: [BackupKind: Deferred] = [:]

        /// Never backwards: after the wall clock is set back, a run already done is not due again.
        mutating func advance(to date: Date) {
            for kind in BackupKind.allCases { cursor[kind] = max(cursor[kind] ?? date, date) }
        }
    }

    /// A skipped run to make up once the job slot is free.
    struct Deferred {
        /// Its scheduled time.
        var due: Date
        /// Its kind's next scheduled time: from then on the regular run takes over and this one is dropped.
        var until: Date
        /// When to try next (the slot was held by someone else: poll, do not spin).
        var notBefore: Date
    }

    /// One due piece of work.
    struct Due {
        var kind: BackupKind
        var at: Date
        var isRetry: Bool
        var missed: Int
        /// The kind's next scheduled time (after now, for a catch-up); nil for a retry (retries are not made up).
        var until: Date? = nil
        /// A skipped run being made up (its skip is already logged).
        var isDeferred = false
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
                           missed: schedule.runs(after: cursor, through: now, in: calendar),
                           until: state.retries[schedule.kind] == nil ? schedule.next(after: now, in: calendar) : nil))
        }
        // A retry whose schedule was disabled meanwhile is dropped.
        state.retries = state.retries.filter { kind, _ in schedules.contains { $0.kind == kind } }
        for (kind, at) in state.retries where at <= now && !due.contains(where: { $0.kind == kind }) {
            due.append(Due(kind: kind, at: at, isRetry: true, missed: 1))
        }
        // A skipped run waiting for the slot: dropped once its kind is disabled, its next scheduled time
        // has come (that run is due now instead), or a backup of its kind succeeded since it was due.
        state.deferred = state.deferred.filter { kind, deferred in
            schedules.contains { $0.kind == kind } && now < deferred.until && !due.contains { $0.kind == kind }
                && !succeeded(kind, since: deferred.due)
        }
        for (kind, deferred) in state.deferred where deferred.notBefore <= now {
            due.append(Due(kind: kind, at: deferred.due, isRetry: false, missed: 1, until: deferred.until, isDeferred: true))
        }

        if due.isEmpty {
            state.advance(to: now)
            let wake = ([now.addingTimeInterval(options.pollInterval)]
                        + schedules.map { $0.next(after: now, in: calendar) } + Array(state.retries.values)
                        + state.deferred.values.map(\.notBefore)).min()!
            try await clock.sleep(until: wake)
            return
        }

        let order = schedules.map(\.kind)
        due.sort { order.firstIndex(of: $0.kind)! < order.firstIndex(of: $1.kind)! }
        for item in due {
            try Task.checkCancellation()
            state.deferred[item.kind] = nil
            await run(item, state: &state)
        }
        // Runs that fell due while this batch was running are skipped (R4.4), and the newest of each kind
        // is made up now that the slot is free: at the next tick, which comes at once.
        let finished = clock.now()
        for schedule in schedules {
            let missed = schedule.runs(after: now, through: finished, in: calendar)
            guard missed > 0, let latest = schedule.latestRun(after: now, through: finished, in: calendar) else { continue }
            let makeUp = state.retries[schedule.kind] == nil
            skipped(schedule.kind, at: finished, count: missed, reason: "another backup was running at the scheduled time",
                    madeUp: makeUp ? latest : nil)
            if makeUp {
                state.deferred[schedule.kind] = Deferred(due: latest, until: schedule.next(after: latest, in: calendar), notBefore: finished)
            }
        }
        state.advance(to: max(now, finished))
    }

    /// Whether a backup of `kind` succeeded, started at or after `date` (by anyone: the dashboard, the CLI).
    private func succeeded(_ kind: BackupKind, since date: Date) -> Bool {
        guard let last = try? catalog.jobs(kind: kind, status: .succeeded, limit: 1).first else { return false }
        return last.startedAt >= date
    }

    private func run(_ item: Due, state: inout State) async {
        var fields = ["kind": item.kind.rawValue, "due": Timestamp.iso8601(item.at), "attempt": item.isRetry ? "retry" : "first"]
        if item.isDeferred { fields["deferred"] = "true" }
        // More than R4.3's five minutes late: the scheduler was not running (or could not read its settings) at the time.
        let catchUp = !item.isRetry && !item.isDeferred && clock.now().timeIntervalSince(item.at) > 5 * 60
        if catchUp { fields["missedRuns"] = String(item.missed) }
        log(.info, catchUp ? "backup.catch-up" : "backup.started", at: clock.now(), fields)

        switch await runner.runBackup(item.kind, trigger: .scheduled, alertOnFailure: false) {
        case .succeeded(let job, let pruned):
            state.retries[item.kind] = nil
            log(.info, "backup.succeeded", at: clock.now(),
                fields.merging(["id": String(job.id ?? 0), "pruned": String(pruned)]) { $1 })
        case .skipped(let reason):
            state.retries[item.kind] = nil
            // The slot is held by someone else: try again shortly, until the kind's next scheduled time.
            // A retry is not made up (someone else is backing up); a run being made up was logged already.
            let now = clock.now()
            let makeUp = item.until.map { now.addingTimeInterval(options.busyRecheckInterval) < $0 } ?? false
            if !item.isDeferred { skipped(item.kind, at: now, count: 1, reason: reason, madeUp: makeUp ? item.at : nil) }
            if makeUp, let until = item.until {
                state.deferred[item.kind] = Deferred(due: item.at, until: until, notBefore: now.addingTimeInterval(options.busyRecheckInterval))
            }
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
    /// - Parameter madeUp: the scheduled time of the run that will be made up once the slot is free, if any.
    private func skipped(_ kind: BackupKind, at now: Date, count: Int, reason: String, madeUp: Date? = nil) {
        var fields = ["kind": kind.rawValue, "runs": String(count), "reason": reason]
        var detail = count == 1 ? reason : "\(count) runs: \(reason)"
        if let madeUp {
            fields["makeUp"] = Timestamp.iso8601(madeUp)
            detail += count == 1 ? "; it runs as soon as the slot is free" : "; the newest runs as soon as the slot is free"
        }
        log(.warning, "schedule.skipped", at: now, fields)
        try? catalog.auditSkippedBackup(kind, reason: detail, actor: Self.actor, at: now)
    }
}
