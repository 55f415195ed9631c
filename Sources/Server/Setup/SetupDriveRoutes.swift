import BackupCore
import Foundation
import Hummingbird

/// The wizard's way to a backup on Google Drive (R8), under /api/v1/setup with the setup code: connect
/// (the same status and connect routes as /api/v1/drive…), list the archives in this store's Drive folder,
/// and restore one. A fresh install has an empty catalog, so the archives are known by what the upload
/// labelled them with (`appProperties`: backupId, kind, sha256, store), and the fetched copy is checked
/// against its size and SHA-256, then verified in full, before the restore starts, as an uploaded one is.
struct SetupDriveRoutes {
    let services: APIServices

    /// An archive on Drive that restores a store by itself. Hourly incrementals are left out: each needs
    /// its whole chain, and the daily full of the same day holds as much.
    struct RemoteBackup: Codable, Sendable, Equatable {
        var remoteId: String
        var backupId: String?
        var kind: BackupKind
        var name: String
        var size: UInt64
        var modifiedAt: Date?
        var store: String?

        init?(_ object: RemoteObject) {
            guard let kind = object.metadata["kind"].flatMap(BackupKind.init(rawValue:)), kind != .dbIncremental else { return nil }
            remoteId = object.id
            backupId = object.metadata["backupId"]
            self.kind = kind
            name = object.name
            size = object.size
            modifiedAt = object.modifiedAt
            store = object.metadata["store"]
        }
    }

    struct RemoteBackups: Codable, Sendable {
        /// Where on Drive they were looked for (`[google] folder` / `store_name`).
        var folder: String
        /// Newest first.
        var items: [RemoteBackup]
    }

    func register(on guarded: RouterGroup<APIRequestContext>) {
        let drive = DriveRoutes(services: services)
        drive.registerConnect(on: guarded)

        guarded.get("/drive/backups") { _, _ in
            let destination = try drive.connected("so the backups there cannot be listed")
            let objects = try await destination.list(prefix: "")
            let folder = try await Blocking.run { [services] in try services.drive.status(services.context).folder }
            let items = objects.compactMap(RemoteBackup.init).sorted { ($0.modifiedAt ?? .distantPast, $0.name) > ($1.modifiedAt ?? .distantPast, $1.name) }
            return try JSON.response(RemoteBackups(folder: folder, items: items))
        }

        // POST /setup/drive/restore?remoteId=…&confirm=true[&scope=…]: the restore options of /restores/upload.
        guarded.post("/drive/restore", use: services.auditor.audited("setup.restore.drive") { request, context, note in
            guard services.setup.setupRequired else { throw SetupRoutes.notRequired }
            guard let remoteId = request.uri.queryParameters.get("remoteId"), !remoteId.isEmpty, remoteId.count <= 200 else {
                throw APIError.badRequest("The query parameter remoteId (a file id from GET /api/v1/setup/drive/backups) is required.")
            }
            note.target = remoteId
            let destination = try drive.connected("so no backup can be fetched from it")
            // From the folder's listing, not by id alone: only what the wizard could have listed restores.
            guard let found = try await destination.list(prefix: "").first(where: { $0.id == remoteId }), let backup = RemoteBackup(found) else {
                throw APIError.notFound("There is no backup with this id in the store's Google Drive folder (a database, files or full backup).")
            }
            note.detail = "\(backup.kind.rawValue) backup \(backup.backupId ?? "?") from Google Drive, \(ByteCount.format(Int64(clamping: backup.size)))"
            let (restore, response) = try await RestoreRoutes(services: services).fetchAndRestore(found, from: destination, request: request,
                                                                                                  context: context, note: note)
            SetupRoutes(services: services).watch(restore)
            return response
        })
    }
}
