import BackupCore
import Foundation
import Hummingbird

/// Restores: the list, one restore, and the upload of an archive to restore from (R8: a fresh
/// install or an archive from another machine).
struct RestoreRoutes {
    let services: APIServices

    /// Uploaded archives wait here (0700) until their restore has used them.
    static func uploadsDirectory(_ context: BackupContext) -> URL { context.dataDirectory.root.appendingPathComponent("uploads") }
    var uploads: URL { Self.uploadsDirectory(services.context) }

    func register(on api: RouterGroup<APIRequestContext>) {
        api.get("/restores") { request, _ in
            let paging = try Paging(request)
            let rows = try await Blocking.run { [catalog = services.catalog] in try catalog.restoreJobs(limit: paging.limit + 1, offset: paging.offset) }
            return try JSON.response(Page(fetched: rows.map { restoreView($0) }, limit: paging.limit, offset: paging.offset))
        }

        api.get("/restores/{id}") { _, context in
            let id = try context.id()
            let restore = try await Blocking.run { [catalog = services.catalog] in try catalog.restoreJob(id: id) }
            guard let restore else { throw Self.noSuchRestore(id) }
            return try JSON.response(restoreView(restore))
        }

        // POST /restores/upload?confirm=true&preRestoreSnapshot=true, body: the archive.
        // Verified completely before anything changes: a damaged archive is refused with 422 and
        // leaves no restore record, no alert and no file behind (only this request's audit row).
        api.post("/restores/upload", use: services.auditor.audited("restore.upload") { request, context, note in
            try request.requireConfirmation("Restoring an uploaded archive replaces the live POS database.")
            let preRestoreSnapshot = try request.queryBool("preRestoreSnapshot", default: true)
            // Refuse early rather than after receiving gigabytes.
            guard !services.coordinator.isBusy else { throw APIError.busy }
            let declared = request.headers[.contentLength].flatMap { Int64($0) }
            let receiver = UploadReceiver(directory: uploads, maxBytes: services.configuration.maxUploadBytes,
                                          availableBytes: services.context.availableBytes)
            let file = try await receiver.receive(request.body, declaredLength: declared)
            note.target = file.lastPathComponent
            do {
                let summary = try await Blocking.run { [context = services.context] in try Self.verify(file, context: context) }
                note.detail = summary
                let (restore, steps) = try await services.coordinator.startRestore(
                    .archive(file), preRestoreSnapshot: preRestoreSnapshot, actor: try context.actor(),
                    cleanup: { try? FileManager.default.removeItem(at: file) })
                note.writtenElsewhere = true  // DatabaseRestoreJob audits the restore with our actor.
                return try JSON.response(RestoreView(restore, recoverySteps: steps), status: .accepted,
                                         headers: [.location: "/api/v1/restores/\(restore.id ?? 0)"])
            } catch {
                if !note.writtenElsewhere { try? FileManager.default.removeItem(at: file) }
                throw error
            }
        })
    }

    /// The restore as the API shows it, with its recovery steps when this server ran it and it failed.
    func restoreView(_ restore: RestoreJob) -> RestoreView {
        var steps: [String]?
        if let id = restore.id, case .restore(_, let recorded)? = services.hub.monitor(for: .restore(id))?.finalOutcome { steps = recorded }
        return RestoreView(restore, recoverySteps: steps)
    }

    static func noSuchRestore(_ id: Int64) -> APIError { .notFound("There is no restore with id \(id).") }

    /// The whole `caps-backup verify` (VerifyJob): checksums, structure, every entry, for an
    /// incremental every archive of its chain in the catalog, the database image against its
    /// SHA-256, and `PRAGMA integrity_check`. A damaged upload is refused here, before a restore
    /// record or an alert exists. (The restore checks again before it touches the live database:
    /// twice the time for an upload, which is rare, for a refusal that leaves nothing behind.)
    static func verify(_ file: URL, context: BackupContext) throws -> String {
        let report = VerifyJob(context: context).run(archive: file)
        guard report.status == "ok" else {
            throw APIError(.unprocessableContent, "archive_refused",
                           "The uploaded file was refused and nothing was changed: \(report.error ?? "it is not a readable caps-backup archive.")")
        }
        guard let image = report.imageSha256 else {
            throw APIError(.unprocessableContent, "no_database",
                           "This archive holds no database (it is a \(report.kind?.rawValue ?? "?") backup); nothing to restore, nothing was changed.")
        }
        return "\(report.kind?.rawValue ?? "?") backup \(report.backupId ?? "?"), sha256 \(report.sha256 ?? "?"), database image \(image)"
    }
}
