import BackupCore
import Foundation
@testable import Server
import Testing

@Suite("Upload an archive for restore", .serialized)
struct UploadTests {
    /// What "nothing changed" means: the live database, the catalog's restores and alerts, the data directory.
    struct StoreState: Equatable {
        var database: String
        var restores: Int
        var alerts: Int
        var files: [String]

        init(_ store: TestStore) throws {
            database = try Checksums.sha256(of: store.database)
            restores = try store.catalog.restoreJobs().count
            alerts = try store.catalog.alerts(includeAcknowledged: true).count
            let root = store.context.dataDirectory.root
            files = (FileManager.default.enumerator(atPath: root.path)?.allObjects as? [String] ?? [])
                .filter { !$0.hasPrefix("catalog.sqlite") }.sorted()
        }
    }

    @Test func corruptArchivesAreRefusedAndNothingChanges() async throws {
        let store = try TestStore()
        let job = try store.backup()
        let good = try Data(contentsOf: URL(fileURLWithPath: job.path!))
        var flipped = good
        flipped[good.count / 3] ^= 0x40
        var badManifest = good
        if let range = badManifest.range(of: Data("\"imageSha256\"".utf8)) { badManifest[range.upperBound + 5] ^= 0x01 }
        let cases: [(String, Data, String)] = [
            ("bit flip in the database entry", flipped, "damaged"),
            ("truncated", good.prefix(good.count - 100), "refused"),
            ("not a zip", Data("hello, this is not an archive".utf8), "refused"),
            ("manifest edited", badManifest, "refused"),
        ]
        try store.setMarker("live data")
        let before = try StoreState(store)
        try await store.run { http in
            for (name, body, _) in cases {
                let auditBefore = try store.auditRows().count
                let response = try await http.request("POST", "/api/v1/restores/upload?confirm=true", token: Tokens.admin,
                                                      body: .data(body, contentType: "application/zip"))
                #expect(response.status == 422, "\(name): \(response.status) \(response.text)")
                #expect(response.errorCode == "archive_refused", "\(name)")
                let message = response.errorMessage ?? ""
                #expect(message.contains("nothing was changed"), "\(name): \(message)")
                #expect(try StoreState(store) == before, "\(name) changed something")
                // Exactly one audit row: the refused upload, with who and where from.
                let rows = try store.auditRows()
                #expect(rows.count == auditBefore + 1)
                #expect(rows.first?.action == "restore.upload" && rows.first?.outcome == "rejected")
                #expect(rows.first?.userId == "admin" && rows.first?.stationId == "office-pc" && rows.first?.client == "127.0.0.1")
            }
        }
        #expect(try store.marker() == "live data")
    }

    @Test func aValidUploadIsRestored() async throws {
        let store = try TestStore()
        let job = try store.backup()
        try store.setMarker("changed after the backup")
        // The archive comes from elsewhere: copied out, the backup forgotten by this catalog's files.
        let copy = store.dir.path("from-another-machine.zip")
        try FileManager.default.copyItem(atPath: job.path!, toPath: copy.path)
        try await store.run { http in
            let missingConfirmation = try await http.request("POST", "/api/v1/restores/upload", token: Tokens.admin,
                                                             body: .file(copy, contentType: "application/zip"))
            #expect(missingConfirmation.status == 400 && missingConfirmation.errorCode == "confirmation_required")

            let response = try await http.request("POST", "/api/v1/restores/upload?confirm=true", token: Tokens.admin,
                                                  body: .file(copy, contentType: "application/zip"))
            #expect(response.status == 202, "\(response.text)")
            let id = try #require(try response.json()["id"] as? Int)
            try await eventually { !store.server.coordinator.isBusy }
            let restore = try await http.get("/api/v1/restores/\(id)", token: Tokens.admin).decode(RestoreView.self)
            #expect(restore.status == .succeeded, "\(restore.error ?? "")")
        }
        #expect(try store.marker() == "original")
        // The uploaded file is gone once the restore has used it.
        let uploads = store.context.dataDirectory.root.appendingPathComponent("uploads")
        #expect((try? FileManager.default.contentsOfDirectory(atPath: uploads.path))?.isEmpty ?? true)
    }

    @Test func uploadsOverTheCapAreRefused() async throws {
        let store = try TestStore { $0.maxUploadBytes = 1000 }
        try await store.run { http in
            let response = try await http.request("POST", "/api/v1/restores/upload?confirm=true", token: Tokens.admin,
                                                  body: .data(Data(repeating: 7, count: 5000), contentType: "application/zip"))
            #expect(response.status == 413)
            #expect(response.errorCode == "payload_too_large")
            let empty = try await http.request("POST", "/api/v1/restores/upload?confirm=true", token: Tokens.admin,
                                               body: .data(Data(), contentType: "application/zip"))
            #expect(empty.status == 400)
        }
        #expect(try store.catalog.restoreJobs().isEmpty)
    }
}
