import BackupCore
import Destinations
import FakeGoogle
import Foundation
import Testing

/// A store whose off-site destination is Google Drive (the fake), recorded in the catalog as it is connected.
func driveStore(_ store: Store, _ google: FakeGoogle, _ url: URL, tokens: TestTokens? = nil) throws -> (drive: GoogleDriveDestination, tokens: TestTokens) {
    try store.context.catalog.save(DestinationRecord(name: "google-drive", kinds: BackupKind.allCases, createdAt: Date()))
    let tokens = tokens ?? TestTokens(google)
    return (GoogleDriveDestination(config: driveConfig(url), storeName: "store", tokens: tokens), tokens)
}

func fullBackup(_ store: Store) throws -> BackupRecord {
    try DatabaseBackupJob(context: store.context, kind: .dbFull).run(trigger: .manual, integrityCheck: false)
}

@Suite("Off-site: failures that stop uploads, reconcile, remote retention, deletion, restore from Drive")
struct OffsiteDriveTests {
    @Test("a revoked grant or a full quota disables Drive, raises exactly one alert, and leaves local backups restorable",
          arguments: [true, false])
    func refusalDisables(revoked: Bool) async throws {
        let store = try Store()
        defer { store.remove() }
        let google = FakeGoogle()
        try await google.serving { url in
            let (drive, tokens) = try driveStore(store, google, url)
            let first = try fullBackup(store)
            let second = try fullBackup(store)
            if revoked { tokens.revoke() } else { google.drive.setQuotaExceeded(true) }
            let copier = OffsiteCopier(context: store.context, destination: RetryingDestination(drive, sleep: { _ in }))
            let tried = try await copier.copyPending()
            #expect(tried.map(\.status) == [.pending], "the run stops at the first refusal")
            let record = try #require(try store.context.catalog.destination(named: "google-drive"))
            #expect(!record.enabled && record.disabledReason != nil)
            #expect(try await copier.copyPending().isEmpty, "a disabled destination is not tried again")
            let alerts = try store.context.catalog.alerts()
            #expect(alerts.count == 1 && alerts.first?.count == 1)
            #expect(alerts.first?.message.hasPrefix(revoked ? "Google Drive is disconnected: reconnect it on the dashboard"
                                                           : "Google Drive's storage quota is full") == true)
            #expect(try store.context.catalog.pendingCopies(to: "google-drive").count == 2)
            for job in [first, second] {
                #expect(FileManager.default.fileExists(atPath: job.path!))
                #expect(try store.context.catalog.job(id: job.id!)?.status == .succeeded)
            }
            let context = store.context
            let restore = try await onJobThread { try DatabaseRestoreJob(context: context).run(.backup(second), preRestoreSnapshot: false) }
            #expect(restore.status == .succeeded)
        }
    }

    @Test("the same with any destination: a quota refusal from memory disables it once")
    func refusalDisablesAnyDestination() async throws {
        let store = try Store()
        defer { store.remove() }
        try store.context.catalog.save(DestinationRecord(name: "memory", kinds: BackupKind.allCases, createdAt: Date()))
        _ = try fullBackup(store)
        _ = try fullBackup(store)
        let flaky = Flaky(InMemoryDestination(), failures: 10, error: DestinationError(.quotaExceeded, "full"))
        _ = try await OffsiteCopier(context: store.context, destination: flaky).copyPending()
        _ = try await OffsiteCopier(context: store.context, destination: flaky).copyPending()
        #expect(flaky.calls == 1)
        #expect(try store.context.catalog.alerts().map(\.kind) == ["offsite-quota"])
    }

    @Test("the outbox takes the kinds the uploads settings name: hourlies only when switched on")
    func outboxHonoursSettings() throws {
        let store = try Store()
        defer { store.remove() }
        try store.context.catalog.save(DestinationRecord(name: "memory", kinds: BackupKind.allCases, createdAt: Date()))
        let hourly = try DatabaseBackupJob(context: store.context, kind: .dbIncremental).run(trigger: .manual, integrityCheck: false)
        #expect(try store.context.catalog.offsiteCopies(of: hourly.id!).isEmpty)
        var settings = try SettingsStore(catalog: store.context.catalog).load()
        settings.uploads.dbIncremental = true
        settings.uploads.dbFull = false
        try SettingsStore(catalog: store.context.catalog).save(settings)
        let next = try DatabaseBackupJob(context: store.context, kind: .dbIncremental).run(trigger: .manual, integrityCheck: false)
        #expect(try store.context.catalog.offsiteCopies(of: next.id!).count == 1)
        #expect(try store.context.catalog.offsiteCopies(of: try fullBackup(store).id!).isEmpty)
        settings.retention.remoteKeep = 0
        #expect(throws: SettingsValidationError.self) { try SettingsStore(catalog: store.context.catalog).save(settings) }
    }

    @Test("reconcile finds a remote-only file, a local-only record and a size mismatch, with duplicate names present")
    func reconcile() async throws {
        let store = try Store()
        defer { store.remove() }
        let google = FakeGoogle()
        try await google.serving { url in
            let (drive, _) = try driveStore(store, google, url)
            let (a, b, c) = (try fullBackup(store), try fullBackup(store), try fullBackup(store))
            let copies = try await OffsiteCopier(context: store.context, destination: drive).copyPending()
            #expect(copies.map(\.status) == [.uploaded, .uploaded, .uploaded])
            let remoteA = copies[0].remoteId!, remoteB = copies[1].remoteId!, remoteC = copies[2].remoteId!
            let storedA = try #require(google.drive.storedFiles().first { $0.id == remoteA })
            // Two more files under A's very name: one no catalog knows, one a second copy of A.
            let stranger = google.drive.insertFile(name: storedA.name, parent: storedA.parents[0], bytes: [1, 2, 3],
                                                   appProperties: ["backupId": "from-another-install", "capsName": "db-full/\(storedA.name)"],
                                                   account: "store@example.com")
            let twin = google.drive.insertFile(name: storedA.name, parent: storedA.parents[0], bytes: [4, 5],
                                               appProperties: ["backupId": a.uuid, "capsName": "db-full/\(storedA.name)"], account: "store@example.com")
            try await drive.delete(remoteB)
            google.drive.replaceContent(of: remoteC, with: [9, 9, 9])

            let report = try await Reconciler(context: store.context, destination: drive).reconcile()
            #expect(report.matched.map(\.remoteId) == [remoteA])
            #expect(report.localOnly.map(\.catalogId) == [b.id])
            #expect(report.mismatched.map(\.remoteId) == [remoteC] && report.mismatched.first?.size == 3)
            #expect(Set(report.remoteOnly.compactMap(\.remoteId)) == [stranger, twin])
            #expect(report.remoteOnly.first { $0.remoteId == twin }?.catalogId == a.id)
            let catalog = store.context.catalog
            #expect(try catalog.offsiteCopies(of: a.id!).first?.status == .uploaded)
            #expect(try catalog.offsiteCopies(of: b.id!).first?.status == .pending, "a lost copy goes back to the outbox")
            #expect(try catalog.offsiteCopies(of: c.id!).first?.status == .pending)
            // Uploaded again, both match on the next reconcile.
            _ = try await OffsiteCopier(context: store.context, destination: drive).copyPending()
            let again = try await Reconciler(context: store.context, destination: drive).reconcile()
            #expect(again.matched.count == 3 && again.localOnly.isEmpty && again.mismatched.isEmpty)
            #expect(again.remoteOnly.count == 3, "C's differing copy is left for a person to look at")
        }
    }

    @Test("remote retention keeps exactly N per kind, never a base a kept incremental needs, and records every deletion")
    func remoteRetention() async throws {
        let store = try Store()
        defer { store.remove() }
        var settings = BackupSettings()
        settings.uploads.dbIncremental = true
        try SettingsStore(catalog: store.context.catalog).save(settings)
        try store.context.catalog.save(DestinationRecord(name: "memory", kinds: BackupKind.allCases, createdAt: Date()))
        let memory = InMemoryDestination()
        let fulls = try (0..<4).map { _ in try fullBackup(store) }
        let chain = try (0..<3).map { _ in try DatabaseBackupJob(context: store.context, kind: .dbIncremental).run(trigger: .manual, integrityCheck: false) }
        #expect(chain[2].parentId == chain[1].id && chain[1].parentId == chain[0].id)
        _ = try await OffsiteCopier(context: store.context, destination: memory).copyPending()

        let deletions = try await RemoteRetention(context: store.context, destination: memory, keep: 2).apply()
        #expect(Set(deletions.map(\.jobId)) == Set(fulls.prefix(2).map(\.id!)))
        #expect(deletions.allSatisfy { $0.deleted })
        for job in fulls.prefix(2) {
            let copy = try #require(try store.context.catalog.offsiteCopies(of: job.id!).first)
            #expect(copy.status == .deleted && copy.deletedAt != nil)
            #expect(try await memory.stat(copy.remoteId!) == nil)
        }
        let remaining = try await memory.list(prefix: "")
        #expect(remaining.filter { $0.metadata["kind"] == "db-full" }.count == 2)
        #expect(remaining.filter { $0.metadata["kind"] == "db-incremental" }.count == 3, "the chain's base stays with its links")
        #expect(try await RemoteRetention(context: store.context, destination: memory, keep: 2).apply().isEmpty)
        #expect(try await RemoteRetention(context: store.context, destination: memory, keep: 0).apply().count == 1,
                "keep 0 still keeps the newest full")
    }

    @Test("deleting a backup deletes its remote copy and says so; a refusing destination is reported, the local deletion stands")
    func deletionReachesRemote() async throws {
        let store = try Store()
        defer { store.remove() }
        try store.context.catalog.save(DestinationRecord(name: "memory", kinds: BackupKind.allCases, createdAt: Date()))
        let memory = InMemoryDestination()
        let (first, second) = (try fullBackup(store), try fullBackup(store))
        let copies = try await OffsiteCopier(context: store.context, destination: memory).copyPending()
        var context = store.context
        context.offsite = [memory]
        let done = try await BackupDeletion(context: context).deleteEverywhere(first, reason: "user:admin")
        #expect(done.backup.status == .deleted && done.remote.map(\.deleted) == [true])
        #expect(done.summary.contains("and its copy on"))
        #expect(try await memory.stat(copies[0].remoteId!) == nil)

        context.offsite = [Flaky(memory, failures: 10, error: DestinationError(.transient(retryAfter: nil), "Drive is down"))]
        let partial = try await BackupDeletion(context: context).deleteEverywhere(second, reason: "user:admin")
        #expect(partial.backup.status == .deleted && !FileManager.default.fileExists(atPath: second.path!))
        #expect(partial.remote.map(\.deleted) == [false] && partial.summary.contains("could not be deleted: Drive is down"))
        #expect(try store.context.catalog.offsiteCopies(of: second.id!).first?.status == .uploaded)
    }

    @Test("a backup whose archive is gone from this disk is restored from its Google Drive copy, byte for byte")
    func restoreFromDrive() async throws {
        let store = try Store()
        defer { store.remove() }
        let google = FakeGoogle()
        try await google.serving { url in
            let (drive, _) = try driveStore(store, google, url)
            let full = try fullBackup(store)
            let expected = try store.sales()
            let original = try Data(contentsOf: URL(fileURLWithPath: full.path!))
            let copied = try await OffsiteCopier(context: store.context, destination: drive).copyPending()
            #expect(copied.first?.status == .uploaded && copied.first?.remoteChecksum == Checksum(.sha256, full.sha256!))
            try FileManager.default.removeItem(atPath: full.path!)
            try SQLiteConnection(path: store.context.posDatabase!.path, mode: .readWrite).execute("DELETE FROM sale")
            var withRemote = store.context
            withRemote.offsite = [RetryingDestination(drive, sleep: { _ in })]
            let context = withRemote
            let scratch = store.root.appendingPathComponent("fetched")
            let fetched = try await onJobThread { try context.archiveStore.archive(of: full, scratch: scratch) }
            #expect(try Data(contentsOf: fetched) == original)
            let restore = try await onJobThread { try DatabaseRestoreJob(context: context).run(.backup(full), preRestoreSnapshot: false) }
            #expect(restore.status == .succeeded && restore.restoredImageSha256 == full.imageSha256)
            #expect(try store.sales() == expected)
        }
    }
}
