import BackupCore
import DemoStore
import Foundation
import Testing

/// A restore into the live database while the POS simulator (a real second process) keeps selling
/// (issue 15, part 4): the restore succeeds and says so, and the sales the POS commits after it are kept.
@Suite("Restores while the POS writes", .serialized)
struct RestoreUnderLoadTests {
    @Test("Restores into the live database at 20 tps all succeed; the sales after the last one are on top of the restored content")
    func restoreBesideThePOS() throws {
        let store = try DemoFixture(sizeMB: 8)
        let backup = try CLI.run(["backup", "--kind", "db-full", "--json"] + store.storeArguments)
        #expect(backup.status == 0, "\(backup.stderr)")
        let job = try backup.json(BackupRecord.self)
        // Nobody writes yet: the backup holds exactly the invoices up to this id.
        let lastBackedUp = try SQLiteConnection(path: store.layout.posDatabase.path, mode: .readOnly).integer("SELECT max(id) FROM invoices")

        let simulator = try store.startSimulator(tps: 20)
        defer { stop(simulator) }
        try store.waitForSales(after: 0, count: 10)
        var lastRestoreEnded = Int64(0)
        for round in 0..<4 {
            let base = store.ledgerCount()
            let restored = try CLI.run(["restore", "\(job.id!)", "--yes", "--json", "--no-pre-restore-snapshot"] + store.storeArguments)
            lastRestoreEnded = Int64(Date().timeIntervalSince1970 * 1e9)
            #expect(restored.status == 0, "round \(round): \(restored.stderr)")
            #expect(try restored.json(RestoredRecord.self).status == "succeeded", "round \(round)")
            try store.waitForSales(after: base, count: 5)  // the POS goes on selling on the restored database
        }
        try store.waitForSales(after: store.ledgerCount(), count: 5)
        stop(simulator)

        let restores = try store.catalog().restoreJobs(limit: 10)
        #expect(restores.count == 4 && restores.allSatisfy { $0.status == .succeeded }, "\(restores.map(\.status))")
        #expect(try store.catalog().alerts().isEmpty, "no alert for a restore that succeeded")
        let db = try SQLiteConnection(path: store.layout.posDatabase.path, mode: .readOnly)
        #expect(try db.integrityProblems() == nil)
        // Every sale begun after the last restore ended is in the live database, numbered after the backup's.
        let after = try DemoSimulator.readLedger(store.layout.ledger).filter { $0.beginUnixNanos > lastRestoreEnded }
        #expect(after.count >= 5)
        #expect(try db.integer("SELECT count(*) FROM invoices WHERE id > \(lastBackedUp)") >= after.count)
        #expect(after.allSatisfy { $0.invoiceID > Int64(lastBackedUp) })
    }
}
