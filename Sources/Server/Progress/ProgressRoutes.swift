import BackupCore
import Foundation
import Hummingbird

/// Live progress (Server-Sent Events) and structured logs of backups, restores and off-site copies.
///
/// Events: `progress` (a `ProgressUpdate`: phase, bytesDone, bytesTotal, etaSeconds; `id` is its
/// `seq`), then exactly one `end` whose data is the job's final record (a backup or a restore as
/// GET returns it), after which the server closes the stream. For a job this server is not running
/// (finished long ago, or run by the CLI or another process) the stream says what the catalog knows:
/// `end` at once for a finished job; for one still running elsewhere, a `progress` with phase
/// `running` every few seconds until it ends.
struct ProgressRoutes {
    let services: APIServices
    static let pollInterval: Duration = .seconds(2)

    func register(on api: RouterGroup<APIRequestContext>) {
        api.get("/backups/{id}/progress") { _, context in
            let id = try context.id()
            let job = try await fetchBackup(id)
            return stream(monitor: services.hub.monitor(for: .backup(id)), initial: .backup(job), running: job.status == .running) {
                try await fetchBackup(id)
            } isRunning: { ($0 as BackupRecord).status == .running } outcome: { JobOutcome.backup($0) }
        }
        api.get("/restores/{id}/progress") { _, context in try await restoreProgress(try context.id()) }
        // The latest attempt at this backup's off-site copy, made by this server's uploader; `end` is the
        // backup with its copies' states. With no attempt live or kept here, `end` comes at once.
        api.get("/backups/{id}/upload-progress") { _, context in
            let id = try context.id()
            let job = try await fetchBackup(id)
            let backup = try await Blocking.run { [catalog = services.catalog] in try BackupView.decorated([job], catalog: catalog)[0] }
            let monitor = services.hub.monitor(for: .upload(id))
            return stream(monitor: monitor, initial: .upload(nil, backup: backup), running: false) {
                job
            } isRunning: { _ in false } outcome: { _ in .upload(nil, backup: backup) }
        }
        // GET …/logs?level=&limit=&offset= : the job's log from the catalog, oldest first (R9.6).
        api.get("/backups/{id}/logs") { request, context in
            let id = try context.id()
            let job = try await fetchBackup(id)
            return try await logPage(request, owner: .backup, id: id) { JobLogs.fromCatalog(job) }
        }
        api.get("/restores/{id}/logs") { request, context in
            let id = try context.id()
            let restore = try await fetchRestore(id)
            return try await logPage(request, owner: .restore, id: id) { JobLogs.fromCatalog(restore) }
        }
    }

    /// The wizard's progress stream (SetupRoutes) is this one.
    func restoreProgress(_ id: Int64) async throws -> Response {
        let restore = try await fetchRestore(id)
        return stream(monitor: services.hub.monitor(for: .restore(id)), initial: .restore(restore, recoverySteps: nil),
                      running: restore.status == .running) {
            try await fetchRestore(id)
        } isRunning: { ($0 as RestoreRecord).status == .running } outcome: { JobOutcome.restore($0, recoverySteps: nil) }
    }

    struct LogPage: Codable, Sendable {
        var items: [JobLogLine]
        var limit: Int
        var offset: Int
        var nextOffset: Int?
        /// Lines kept for the job that match the filter.
        var total: Int
    }

    /// A job from before the catalog kept logs (migration v5) has a log rebuilt from its record.
    private func logPage(_ request: Request, owner: JobLogOwner, id: Int64, rebuilt: @escaping @Sendable () -> [JobLogLine]) async throws -> Response {
        let level = try request.queryEnum("level", LogLevel.self, allowed: LogLevel.allCases)?.rawValue
        let limit = try request.queryInt("limit", default: 500, range: 1...2000)
        let offset = try request.queryInt("offset", default: 0, range: 0...1_000_000_000)
        let page = try await Blocking.run { [catalog = services.catalog] in
            if try catalog.hasJobLog(owner: owner, jobId: id) {
                return try catalog.jobLog(owner: owner, jobId: id, minimumLevel: level, limit: limit, offset: offset)
            }
            let minimum = level.flatMap { JobLogLine.levels.firstIndex(of: $0) } ?? 0
            let lines = rebuilt().filter { (JobLogLine.levels.firstIndex(of: $0.level) ?? 0) >= minimum }
            return (Array(lines.dropFirst(offset).prefix(limit)), lines.count)
        }
        return try JSON.response(LogPage(items: page.lines, limit: limit, offset: offset,
                                         nextOffset: offset + page.lines.count < page.total ? offset + page.lines.count : nil, total: page.total))
    }

    enum LogLevel: String, CaseIterable { case info, warning, error }

    private func fetchBackup(_ id: Int64) async throws -> BackupRecord {
        let job = try await Blocking.run { [catalog = services.catalog] in try catalog.job(id: id) }
        guard let job else { throw BackupRoutes.noSuchBackup(id) }
        return job
    }

    private func fetchRestore(_ id: Int64) async throws -> RestoreRecord {
        let restore = try await Blocking.run { [catalog = services.catalog] in try catalog.restoreJob(id: id) }
        guard let restore else { throw RestoreRoutes.noSuchRestore(id) }
        return restore
    }

    private func stream<Record: Sendable>(monitor: JobMonitor?, initial: JobOutcome, running: Bool,
                                          fetch: @escaping @Sendable () async throws -> Record,
                                          isRunning: @escaping @Sendable (Record) -> Bool,
                                          outcome: @escaping @Sendable (Record) -> JobOutcome) -> Response {
        let body = ResponseBody { writer in
            if let monitor {
                for await item in monitor.subscribe() {
                    switch item {
                    case .progress(let update): try await writer.write(ServerSentEvents.event("progress", id: update.seq, data: update))
                    case .finished(let outcome): try await writer.write(try Self.endEvent(outcome))
                    case .heartbeat: try await writer.write(ServerSentEvents.heartbeat)
                    }
                }
            } else if running {
                // Someone else's job: poll the catalog until it ends.
                var seq = 0
                let started = Date()
                while true {
                    let record = try await fetch()
                    guard isRunning(record) else {
                        try await writer.write(try Self.endEvent(outcome(record)))
                        break
                    }
                    seq += 1
                    let update = ProgressUpdate(seq: seq, phase: .running, bytesDone: 0, bytesTotal: 0, etaSeconds: nil,
                                                elapsedSeconds: Date().timeIntervalSince(started).rounded(toPlaces: 3), at: Date())
                    try await writer.write(ServerSentEvents.event("progress", id: seq, data: update))
                    try await Task.sleep(for: Self.pollInterval)
                }
            } else {
                try await writer.write(try Self.endEvent(initial))
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: ServerSentEvents.headers, body: body)
    }

    static func endEvent(_ outcome: JobOutcome) throws -> ByteBuffer {
        switch outcome {
        case .backup(let job): try ServerSentEvents.event("end", data: BackupView(job))
        case .restore(let restore, let steps, let files): try ServerSentEvents.event("end", data: RestoreView(restore, recoverySteps: steps, files: files))
        case .upload(_, let backup): try ServerSentEvents.event("end", data: backup)
        }
    }
}

/// A job's log rebuilt from its catalog record, for jobs whose live log this server does not hold
/// (run before the last restart, or by the CLI or the scheduler in another process).
enum JobLogs {
    static func fromCatalog(_ job: BackupRecord) -> [JobLogLine] {
        var lines = [JobLogLine(at: job.startedAt, level: "info",
                                message: "Backup \(job.id ?? 0) of kind \(job.kind.rawValue) started (\(job.trigger.rawValue), user \(job.userId ?? "-"), station \(job.stationId ?? "-"))")]
        if let start = job.snapshotStartedAt, let end = job.snapshotFinishedAt {
            lines.append(JobLogLine(at: end, level: "info", message: "snapshot taken in \(JobMonitor.seconds(end.timeIntervalSince(start)))", phase: .snapshot))
        }
        if let finished = job.finishedAt {
            lines.append(JobLogLine.ended(job, at: finished))
        }
        if let checked = job.integrityCheckedAt, let result = job.integrityCheck {
            lines.append(JobLogLine(at: checked, level: result == "ok" ? "info" : "error", message: "database integrity check: \(result)", phase: .integrityCheck))
        }
        if let deleted = job.deletedAt {
            lines.append(JobLogLine(at: deleted, level: "info", message: "archive deleted (\(job.deletedBy ?? "-"))"))
        }
        return lines.sorted { $0.at < $1.at }
    }

    static func fromCatalog(_ restore: RestoreRecord) -> [JobLogLine] {
        var lines = [JobLogLine(at: restore.startedAt, level: "info",
                                message: "Restore \(restore.id ?? 0) of \(URL(fileURLWithPath: restore.sourcePath).lastPathComponent) into \(restore.targetPath) started (user \(restore.userId ?? "-"), station \(restore.stationId ?? "-"))")]
        if let pre = restore.preRestorePath {
            lines.append(JobLogLine(at: restore.startedAt, level: "info", message: "pre-restore copy kept at \(pre)", phase: .preRestoreSnapshot))
        }
        if let finished = restore.finishedAt {
            lines.append(JobLogLine.ended(restore, recoverySteps: nil, files: nil, at: finished))
        }
        return lines
    }
}
