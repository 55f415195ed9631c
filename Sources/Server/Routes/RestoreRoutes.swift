import BackupCore
import Foundation
import Hummingbird

/// Restores: the list, one restore, and the upload of an archive to restore from (R8: a fresh
/// install or an archive from another machine), of any kind: database, files, or full.
struct RestoreRoutes {
    let services: APIServices

    var received: URL { ArchiveReceiver.directory(services.context) }

    static let uploadInProgress = APIError(.conflict, "upload_in_progress",
                                           "Another archive is being uploaded or checked; only one upload at a time. Try again when it has finished.")

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

        // POST /restores/upload?confirm=true[&scope=everything|database|files][&withConfig=false][&deleteExtra=false]
        //     [&preRestoreSnapshot=true], body: the archive (of any kind: a fresh install may need its files too).
        // Verified completely before anything changes: a damaged archive, or a request the archive cannot
        // satisfy, is refused with 422 and leaves no restore record, no alert and no file behind (only this
        // request's audit row).
        api.post("/restores/upload", use: services.auditor.audited("restore.upload") { request, context, note in
            try await receiveAndRestore(request, context: context, note: note).response
        })
    }

    /// Receives an uploaded archive into `uploads/` (streamed, size-capped), verifies it completely and
    /// starts its restore: for /restores/upload and the fresh-install wizard's /setup/restore.
    func receiveAndRestore(_ request: Request, context: APIRequestContext, note: Auditor.Note) async throws -> (restore: RestoreRecord, response: Response) {
        try await receiveAndRestore(request, context: context, note: note) { receiver in
            try await receiver.receive(request.body, declaredLength: request.headers[.contentLength].flatMap { Int64($0) })
        }
    }

    /// The same with the archive fetched from an off-site copy (the wizard's restore from Google Drive).
    func fetchAndRestore(_ object: RemoteObject, from destination: any Destination, request: Request, context: APIRequestContext,
                         note: Auditor.Note) async throws -> (restore: RestoreRecord, response: Response) {
        try await receiveAndRestore(request, context: context, note: note) { receiver in
            try await receiver.fetch(object, from: destination)
        }
    }

    private func receiveAndRestore(_ request: Request, context: APIRequestContext, note: Auditor.Note,
                                   receive: (ArchiveReceiver) async throws -> URL) async throws -> (restore: RestoreRecord, response: Response) {
        try request.requireConfirmation("Restoring an uploaded archive replaces live data (the POS database and/or the product files).")
        let restoreRequest = try RestoreParameters.request(request, context: services.context)
        // Refuse early rather than after receiving gigabytes.
        guard !services.coordinator.isBusy else { throw APIError.busy }
        // One upload at a time, from its first byte until its restore has started (or it was refused).
        guard services.receiveSlot.withLock({ taken in defer { taken = true }; return !taken }) else { throw Self.uploadInProgress }
        defer { services.receiveSlot.withLock { $0 = false } }
        let receiver = ArchiveReceiver(directory: received, maxBytes: services.configuration.maxUploadBytes,
                                      availableBytes: services.context.availableBytes)
        let file = try await receive(receiver)
        note.target = file.lastPathComponent
        do {
            let summary = try await Blocking.run { [context = services.context] in
                try Self.verify(file, for: restoreRequest, context: context)
            }
            note.detail = summary
            let (restore, steps, files) = try await services.coordinator.startRestore(
                .archive(file), request: restoreRequest, actor: try context.actor(),
                cleanup: { try? FileManager.default.removeItem(at: file) })
            // The restore job (DatabaseRestoreJob, or FileRestoreJob for files alone) audits it with our actor.
            note.writtenElsewhere = true
            return (restore, try JSON.response(RestoreView(restore, recoverySteps: steps, files: files), status: .accepted,
                                               headers: [.location: "/api/v1/restores/\(restore.id ?? 0)"]))
        } catch {
            if !note.writtenElsewhere { try? FileManager.default.removeItem(at: file) }
            throw error
        }
    }

    /// The restore as the API shows it, with its recovery steps when this server ran it and it failed,
    /// and what it put back of files and config files when this server ran it.
    func restoreView(_ restore: RestoreRecord) -> RestoreView {
        var steps: [String]?
        var files: FileRestoreOutcome?
        if let id = restore.id, case .restore(_, let recorded, let restored)? = services.hub.monitor(for: .restore(id))?.finalOutcome {
            (steps, files) = (recorded, restored)
        }
        return RestoreView(restore, recoverySteps: steps, files: files)
    }

    static func noSuchRestore(_ id: Int64) -> APIError { .notFound("There is no restore with id \(id).") }

    /// The whole `caps-backup verify` (VerifyJob): checksums, structure, every entry, for an
    /// incremental every archive of its chain in the catalog, the database image against its
    /// SHA-256, and `PRAGMA integrity_check`. A damaged upload, or one that cannot give what the
    /// request asks for (`scope=database` from a files backup, say), is refused here, before a
    /// restore record or an alert exists. (The restore checks again before it touches the live data:
    /// twice the time for an upload, which is rare, for a refusal that leaves nothing behind.)
    static func verify(_ file: URL, for request: RestoreRequest, context: BackupContext) throws -> String {
        // The manifest alone says the kind: a request that does not fit is refused before the long verification.
        if let kind = try? BackupRestorer.kind(of: .archive(file)) { try RestoreParameters.check(request, kind: kind, context: context) }
        let report = VerifyJob(context: context).run(archive: file)
        guard report.status == "ok", let kind = report.kind else {
            throw APIError(.unprocessableContent, "archive_refused",
                           "The uploaded file was refused and nothing was changed: \(report.error ?? "it is not a readable caps-backup archive.")")
        }
        try RestoreParameters.check(request, kind: kind, context: context)
        if RestoreParameters.restoresDatabase(request, kind: kind), report.imageSha256 == nil {
            throw APIError(.unprocessableContent, "no_database",
                           "This archive holds no database (it is a \(kind.rawValue) backup); nothing was changed. Restore its files with scope=files.")
        }
        return "\(kind.rawValue) backup \(report.backupId ?? "?"), sha256 \(report.sha256 ?? "?")"
            + (report.imageSha256.map { ", database image \($0)" } ?? "")
    }
}

/// The restore options of the API's two restore routes, from the query, with the defaults of the
/// CLI's `restore`: `scope` = `everything` (what the backup holds: the database of a database backup,
/// the files of a files backup, both of a full backup) | `database` | `files`; `withConfig` (also the
/// config files, default false); `deleteExtra` (remove files in the uploads folder that the backup
/// does not hold, default false); `preRestoreSnapshot` (default true).
enum RestoreParameters {
    enum Scope: String, CaseIterable {
        case everything, database, files
    }

    static func request(_ request: Request, context: BackupContext) throws -> RestoreRequest {
        let scope: RestoreRequest.Scope = switch try request.queryEnum("scope", Scope.self, allowed: Scope.allCases) ?? .everything {
        case .everything: .everything
        case .database: .databaseOnly
        case .files: .filesOnly
        }
        return RestoreRequest(scope: scope, withConfig: try request.queryBool("withConfig", default: false),
                              files: FileRestoreOptions(uploads: context.uploads, deleteExtra: try request.queryBool("deleteExtra", default: false)),
                              preRestoreSnapshot: try request.queryBool("preRestoreSnapshot", default: true))
    }

    /// Refuses, before any job starts (no restore record, no alert), a request that does not fit a
    /// backup of `kind`, and one this store is not set up for. Product files are restored only into
    /// the configured uploads folder: through the API an archive never chooses where files are written.
    static func check(_ request: RestoreRequest, kind: BackupKind, context: BackupContext) throws {
        if let problem = request.problem(for: kind) {
            throw APIError(.unprocessableContent, "invalid_input", "\(problem) Nothing was changed.")
        }
        if restoresFiles(request, kind: kind), context.uploads == nil {
            throw APIError(.unprocessableContent, "not_configured",
                           "No uploads folder is configured, so product files cannot be restored: set [store] uploads in the config file. Nothing was changed.")
        }
        if restoresDatabase(request, kind: kind) { _ = try context.requirePOSDatabase() }
    }

    static func restoresFiles(_ request: RestoreRequest, kind: BackupKind) -> Bool {
        kind == .files || (kind == .full && request.scope != .databaseOnly)
    }

    static func restoresDatabase(_ request: RestoreRequest, kind: BackupKind) -> Bool {
        kind != .files && request.scope != .filesOnly
    }
}
