import BackupCore
import DemoStore
import Foundation
import Testing

@Suite("Hourly incrementals", .serialized)
struct IncrementalChainTests {
    @Test("A chain of 24 incrementals taken while the POS writes: every point restores to exactly its snapshot")
    func chainUnderLoad() throws {
        let store = try DemoFixture(sizeMB: 6)
        let simulator = try store.startSimulator(tps: 20)
        defer { stop(simulator) }
        try store.waitForSales(after: 0, count: 5)

        let full = try CLI.run(["backup", "--kind", "db-full", "--json"] + store.storeArguments).json(BackupRecord.self)
        #expect(full.status == .succeeded)
        var points = [full]
        for _ in 0..<24 {
            let base = store.ledgerCount()
            try store.waitForSales(after: base, count: 3)
            let result = try CLI.run(["backup", "--kind", "db-incremental", "--skip-integrity-check", "--json"] + store.storeArguments)
            #expect(result.status == 0, "\(result.stderr)")
            let job = try result.json(BackupRecord.self)
            // The first hourly starts the chain as a base holding every page; the others build on the previous one.
            #expect(job.kind == .dbIncremental && job.parentId == (points.count == 1 ? nil : points.last?.id))
            points.append(job)
        }
        stop(simulator)
        let ledger = try DemoSimulator.readLedger(store.layout.ledger)
        let fullSize = try #require(full.size)
        #expect(points.dropFirst(2).allSatisfy { ($0.size ?? .max) < fullSize / 2 }, "incrementals should be much smaller than the full")

        for job in points {
            let target = store.root.appendingPathComponent("point-\(job.id!).db")
            let restored = try CLI.run(["restore", "\(job.id!)", "--yes", "--json", "--pos-db", target.path, "--data-dir", store.dataDir.path])
            #expect(restored.status == 0, "\(restored.stderr)")
            #expect(try restored.json(RestoredRecord.self).restoredImageSha256 == job.imageSha256)
            let db = try SQLiteConnection(path: target.path, mode: .readOnly)
            #expect(try db.integrityProblems() == nil)
            #expect(try db.foreignKeyViolations() == 0)
            let present = Set(try db.rows("SELECT id FROM invoices").compactMap { $0[0].flatMap { Int64($0) } })
            let began = Int64(Timestamp.floorMillisecond(job.snapshotStartedAt!).timeIntervalSince1970 * 1e9) - 1_000_000
            let ended = Int64(Timestamp.ceilMillisecond(job.snapshotFinishedAt!).timeIntervalSince1970 * 1e9) + 1_000_000
            #expect(ledger.filter { $0.commitUnixNanos < began }.allSatisfy { present.contains($0.invoiceID) }, "point \(job.id!)")
            #expect(ledger.filter { $0.beginUnixNanos > ended }.allSatisfy { !present.contains($0.invoiceID) }, "point \(job.id!)")
            try? FileManager.default.removeItem(at: target)
        }

        // verify of the last point checks the whole chain, from its base.
        let verify = try CLI.run(["verify", "\(points.last!.id!)", "--json"] + store.storeArguments)
        #expect(verify.status == 0, "\(verify.stderr)")
        #expect(verify.stdout.contains(points[1].uuid))
    }

    @Test("A deleted or corrupted middle link: later points are refused naming it, and the next incremental starts a new chain")
    func brokenChain() throws {
        let store = try DemoFixture(sizeMB: 4)
        var points: [BackupRecord] = []
        for (i, kind) in ["db-full", "db-incremental", "db-incremental", "db-incremental"].enumerated() {
            _ = try CLI.run(["demo", "simulate", "--dir", store.layout.root.path, "--tps", "5000", "--count", "50", "--seed", "\(i + 10)"])
            points.append(try CLI.run(["backup", "--kind", kind, "--json", "--skip-integrity-check"] + store.storeArguments).json(BackupRecord.self))
        }
        let middle = points[2]
        var bytes = try Data(contentsOf: URL(fileURLWithPath: middle.path!))
        bytes[bytes.count / 3] ^= 0x04
        try bytes.write(to: URL(fileURLWithPath: middle.path!))

        let before = try sha256(store.layout.posDatabase)
        let refused = try CLI.run(["restore", "\(points[3].id!)", "--yes"] + store.storeArguments)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("needs backup \(middle.id!)"), "\(refused.stderr)")
        #expect(try sha256(store.layout.posDatabase) == before)
        // Points before the damage still restore.
        let earlier = store.root.appendingPathComponent("earlier.db")
        #expect(try CLI.run(["restore", "\(points[1].id!)", "--yes", "--pos-db", earlier.path, "--data-dir", store.dataDir.path]).status == 0)

        let next = try CLI.run(["backup", "--kind", "db-incremental", "--json"] + store.storeArguments).json(BackupRecord.self)
        #expect(next.status == .succeeded)
        #expect(next.kind == .dbIncremental && next.parentId == nil)
        let alerts = try store.catalog().alerts()
        #expect(alerts.contains { $0.kind == "broken-chain" })

        // With the middle archive gone instead, the refusal names it as missing.
        try FileManager.default.removeItem(at: URL(fileURLWithPath: middle.path!))
        let missing = try CLI.run(["restore", "\(points[3].id!)", "--yes"] + store.storeArguments)
        #expect(missing.status == 1 && missing.stderr.contains("needs backup \(middle.id!)") && missing.stderr.contains("missing"), "\(missing.stderr)")
    }
}
