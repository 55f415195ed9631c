import BackupCore
import Foundation
import Scheduling

/// Starts backups and restores for the API and the in-process scheduler: one at a time, each on a
/// thread of its own (a backup is seconds to minutes of blocking I/O and CPU, which must not sit on
/// Swift's two cooperative threads), reporting into a `JobMonitor` that the progress stream and
/// the logs read.
///
/// "One at a time" has two layers: the coordinator's slot refuses a second job of this process at
/// once (409 for the API, a skip for the scheduler) without touching the disk; `BackupRunner`'s
/// `JobLock` (flock on the data directory) also covers the CLI in other processes.
public final class JobCoordinator: Sendable {
    public let context: BackupContext
    public let hub: ProgressHub
    private let slot = Locked<(monitor: JobMonitor?, key: JobKey?)>((nil, nil))
    /// Called on the job's thread after each backup that succeeded (the Drive uploader's wake-up).
    let afterBackup = Locked<(@Sendable () -> Void)?>(nil)

    public init(context: BackupContext, hub: ProgressHub = ProgressHub()) {
        self.context = context
        self.hub = hub
    }

    /// The job this process is running, if any (`key` is nil for the moment before it has a record).
    var running: (key: JobKey?, monitor: JobMonitor)? {
        slot.withLock { state in state.monitor.map { (state.key, $0) } }
    }

    var isBusy: Bool { slot.withLock { $0.monitor != nil } }

    /// Starts a backup and returns its record as soon as it has one (status `running`, or already
    /// final for a job that failed at once, e.g. for lack of disk space).
    func startBackup(_ kind: BackupKind, actor: BackupContext.Actor) async throws -> BackupRecord {
        let monitor = makeMonitor(.backup, "Backup of kind \(kind.rawValue) requested by \(Self.describe(actor))")
        let started = try await launch(monitor) { [context] progress in
            // The caller sees a failure to start in the response: no alert for it.
            try Self.record(BackupRunner(context: context).run(kind, trigger: .api, actor: actor, alertOnFailure: false, progress: progress),
                            monitor: monitor)
        } findRecord: { [context] id in
            try context.catalog.job(id: id).map { JobOutcome.backup($0) }
        }
        guard case .backup(let job) = started else { throw APIError.from(BackupError(.database, "The job record is missing.")) }
        return job
    }

    /// Starts a restore of whatever `request` asks for, dispatched by the backup's kind as the CLI does
    /// (`BackupRestorer`): the database, the files, or both, and the config files on request. `cleanup`
    /// runs on the job's thread when the job has ended, whatever the outcome (e.g. removing an uploaded
    /// archive). If this throws, there is no restore record; the routes check `request.problem(for:)`
    /// first, so a request that does not fit the backup is refused before the job starts.
    /// - Returns: the record (running, or final for a restore that ended at once), its recovery steps if
    ///   it failed, and what was restored of files and config files if it has already ended.
    func startRestore(_ source: RestoreSource, request: RestoreRequest, actor: BackupContext.Actor,
                      cleanup: (@Sendable () -> Void)? = nil) async throws -> (RestoreRecord, recoverySteps: [String]?, files: FileRestoreOutcome?) {
        let monitor = makeMonitor(.restore, "Restore (\(Self.describe(request))) requested by \(Self.describe(actor))")
        let started = try await launch(monitor) { [context] progress in
            defer { cleanup?() }
            do {
                let (restore, files) = try BackupRestorer(context: context).run(source, request: request, actor: actor, progress: progress)
                return .restore(restore, recoverySteps: nil, files: files)
            } catch let failure as RestoreFailure {
                guard let restore = failure.restore else { throw failure.error }
                return .restore(restore, recoverySteps: failure.recoverySteps.map(\.forDashboard))
            }
        } findRecord: { [context] id in
            try context.catalog.restoreJob(id: id).map { JobOutcome.restore($0, recoverySteps: nil) }
        }
        guard case .restore(let restore, let steps, let files) = started else { throw APIError.from(BackupError(.database, "The restore record is missing.")) }
        return (restore, steps, files)
    }

    /// Waits for the running job, if any: graceful shutdown lets it finish rather than leaving a
    /// `running` row for start-up recovery to fail.
    func waitForRunningJob() async {
        if let monitor = slot.withLock({ $0.monitor }) { await monitor.waitUntilFinished() }
    }

    // MARK: The shared part

    /// A job's monitor, whose log goes to the catalog (kept across restarts, R9.6).
    private func makeMonitor(_ owner: JobLogOwner, _ firstLine: String) -> JobMonitor {
        JobMonitor(now: context.now, log: JobLogBook(catalog: context.catalog, owner: owner, now: context.now, firstLine: firstLine))
    }

    /// Claims the slot, runs `work` on a thread, and returns the job's record as soon as there is
    /// one: every job's first event (`.started`) carries its record's id, which `findRecord` reads.
    private func launch(_ monitor: JobMonitor,
                        work: @escaping @Sendable (@escaping ProgressHandler) throws -> JobOutcome,
                        findRecord: @escaping @Sendable (_ id: Int64) throws -> JobOutcome?) async throws -> JobOutcome {
        let claimed = slot.withLock { state -> Bool in
            guard state.monitor == nil else { return false }
            state = (monitor, nil)
            return true
        }
        guard claimed else { throw APIError.busy }

        let started = OnceSignal()
        let recordId = Locked<Int64?>(nil)
        let failure = Locked<(any Error)?>(nil)
        let thread = Thread { [slot, hub, afterBackup] in
            do {
                let outcome = try work { event in
                    if event.phase == .started, let id = event.recordId {
                        recordId.withLock { $0 = id }
                        started.fire()
                    }
                    monitor.record(event)
                }
                if let key = Self.key(outcome) { hub.register(monitor, for: key) }
                monitor.finish(outcome)
                if case .backup(let job) = outcome, job.status == .succeeded { afterBackup.current?() }
            } catch {
                failure.withLock { $0 = error }
                monitor.abandon()
            }
            slot.withLock { $0 = (nil, nil) }
            started.fire()
        }
        thread.name = "caps-backup job"
        thread.start()
        await started.wait()

        if let error = failure.current { throw error }
        if let outcome = monitor.finalOutcome { return outcome }
        if let id = recordId.current, let outcome = try await Blocking.run({ try findRecord(id) }), let key = Self.key(outcome) {
            hub.register(monitor, for: key)
            slot.withLock { state in if state.monitor === monitor { state.key = key } }
            return outcome
        }
        // It ended between its first report and the look-up.
        await monitor.waitUntilFinished()
        if let error = failure.current { throw error }
        guard let outcome = monitor.finalOutcome else { throw APIError.from(BackupError(.database, "The job ended without a record.")) }
        return outcome
    }

    /// A runner's outcome as a job record, or the error of a run that never got one.
    private static func record(_ outcome: BackupOutcome, monitor: JobMonitor) throws -> JobOutcome {
        switch outcome {
        case .succeeded(let job, let pruned):
            if pruned > 0 { monitor.note("Retention deleted \(pruned) older backup\(pruned == 1 ? "" : "s").") }
            return .backup(job)
        case .failed(_, let job?):
            return .backup(job)
        case .failed(let error, nil):
            if error.code == .invalidInput { throw APIError(.unprocessableContent, "kind_not_available", error.message) }
            throw error
        case .skipped(let reason):
            throw APIError(.conflict, "busy", "No backup was started: \(reason).")
        }
    }

    private static func key(_ outcome: JobOutcome) -> JobKey? {
        switch outcome {
        case .backup(let job): job.id.map(JobKey.backup)
        case .restore(let restore, _, _): restore.id.map(JobKey.restore)
        case .upload(let copy, _): copy.map { JobKey.upload($0.jobId) }
        }
    }

    private static func describe(_ request: RestoreRequest) -> String {
        let scope = switch request.scope {
        case .everything: "everything the backup holds"
        case .databaseOnly: "database only"
        case .filesOnly: "files only"
        }
        return scope + (request.withConfig ? ", with config files" : "") + (request.files.deleteExtra ? ", removing extra files" : "")
            + (request.preRestoreSnapshot ? "" : ", no pre-restore copy")
    }

    private static func describe(_ actor: BackupContext.Actor) -> String {
        "user \(actor.userId ?? "-") at station \(actor.stationId ?? "-") from \(actor.client ?? "-")"
    }
}

/// The scheduler in this process runs its backups through the coordinator, so they take the same
/// slot as the API's (a due run while a dashboard job runs is a skip, R4.4) and show live progress
/// and logs on the dashboard like any other.
extension JobCoordinator: BackupRunning {
    public func runBackup(_ kind: BackupKind, trigger: JobTrigger, alertOnFailure: Bool) async -> BackupOutcome {
        let monitor = makeMonitor(.backup, "Scheduled backup of kind \(kind.rawValue)")
        let result = Locked<BackupOutcome?>(nil)
        do {
            _ = try await launch(monitor) { [context] progress in
                let outcome = BackupRunner(context: context).run(kind, trigger: trigger, actor: Scheduler.actor,
                                                                 alertOnFailure: alertOnFailure, progress: progress)
                result.withLock { $0 = outcome }
                return try Self.record(outcome, monitor: monitor)
            } findRecord: { [context] id in
                try context.catalog.job(id: id).map { JobOutcome.backup($0) }
            }
        } catch {
            if result.current == nil { return .skipped(reason: "a backup or restore started from the dashboard is running") }
        }
        await monitor.waitUntilFinished()
        return result.current ?? .skipped(reason: "the backup did not start")
    }
}
