import BackupCore
import Foundation
import Hummingbird

/// Backups: list, run now, one backup with its manifest and chain, download, delete, restore.
struct BackupRoutes {
    let services: APIServices

    func register(on api: RouterGroup<APIRequestContext>) {
        let auditor = services.auditor

        // GET /backups?kind=&status=&limit=&offset= : newest first.
        api.get("/backups") { request, _ in
            let kind = try request.queryEnum("kind", BackupKind.self, allowed: BackupKind.allCases)
            let status = try request.queryEnum("status", JobStatus.self, allowed: JobStatus.allCases)
            let paging = try Paging(request)
            let jobs = try await Blocking.run { [catalog = services.catalog] in
                try catalog.jobs(kind: kind, status: status, limit: paging.limit + 1, offset: paging.offset)
            }
            let views = try await Blocking.run { [catalog = services.catalog] in try BackupView.decorated(jobs, catalog: catalog) }
            return try JSON.response(Page(fetched: views, limit: paging.limit, offset: paging.offset))
        }

        // POST /backups {"kind": "db-full"} : starts a backup now; 202 with its record, 409 when one is running.
        api.post("/backups", use: auditor.audited("backup.run") { request, context, note in
            let body = try await StrictJSON.decode(RunRequest.self, from: request, shape: RunRequest(kind: .dbFull))
            note.target = "kind \(body.kind.rawValue)"
            // A backup of an empty store would only be a restore point of nothing (and feed retention).
            if services.setup.setupRequired { throw SetupRoutes.setupRequired }
            let job = try await services.coordinator.startBackup(body.kind, actor: try context.actor())
            note.writtenElsewhere = true  // DatabaseBackupJob audits the run with our actor when it ends.
            return try JSON.response(BackupView(job), status: .accepted, headers: [.location: "/api/v1/backups/\(job.id ?? 0)"])
        })

        // GET /backups/{id} : the record, the manifest summary and the chain of parents.
        api.get("/backups/{id}") { _, context in
            let id = try context.id()
            let detail = try await Blocking.run { [catalog = services.catalog] in try Self.detail(catalog, id: id) }
            return try JSON.response(detail)
        }

        // DELETE /backups/{id}?confirm=true : removes the archive and its off-site copies; the record stays,
        // marked deleted. The answer is the record, what happened off-site, and a sentence saying so.
        api.delete("/backups/{id}", use: auditor.audited("backup.delete") { request, context, note in
            let id = try context.id()
            note.target = "backup \(id)"
            try request.requireConfirmation("Deleting backup \(id) removes its archive for good.")
            let actor = try context.actor()
            guard let job = try await Blocking.run({ [catalog = services.catalog] in try catalog.job(id: id) }) else { throw Self.noSuchBackup(id) }
            let result = try await BackupDeletion(context: services.context).deleteEverywhere(job, reason: "user:\(actor.userId ?? "-")", actor: actor)
            note.writtenElsewhere = true  // BackupDeletion audits it with our actor.
            return try JSON.response(DeletedBackupView(backup: BackupView(result.backup), offsiteDeletions: result.remote, summary: result.summary))
        })

        // GET /backups/{id}/download : the archive, streamed, with Range support.
        api.get("/backups/{id}/download", use: auditor.audited("backup.download") { request, context, note in
            let id = try context.id()
            note.target = "backup \(id)"
            let (job, archive) = try await Blocking.run { [context = services.context] () throws -> (BackupRecord, OpenArchive) in
                let (job, file) = try Self.archived(context, id: id)
                return (job, try OpenArchive(file))
            }
            return try Self.download(job, archive, request: request, context: context, note: note, services: services)
        })

        // POST /backups/{id}/restore?confirm=true[&scope=everything|database|files][&withConfig=false][&deleteExtra=false]
        //     [&preRestoreSnapshot=true] : restores what the backup holds, by its kind (as `caps-backup restore`):
        // the database of a database backup, the files of a files backup, both of a full backup, or the part
        // `scope` names. A request the backup cannot satisfy is a 422 before anything starts.
        api.post("/backups/{id}/restore", use: auditor.audited("restore") { request, context, note in
            let id = try context.id()
            note.target = "backup \(id)"
            try request.requireConfirmation("Restoring backup \(id) replaces live data (the POS database and/or the product files).")
            let restoreRequest = try RestoreParameters.request(request, context: services.context)
            let job = try await Blocking.run { [catalog = services.catalog] in try catalog.job(id: id) }
            guard let job else { throw Self.noSuchBackup(id) }
            guard job.status == .succeeded else {
                throw APIError(.conflict, "not_restorable", "Backup \(id) is \(job.status.rawValue) and cannot be restored.")
            }
            try RestoreParameters.check(restoreRequest, kind: job.kind, context: services.context)
            let (restore, steps, files) = try await services.coordinator.startRestore(.backup(job), request: restoreRequest,
                                                                                      actor: try context.actor())
            // The restore job (DatabaseRestoreJob, or FileRestoreJob for files alone) audits it with our actor.
            note.writtenElsewhere = true
            return try JSON.response(RestoreView(restore, recoverySteps: steps, files: files), status: .accepted,
                                     headers: [.location: "/api/v1/restores/\(restore.id ?? 0)"])
        })
    }

    struct RunRequest: Codable, Sendable {
        var kind: BackupKind
    }

    static func noSuchBackup(_ id: Int64) -> APIError { .notFound("There is no backup with id \(id).") }

    /// A backup whose archive is on this disk (downloaded, verified), with its file; else the API's answer why not.
    static func archived(_ context: BackupContext, id: Int64) throws -> (BackupRecord, file: URL) {
        guard let job = try context.catalog.job(id: id) else { throw noSuchBackup(id) }
        switch job.status {
        case .deleted: throw APIError(.gone, "gone", "Backup \(id) was deleted\(job.deletedAt.map { " on \(Timestamp.iso8601($0))" } ?? "").")
        case .running: throw APIError(.conflict, "not_ready", "Backup \(id) is still running; its archive is not ready.")
        case .failed: throw APIError(.conflict, "not_available", "Backup \(id) failed and has no archive.")
        case .succeeded: break
        }
        let store = context.archiveStore
        guard let file = store.localFile(of: job) else {
            let offsite = (try? store.hasOffsiteCopy(job)) ?? false
            throw APIError(.notFound, "archive_missing", "The archive of backup \(id) is no longer on this server's disk"
                + (offsite ? "; its copy on Google Drive is used when you restore it (or fetch it: caps-backup drive download \(id) --out FILE)."
                           : ", and it has no off-site copy."))
        }
        return (job, file)
    }

    static func detail(_ catalog: Catalog, id: Int64) throws -> BackupDetailView {
        guard let job = try catalog.job(id: id) else { throw noSuchBackup(id) }
        var chain = [BackupDetailView.ChainLink(id: id, kind: job.kind, status: job.status, startedAt: job.startedAt, parentId: job.parentId)]
        var seen: Set<Int64> = [id]
        var parent = job.parentId
        // Follow parent links down to the full backup; a cycle or a very long chain is cut, not looped on.
        while let parentId = parent, seen.insert(parentId).inserted, chain.count < 10_000 {
            guard let link = try catalog.job(id: parentId) else { break }
            chain.append(.init(id: parentId, kind: link.kind, status: link.status, startedAt: link.startedAt, parentId: link.parentId))
            parent = link.parentId
        }
        return BackupDetailView(backup: try BackupView.decorated([job], catalog: catalog)[0],
                                manifest: try catalog.manifestOverview(jobId: id, listed: BackupDetailView.listedEntries).map(BackupDetailView.summary),
                                chain: chain)
    }

    /// 200 with the whole archive, 206 with one range, 416 for a range beyond the end. The audit
    /// row is written when the stream ends: "succeeded" with the bytes sent, or "failed" when the
    /// client went away.
    static func download(_ job: BackupRecord, _ archive: OpenArchive, request: Request, context: APIRequestContext,
                         note: Auditor.Note, services: APIServices) throws -> Response {
        let fileName = job.path.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "backup-\(job.id ?? 0).zip"
        let etag = "\"\(job.sha256 ?? job.uuid)\""
        var headers: HTTPFields = [
            .contentType: "application/zip",
            .contentDisposition: "attachment; filename=\"\(fileName)\"",
            .acceptRanges: "bytes",
            .eTag: etag,
            .cacheControl: "no-store",
        ]
        var range = ByteRange.parse(request.headers[.range], size: archive.size)
        // If-Range: resume only if the archive is still the one the client started with.
        if let ifRange = request.headers[.ifRange], ifRange != etag { range = .whole }
        let status: HTTPResponse.Status
        let bytes: ClosedRange<UInt64>?
        switch range {
        case .unsatisfiable:
            throw APIError(.rangeNotSatisfiable, "range_not_satisfiable", "The requested range is beyond the archive's \(archive.size) bytes.",
                           headers: [.contentRange: "bytes */\(archive.size)"])
        case .whole:
            status = .ok
            bytes = archive.size > 0 ? 0...(archive.size - 1) : nil
        case .partial(let r):
            status = .partialContent
            bytes = r
            headers[.contentRange] = "bytes \(r.lowerBound)-\(r.upperBound)/\(archive.size)"
        }
        guard let bytes else {
            return Response(status: .ok, headers: headers, body: .init())
        }
        note.writtenElsewhere = true
        let actor = try context.actor()
        let target = note.target
        let described = status == .partialContent ? "bytes \(bytes.lowerBound)-\(bytes.upperBound) of \(archive.size)" : "\(archive.size) bytes"
        let audit = DownloadAudit(notSent: "\(fileName): not sent (the connection failed before the response started)") { outcome, detail in
            await services.auditor.write(action: "backup.download", target: target, outcome: outcome, detail: detail, actor: actor)
        }
        let body = ArchiveStream.body(archive, range: bytes) { sent, error in
            await audit.finish(outcome: error == nil ? "succeeded" : "failed",
                               detail: error == nil ? "\(fileName): \(described)" : "\(fileName): stopped after \(sent) of \(described)")
        }
        return Response(status: status, headers: headers, body: body)
    }
}

/// The one audit row of a download. The stream writes it when it ends; if the stream never starts
/// (the response head could not be sent: the client went away first), the row is written when the
/// response is let go, so every download leaves its row.
final class DownloadAudit: Sendable {
    private let written = Locked(false)
    private let notSent: String
    private let write: @Sendable (_ outcome: String, _ detail: String) async -> Void

    init(notSent: String, write: @escaping @Sendable (_ outcome: String, _ detail: String) async -> Void) {
        self.notSent = notSent
        self.write = write
    }

    private func claim() -> Bool { written.withLock { done in defer { done = true }; return !done } }

    func finish(outcome: String, detail: String) async {
        guard claim() else { return }
        await write(outcome, detail)
    }

    deinit {
        guard claim() else { return }
        let (write, detail) = (self.write, notSent)
        Task { await write("failed", detail) }
    }
}
