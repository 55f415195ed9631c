import Foundation

/// Writes one job's structured log into the catalog as the job runs: a line when each phase starts
/// and when it ends, the job's own notes, and how it ended. Wraps the job's progress handler, so the
/// API's jobs, the in-process scheduler's and the CLI's all leave the same log (R9.6).
///
/// Lines before the job has a record (its first event, `.started`, carries the id) wait in memory;
/// a job that never gets a record leaves no log. A failure to write the log never fails the job.
public final class JobLogBook: @unchecked Sendable {
    private let catalog: Catalog
    private let owner: JobLogOwner
    private let now: @Sendable () -> Date
    private let lock = NSLock()
    private var jobId: Int64?
    private var pending: [JobLogLine] = []
    private var phase: (phase: ProgressPhase, startedAt: Date, bytesDone: UInt64, bytesTotal: UInt64)?
    private var written = false

    public init(catalog: Catalog, owner: JobLogOwner, now: @escaping @Sendable () -> Date = { Date() }, firstLine: String) {
        self.catalog = catalog
        self.owner = owner
        self.now = now
        pending.append(JobLogLine(at: now(), level: "info", message: firstLine))
    }

    /// Passes every event on to `next` after noting phase changes.
    public func wrap(_ next: ProgressHandler?) -> ProgressHandler {
        { [self] event in
            record(event)
            next?(event)
        }
    }

    public func record(_ event: ProgressEvent) {
        if event.phase == .started {
            if let id = event.recordId { bind(id) }
            return
        }
        let at = now()
        var lines: [JobLogLine] = []
        lock.withLock {
            if let current = phase, current.phase == event.phase {
                phase?.bytesDone = event.bytesDone
                phase?.bytesTotal = event.bytesTotal
                return
            }
            if let ended = endPhase(at: at) { lines.append(ended) }
            // `done` ends the last phase; the final line says the rest.
            guard event.phase != .done else { return }
            phase = (event.phase, at, event.bytesDone, event.bytesTotal)
            lines.append(JobLogLine(at: at, level: "info", message: "\(event.phase.rawValue) started", phase: event.phase,
                                    bytesDone: event.bytesDone, bytesTotal: event.bytesTotal))
        }
        write(lines)
    }

    /// A line of the job's own (e.g. what retention did after the backup).
    public func note(_ message: String, level: String = "info") {
        write([JobLogLine(at: now(), level: level, message: message)])
    }

    /// The end: the last phase's line, then `final` (see `JobLogLine.ended`).
    public func finish(_ final: JobLogLine) {
        let ended = lock.withLock { endPhase(at: final.at) }
        write((ended.map { [$0] } ?? []) + [final])
    }

    /// Must hold the lock.
    private func endPhase(at: Date) -> JobLogLine? {
        guard let current = phase else { return nil }
        phase = nil
        return JobLogLine(at: at, level: "info", message: "\(current.phase.rawValue) finished in \(JobLogLine.seconds(at.timeIntervalSince(current.startedAt)))",
                          phase: current.phase, bytesDone: current.bytesDone, bytesTotal: current.bytesTotal)
    }

    private func bind(_ id: Int64) {
        let waiting: [JobLogLine] = lock.withLock {
            guard jobId == nil else { return [] }
            jobId = id
            defer { pending = [] }
            return pending
        }
        write(waiting)
    }

    private func write(_ lines: [JobLogLine]) {
        guard !lines.isEmpty else { return }
        let id: Int64? = lock.withLock {
            if jobId == nil { pending += lines }
            return jobId
        }
        guard let id else { return }
        try? catalog.appendJobLog(lines, owner: owner, jobId: id)
    }
}

extension JobLogLine {
    static func seconds(_ t: TimeInterval) -> String { String(format: "%.1f s", t) }

    /// The last line of a backup's log.
    public static func ended(_ job: BackupRecord, at: Date) -> JobLogLine {
        let took = seconds(at.timeIntervalSince(job.startedAt))
        if job.status == .succeeded {
            return JobLogLine(at: at, level: "info",
                              message: "Backup \(job.id ?? 0) succeeded in \(took): \(ByteCount.format(job.size ?? 0)), sha256 \(job.sha256 ?? "-")"
                                  + (job.integrityCheck.map { ", database integrity check: \($0)" } ?? ""))
        }
        return JobLogLine(at: at, level: "error",
                          message: "Backup \(job.id ?? 0) \(job.status.rawValue): \(job.error ?? "no error recorded")" + (job.errorDetail.map { " (\($0))" } ?? ""))
    }

    /// How one attempt at a backup's off-site copy ended (a line in that backup's log).
    public static func ended(_ copy: BackupDestObject, at: Date) -> JobLogLine {
        let attempt = "attempt \(copy.attempts)"
        switch copy.status {
        case .uploaded:
            return JobLogLine(at: at, level: "info", message: "Off-site copy to \(copy.destination) uploaded and verified (\(attempt), \(ByteCount.format(copy.size ?? 0)))",
                              phase: .upload)
        case .pending:
            return JobLogLine(at: at, level: "warning",
                              message: "Off-site copy to \(copy.destination) not made (\(attempt)); it is tried again later: \(copy.error ?? "no error recorded")", phase: .upload)
        default:
            return JobLogLine(at: at, level: "error",
                              message: "Off-site copy to \(copy.destination) \(copy.status.rawValue) (\(attempt)): \(copy.error ?? "no error recorded")", phase: .upload)
        }
    }

    /// The last line of a restore's log, with what it put back, or the way back when it failed.
    public static func ended(_ restore: RestoreRecord, recoverySteps: [String]?, files: FileRestoreOutcome?, at: Date) -> JobLogLine {
        let took = seconds(at.timeIntervalSince(restore.startedAt))
        if restore.status == .succeeded {
            var message = "Restore \(restore.id ?? 0) succeeded in \(took): \(restore.targetPath) now holds \(URL(fileURLWithPath: restore.sourcePath).lastPathComponent)"
            if let files, !files.root.isEmpty {
                message += "; \(files.restored) files (\(ByteCount.format(files.bytes))) restored into \(files.root), \(files.removed) removed"
            }
            if let files, !files.configFiles.isEmpty { message += "; config files restored: \(files.configFiles.joined(separator: ", "))" }
            return JobLogLine(at: at, level: "info", message: message)
        }
        let steps = recoverySteps ?? []
        return JobLogLine(at: at, level: "error",
                          message: "Restore \(restore.id ?? 0) failed: \(restore.error ?? "no error recorded")" + (restore.errorDetail.map { " (\($0))" } ?? "")
                              + (steps.isEmpty ? "" : " What now: " + steps.joined(separator: " ")))
    }
}
