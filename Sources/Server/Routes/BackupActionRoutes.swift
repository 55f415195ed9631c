import BackupCore
import Foundation
import Hummingbird

/// What the dashboard does to one backup besides download, restore and delete: verify it, get a
/// single-use download link, and see what a delete would remove (R9.2, R9.7, R9.8).
struct BackupActionRoutes {
    let services: APIServices

    static let verifyInProgress = APIError(.conflict, "busy", "Another backup is being verified; try again when it has finished.")

    func register(on api: RouterGroup<APIRequestContext>) {
        let auditor = services.auditor

        // POST /backups/{id}/verify : VerifyJob, as `caps-backup verify`; 200 with its report when it is done.
        // Synchronous: it changes nothing a backup or restore needs (it reads the archive, writes a scratch
        // folder in tmp/), so it does not take the job slot; one verification at a time.
        api.post("/backups/{id}/verify", use: auditor.audited("backup.verify") { _, context, note in
            let id = try context.id()
            note.target = "backup \(id)"
            let actor = try context.actor()
            guard services.verifySlot.withLock({ taken in defer { taken = true }; return !taken }) else { throw Self.verifyInProgress }
            defer { services.verifySlot.withLock { $0 = false } }
            let result = try await Blocking.run { [context = services.context] () throws -> VerifyResult in
                let (job, file) = try BackupRoutes.archived(context, id: id)
                let started = Date()
                let report = VerifyJob(context: context).run(archive: file, job: job)
                return VerifyResult(report, id: id, seconds: Date().timeIntervalSince(started))
            }
            note.writtenElsewhere = true
            await auditor.write(action: "backup.verify", target: note.target, outcome: result.status == "ok" ? "succeeded" : "failed",
                                detail: result.status == "ok" ? "archive verified: \(result.entries ?? 0) entries, integrity \(result.integrity ?? "not checked")"
                                    : result.error, actor: actor)
            return try JSON.response(result)
        })

        // POST /backups/{id}/download-ticket : a single-use link for 60 s, for this backup and this user.
        api.post("/backups/{id}/download-ticket", use: auditor.audited("backup.download-ticket") { _, context, note in
            let id = try context.id()
            note.target = "backup \(id)"  // never the ticket
            _ = try await Blocking.run { [context = services.context] in try BackupRoutes.archived(context, id: id) }
            guard let identity = context.identity else { throw APIError(.unauthorized, "unauthorized", "Sign in first: a bearer token is required.") }
            let ticket = services.tickets.issue(backupId: id, identity: identity)
            note.detail = "valid \(Int(DownloadTickets.lifetime)) s, single use"
            return try JSON.response(TicketView(url: "/api/v1/backups/\(id)/download?ticket=\(ticket)", expiresIn: Int(DownloadTickets.lifetime)),
                                     status: .created)
        })

        // GET /backups/{id}/deletion-preview : what DELETE would remove, and what stays.
        api.get("/backups/{id}/deletion-preview") { _, context in
            let id = try context.id()
            let preview = try await Blocking.run { [context = services.context] in try Self.deletionPreview(context, id: id) }
            return try JSON.response(preview)
        }
    }

    struct TicketView: Codable, Sendable {
        var url: String
        var expiresIn: Int
        enum CodingKeys: String, CodingKey { case url, expiresIn = "expires_in" }
    }

    /// `caps-backup verify --json`'s report without the server path.
    struct VerifyResult: Codable, Sendable {
        var id: Int64
        var backupId: String?
        var kind: BackupKind?
        var status: String
        var sha256: String?
        var checksumSource: String?
        var entries: Int?
        var imageSha256: String?
        var chain: [String]?
        var integrity: String?
        var error: String?
        var durationSeconds: Double

        init(_ report: VerifyReport, id: Int64, seconds: Double) {
            self.id = id
            backupId = report.backupId
            kind = report.kind
            status = report.status == "ok" ? "ok" : "failed"
            sha256 = report.sha256
            checksumSource = report.checksumSource
            entries = report.entries
            imageSha256 = report.imageSha256
            chain = report.chain
            integrity = report.integrity
            error = report.error
            durationSeconds = seconds.rounded(toPlaces: 3)
        }
    }

    struct DeletionPreview: Codable, Sendable {
        var backup: BackupView
        var local: LocalArchive?
        var remote: [BackupView.OffsiteCopyView]
        var dependents: [Int64]
        var retention: Retention?
        var keptAfter: [Kept]

        struct LocalArchive: Codable, Sendable { var fileName: String; var size: Int64; var exists: Bool }
        struct Retention: Codable, Sendable { var keep: Bool; var reason: String }
        struct Kept: Codable, Sendable { var kind: BackupKind; var count: Int; var newest: Date? }
    }

    static func deletionPreview(_ context: BackupContext, id: Int64) throws -> DeletionPreview {
        let catalog = context.catalog
        guard let job = try catalog.job(id: id) else { throw BackupRoutes.noSuchBackup(id) }
        let view = try BackupView.decorated([job], catalog: catalog)[0]
        var local: DeletionPreview.LocalArchive?
        if job.status != .deleted, let path = job.path {
            let url = URL(fileURLWithPath: path)
            local = .init(fileName: url.lastPathComponent, size: job.size ?? Int64(clamping: (try? POSIXFile.fileSize(url)) ?? 0), exists: POSIXFile.exists(url))
        }
        let dependents = try catalog.dependents(of: id)
        var retention: DeletionPreview.Retention?
        if job.status == .succeeded, let decision = try RetentionPruner(context: context).plan(settings: try SettingsStore(catalog: catalog).load())
            .first(where: { $0.id == id }) {
            retention = .init(keep: decision.keep, reason: decision.keep ? decision.reason : "retention would delete it at the next run")
        }
        return DeletionPreview(
            backup: view, local: local,
            remote: (view.offsite ?? []).filter { $0.status != .deleted },
            dependents: dependents, retention: retention,
            keptAfter: try catalog.restorePoints(excluding: [id] + dependents).map { .init(kind: $0.kind, count: $0.count, newest: $0.newest) })
    }
}
