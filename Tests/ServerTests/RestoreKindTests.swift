import BackupCore
import Foundation
@testable import Server
import Testing

/// Restores through the API dispatch by the backup's kind, as `caps-backup restore` does: the files of
/// a files backup, the database and the files of a full backup (or the part `scope` names), and a
/// request the backup cannot satisfy is refused before anything starts. Real stores, real archives
/// made by the real backup jobs.
@Suite("Restore by backup kind", .serialized)
struct RestoreKindTests {
    /// What happens to a store's product files after a backup: one edited, one deleted, a whole folder
    /// deleted, and a new one added (a file the backup does not hold).
    static func changeProductFiles(_ store: TestStore) throws {
        let root = store.uploads
        try Data("edited after the backup".utf8).write(to: root.appendingPathComponent("products/1/sku-1.jpg"))
        try FileManager.default.removeItem(at: root.appendingPathComponent("products/2/sku-2.jpg"))
        try FileManager.default.removeItem(at: root.appendingPathComponent("products/0/large"))
        try Data("new arrival".utf8).write(to: root.appendingPathComponent("products/new-arrival.jpg"))
    }

    static let extraFile = "products/new-arrival.jpg"

    /// Starts a restore with `query`, waits for it to end, and returns it as GET /restores/{id} shows it.
    static func restore(_ http: HTTP, _ store: TestStore, backup: Int64, _ query: String = "") async throws -> RestoreView {
        let response = try await http.post("/api/v1/backups/\(backup)/restore?confirm=true\(query.isEmpty ? "" : "&" + query)", token: Tokens.admin)
        guard response.status == 202 else { throw TestFailure("restore \(query): \(response.status) \(response.text)") }
        let id = try #require(try response.json()["id"] as? Int)
        #expect(response.header("Location") == "/api/v1/restores/\(id)")
        try await eventually { !store.server.coordinator.isBusy }
        return try await http.get("/api/v1/restores/\(id)", token: Tokens.admin).decode(RestoreView.self)
    }

    /// The audit rows a block of work added.
    static func auditAdded(_ store: TestStore, _ work: () async throws -> Void) async throws -> [AuditEntry] {
        let before = Set(try store.auditRows().map(\.id))
        try await work()
        return try store.auditRows().filter { !before.contains($0.id) }
    }

    static func realPath(_ url: URL) -> String { url.resolvingSymlinksInPath().path }

    @Test func aFilesBackupIsRestoredThroughTheAPI() async throws {
        let store = try TestStore(productFiles: 24)
        let original = try store.productFiles()
        let originalBytes = try original.keys.reduce(UInt64(0)) { total, path in
            total + UInt64(try Data(contentsOf: store.uploads.appendingPathComponent(path)).count)
        }
        let job = try store.fileBackup(.files)
        #expect(job.kind == .files && job.status == .succeeded)
        try Self.changeProductFiles(store)
        try store.setMarker("sold after the backup")
        let databaseBefore = try Checksums.sha256(of: store.database)

        try await store.run { http in
            var restore: RestoreView?
            let audit = try await Self.auditAdded(store) {
                restore = try await Self.restore(http, store, backup: job.id!)
            }
            let view = try #require(restore)
            #expect(view.status == .succeeded, "\(view.error ?? "")")
            #expect(view.sourceJobId == job.id && view.sourceBackupId == job.uuid)
            #expect(view.targetPath == Self.realPath(store.uploads))
            #expect(view.restoredImageSha256 == nil && view.preRestorePath == nil)
            #expect(view.files?.restored == original.count && view.files?.removed == 0)
            #expect(view.files?.root == Self.realPath(store.uploads))
            #expect(view.files?.bytes == originalBytes)
            // Every file byte-identical again; the one the backup does not hold is kept (deleteExtra=false).
            var expected = original
            expected[Self.extraFile] = sha256Hex(Data("new arrival".utf8))
            #expect(try store.productFiles() == expected)
            // The database was not touched.
            #expect(try store.marker() == "sold after the backup")
            #expect(try Checksums.sha256(of: store.database) == databaseBefore)
            // Audited once, by the file restore, with the API's actor.
            #expect(audit.count == 1, "\(audit.map(\.action))")
            #expect(audit.first?.action == "restore.files" && audit.first?.outcome == "succeeded")
            #expect(audit.first?.userId == "admin" && audit.first?.stationId == "office-pc" && audit.first?.client == "127.0.0.1")

            // The progress stream's end event carries the same record.
            let stream = try await http.get("/api/v1/restores/\(view.id)/progress", token: Tokens.admin)
            let endBlock = try #require(stream.text.components(separatedBy: "\n\n").last { $0.hasPrefix("event: end") })
            let data = try #require(endBlock.components(separatedBy: "\n").first { $0.hasPrefix("data: ") }?.dropFirst(6))
            let ended = try Manifest.decoder.decode(RestoreView.self, from: Data(data.utf8))
            #expect(ended.id == view.id && ended.status == .succeeded && ended.files == view.files)

            // deleteExtra=true also removes the file the backup does not hold.
            let again = try await Self.restore(http, store, backup: job.id!, "deleteExtra=true")
            #expect(again.status == .succeeded, "\(again.error ?? "")")
            #expect(again.files?.removed == 1)
            #expect(try store.productFiles() == original)
        }
        #expect(try store.catalog.restoreJobs().count == 2)
        #expect(try store.catalog.alerts().isEmpty)
    }

    @Test func aFullBackupRestoresTheDatabaseAndTheFiles() async throws {
        let store = try TestStore(productFiles: 12)
        let original = try store.productFiles()
        let job = try store.fileBackup(.full)
        #expect(job.kind == .full && job.status == .succeeded)
        try Self.changeProductFiles(store)
        try store.setMarker("sold after the backup")
        let changed = try store.productFiles()

        try await store.run { http in
            // scope=database: the database only; the files stay as they are.
            var audit = try await Self.auditAdded(store) {
                let view = try await Self.restore(http, store, backup: job.id!, "scope=database")
                #expect(view.status == .succeeded, "\(view.error ?? "")")
                #expect(view.targetPath == store.database.path)
                #expect(view.preRestorePath != nil && view.restoredImageSha256 != nil)
                #expect(view.files == nil)
            }
            #expect(try store.marker() == "original")
            #expect(try store.productFiles() == changed)
            #expect(audit.map(\.action) == ["restore"] && audit.first?.userId == "admin")

            // Everything (the default): the database and the files.
            try store.setMarker("sold again")
            audit = try await Self.auditAdded(store) {
                let view = try await Self.restore(http, store, backup: job.id!)
                #expect(view.status == .succeeded, "\(view.error ?? "")")
                #expect(view.targetPath == store.database.path && view.preRestorePath != nil)
                #expect(view.files?.restored == original.count && view.files?.root == Self.realPath(store.uploads))
            }
            #expect(try store.marker() == "original")
            var expected = original
            expected[Self.extraFile] = sha256Hex(Data("new arrival".utf8))
            #expect(try store.productFiles() == expected)
            #expect(audit.map(\.action) == ["restore"] && audit.first?.userId == "admin" && audit.first?.stationId == "office-pc")

            // scope=files: the files only (here with deleteExtra); the database stays as it is.
            try Self.changeProductFiles(store)
            try store.setMarker("sold once more")
            let view = try await Self.restore(http, store, backup: job.id!, "scope=files&deleteExtra=true")
            #expect(view.status == .succeeded, "\(view.error ?? "")")
            #expect(view.targetPath == Self.realPath(store.uploads) && view.preRestorePath == nil)
            #expect(view.files?.removed == 1)
            #expect(try store.productFiles() == original)
            #expect(try store.marker() == "sold once more")
        }
    }

    @Test func aRequestTheBackupCannotSatisfyIsRefusedBeforeItStarts() async throws {
        let store = try TestStore()
        let job = try store.backup()
        try store.setMarker("live data")
        try await store.run { http in
            let refused: [(query: String, says: String)] = [
                ("scope=files", "no product files"),
                ("deleteExtra=true", "Removing extra files"),
                ("scope=database&deleteExtra=true", "Removing extra files"),
            ]
            for (query, says) in refused {
                let audit = try await Self.auditAdded(store) {
                    let response = try await http.post("/api/v1/backups/\(job.id!)/restore?confirm=true&\(query)", token: Tokens.admin)
                    #expect(response.status == 422, "\(query): \(response.status) \(response.text)")
                    #expect(response.errorCode == "invalid_input", "\(query)")
                    #expect(response.errorMessage?.contains(says) == true && response.errorMessage?.contains("Nothing was changed") == true,
                            "\(query): \(response.errorMessage ?? "")")
                }
                #expect(audit.count == 1 && audit.first?.action == "restore" && audit.first?.outcome == "rejected", "\(query)")
            }
            for query in ["scope=all", "scope=", "withConfig=yes", "deleteExtra=1"] {
                let response = try await http.post("/api/v1/backups/\(job.id!)/restore?confirm=true&\(query)", token: Tokens.admin)
                #expect(response.status == 400 && response.errorCode == "bad_request", "\(query): \(response.status)")
            }
            #expect(!store.server.coordinator.isBusy)
        }
        #expect(try store.catalog.restoreJobs().isEmpty)
        #expect(try store.catalog.alerts().isEmpty)
        #expect(try store.marker() == "live data")

        // A files backup holds no database and no config files.
        let files = try TestStore(productFiles: 3)
        let filesJob = try files.fileBackup(.files)
        try await files.run { http in
            for (query, says) in [("scope=database", "holds no database"), ("withConfig=true", "no config files")] {
                let response = try await http.post("/api/v1/backups/\(filesJob.id!)/restore?confirm=true&\(query)", token: Tokens.admin)
                #expect(response.status == 422 && response.errorCode == "invalid_input", "\(query): \(response.text)")
                #expect(response.errorMessage?.contains(says) == true, "\(query): \(response.errorMessage ?? "")")
            }
        }
        #expect(try files.catalog.restoreJobs().isEmpty)
    }

    @Test func anUploadedFilesArchiveIsRestored() async throws {
        // The archive comes from another machine's files backup.
        let source = try TestStore(productFiles: 16)
        let original = try source.productFiles()
        let job = try source.fileBackup(.files)
        let archive = source.dir.path("files-from-another-machine.zip")
        try FileManager.default.copyItem(atPath: job.path!, toPath: archive.path)

        // A fresh install: the uploads folder is configured but does not exist yet.
        let store = try TestStore(productFiles: 0)
        try FileManager.default.removeItem(at: store.uploads)
        try store.setMarker("fresh install")
        let received = ArchiveReceiver.directory(store.context)
        try await store.run { http in
            // A files archive holds no database.
            let wrong = try await http.request("POST", "/api/v1/restores/upload?confirm=true&scope=database", token: Tokens.admin,
                                               body: .file(archive, contentType: "application/zip"))
            #expect(wrong.status == 422 && wrong.errorCode == "invalid_input", "\(wrong.text)")
            #expect(wrong.errorMessage?.contains("holds no database") == true)
            #expect(try store.catalog.restoreJobs().isEmpty)
            #expect((try? FileManager.default.contentsOfDirectory(atPath: received.path))?.isEmpty ?? true)

            var restoreID = 0
            let audit = try await Self.auditAdded(store) {
                let response = try await http.request("POST", "/api/v1/restores/upload?confirm=true", token: Tokens.admin,
                                                      body: .file(archive, contentType: "application/zip"))
                #expect(response.status == 202, "\(response.text)")
                restoreID = try #require(try response.json()["id"] as? Int)
                try await eventually { !store.server.coordinator.isBusy }
            }
            let restore = try await http.get("/api/v1/restores/\(restoreID)", token: Tokens.admin).decode(RestoreView.self)
            #expect(restore.status == .succeeded, "\(restore.error ?? "")")
            #expect(restore.sourceJobId == nil && restore.targetPath == Self.realPath(store.uploads))
            #expect(restore.files?.restored == original.count)
            #expect(audit.count == 1 && audit.first?.action == "restore.files" && audit.first?.userId == "admin", "\(audit.map(\.action))")
        }
        #expect(try store.productFiles() == original)
        #expect(try store.marker() == "fresh install")
        // The uploaded file is gone once the restore has used it.
        #expect((try? FileManager.default.contentsOfDirectory(atPath: received.path))?.isEmpty ?? true)

        // A store without an uploads folder cannot take product files: refused, nothing recorded.
        let bare = try TestStore()
        try await bare.run { http in
            let response = try await http.request("POST", "/api/v1/restores/upload?confirm=true", token: Tokens.admin,
                                                  body: .file(archive, contentType: "application/zip"))
            #expect(response.status == 422 && response.errorCode == "not_configured", "\(response.text)")
            #expect(response.errorMessage?.contains("uploads") == true)
        }
        #expect(try bare.catalog.restoreJobs().isEmpty)
        #expect(try bare.catalog.alerts().isEmpty)
    }
}
