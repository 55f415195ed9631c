import BackupCore
import Destinations
import FakeGoogle
import Foundation
@testable import Server
import Testing

/// Access tokens issued straight by the fake, for the old server that made the copies.
private struct IssuedTokens: GoogleAccessTokens {
    let google: FakeGoogle
    let account: String
    func accessToken(rejected: String?) async throws -> String { google.accessTokens.issue(account: account, scope: GoogleConfig.scope) }
}

@Suite("Fresh install from Google Drive: connect with the setup code, list the store's backups, restore one (R8)", .serialized)
struct SetupDriveTests {
    static let account = "store.owner@example.com"

    @Test("the wizard connects Drive with the setup code, lists the full backups only, refuses a damaged copy and restores a good one")
    func anEmptyStoreIsRestoredFromItsDriveCopy() async throws {
        let clock = DriveTestClock()
        let google = FakeGoogle(clock: { clock.now })
        try await google.serving { base in
            let config = {
                var config = driveConfiguration(base, client: FakeOAuth.deviceClient)
                config.storeName = "store-12"
                return config
            }()

            // The old server: two daily fulls and an hourly, copied to Drive; then the first copy is damaged there.
            let source = try TestStore(name: "source")
            let drive = GoogleDriveDestination(config: config, storeName: "store-12", tokens: IssuedTokens(google: google, account: Self.account))
            try source.catalog.save(DestinationRecord(name: drive.name, kinds: BackupKind.allCases, createdAt: Date()))
            var settings = BackupSettings()
            settings.uploads.dbIncremental = true
            try SettingsStore(catalog: source.catalog).save(settings)
            try source.setMarker("first")
            let damaged = try source.backup()
            try source.setMarker("from Google Drive")
            let good = try source.backup()
            let hourly = try DatabaseBackupJob(context: source.context, kind: .dbIncremental).run(trigger: .manual)
            let copies = try await OffsiteCopier(context: source.context, destination: drive).copyPending()
            #expect(copies.map(\.status) == [.uploaded, .uploaded, .uploaded])
            let damagedId = try #require(copies.first { $0.jobId == damaged.id }?.remoteId)
            let goodId = try #require(copies.first { $0.jobId == good.id }?.remoteId)
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: damaged.path!)))
            bytes[bytes.count / 2] ^= 0xFF
            google.drive.replaceContent(of: damagedId, with: bytes)

            // The new server: no POS data, the same OAuth client and store name in its config.
            let store = try TestStore(empty: true) {
                $0.google = config
                $0.driveDestination = { tokens in GoogleDriveDestination(config: config, storeName: "store-12", tokens: tokens) }
                $0.driveSleep = { seconds in
                    if let code = google.oauth.pendingUserCodes.first { google.oauth.approveDevice(userCode: code) }
                    clock.advance(seconds)
                }
            }
            let code = try SetupTests.code(store)
            let setup = ["X-Setup-Code": code]
            let uploads = ArchiveReceiver.directory(store.context)
            try await store.run { http in
                let notYet = try await http.request("GET", "/api/v1/setup/drive/backups", headers: setup)
                #expect(notYet.status == 409 && notYet.errorCode == "not_connected", "\(notYet.text)")
                #expect(try await http.request("GET", "/api/v1/setup/drive", headers: setup).json()["tokenState"] as? String == "not connected")
                #expect(try await http.request("GET", "/api/v1/setup/drive/backups", headers: ["X-Setup-Code": "AAAA-BBBB"]).status == 401)

                // Connect by the device flow, with the setup code for credentials.
                let started = try await http.request("POST", "/api/v1/setup/drive/connect", headers: setup,
                                                     body: .data(Data(#"{"flow":"device"}"#.utf8), contentType: "application/json"))
                #expect(started.status == 200, "\(started.text)")
                let connectId = try #require(try started.json()["connect_id"] as? String)
                try await eventually {
                    try await http.request("GET", "/api/v1/setup/drive/connect/\(connectId)", headers: setup).json()["state"] as? String != "pending"
                }
                let connected = try await http.request("GET", "/api/v1/setup/drive/connect/\(connectId)", headers: setup).json()
                #expect(connected["state"] as? String == "connected" && connected["account"] as? String == Self.account)

                // The store's folder: the two fulls, not the hourly (it needs its chain).
                let listed = try await http.request("GET", "/api/v1/setup/drive/backups", headers: setup)
                #expect(listed.status == 200, "\(listed.text)")
                let body = try listed.json()
                #expect(body["folder"] as? String == "CAPS Backups/store-12")
                let items = try #require(body["items"] as? [[String: Any]])
                #expect(Set(items.compactMap { $0["remoteId"] as? String }) == [damagedId, goodId])
                #expect(items.allSatisfy { $0["kind"] as? String == "db-full" && ($0["size"] as? Int ?? 0) > 0 })
                #expect(!items.contains { $0["backupId"] as? String == hourly.uuid })

                // A copy damaged on Drive is refused, and nothing changes.
                let refused = try await http.request("POST", "/api/v1/setup/drive/restore?confirm=true&remoteId=\(damagedId)", headers: setup)
                #expect(refused.status == 422 && refused.errorCode == "archive_refused", "\(refused.text)")
                #expect(!POSIXFile.exists(store.database))
                #expect(try store.catalog.restoreJobs().isEmpty)
                #expect(try FileManager.default.contentsOfDirectory(atPath: uploads.path).isEmpty)
                // An id outside the listing (the hourly), or none, or no confirmation.
                let hourlyId = try #require(copies.first { $0.jobId == hourly.id }?.remoteId)
                #expect(try await http.request("POST", "/api/v1/setup/drive/restore?confirm=true&remoteId=\(hourlyId)", headers: setup).status == 404)
                #expect(try await http.request("POST", "/api/v1/setup/drive/restore?confirm=true", headers: setup).status == 400)
                #expect(try await http.request("POST", "/api/v1/setup/drive/restore?remoteId=\(goodId)", headers: setup).status == 400)

                // The good copy: fetched, checked, restored; the store leaves setup mode.
                let restore = try await http.request("POST", "/api/v1/setup/drive/restore?confirm=true&remoteId=\(goodId)", headers: setup)
                #expect(restore.status == 202, "\(restore.text)")
                try await eventually { store.server.services.setup.setupRequired == false }
                #expect(try store.marker() == "from Google Drive")
                #expect(try FileManager.default.contentsOfDirectory(atPath: uploads.path).isEmpty)
                let again = try await http.request("POST", "/api/v1/setup/drive/restore?confirm=true&remoteId=\(goodId)", headers: setup)
                #expect(again.status == 401 && again.errorCode == "setup_done")
            }
            let audit = try store.auditRows()
            #expect(audit.contains { $0.action == "drive.connect" && $0.userId == "setup" && $0.outcome == "succeeded" })
            let restores = audit.filter { $0.action == "setup.restore.drive" }
            #expect(restores.map(\.outcome).contains("rejected") || restores.map(\.outcome).contains("failed"))
            #expect(audit.contains { $0.action == "restore" && $0.userId == "setup" && $0.outcome == "succeeded" })
        }
    }
}
