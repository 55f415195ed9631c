import BackupCore
import DemoStore
import Foundation
import Testing

/// The product's central promise, shown with real processes: backups taken while the POS writes
/// restore to a sound database holding exactly the sales committed before the snapshot.
@Suite("Backups while the POS writes", .serialized)
struct ConsistencyUnderLoadTests {
    @Test("Five backups at 20 tps: each restores to a sound database holding every sale committed before its snapshot and none begun after")
    func backupsUnderLoad() throws {
        let store = try DemoFixture(sizeMB: 8)
        let simulator = try store.startSimulator(tps: 20)
        defer { stop(simulator) }
        try store.waitForSales(after: 0, count: 10)

        var jobs: [BackupRecord] = []
        for _ in 0..<5 {
            let base = store.ledgerCount()
            let result = try CLI.run(["backup", "--kind", "db-full", "--json"] + store.storeArguments)
            #expect(result.status == 0, "\(result.stderr)")
            let job = try result.json(BackupRecord.self)
            #expect(job.status == .succeeded)
            jobs.append(job)
            try store.waitForSales(after: base, count: 10)
        }
        stop(simulator)
        let ledger = try DemoSimulator.readLedger(store.layout.ledger)
        #expect(ledger.count >= 60)

        for job in jobs {
            // The manifest inside the archive, read with unzip: what any technician would see.
            let manifestJSON = try run("/usr/bin/unzip", ["-p", job.path!, "manifest.json"]).output
            let manifest = try Manifest.decode(Array(manifestJSON.utf8))
            let image = try #require(manifest.database)
            let began = Int64(image.snapshotStartedAt.timeIntervalSince1970 * 1e9)
            let ended = Int64(image.snapshotFinishedAt.timeIntervalSince1970 * 1e9)

            let target = store.root.appendingPathComponent("restored-\(job.id!).db")
            let restored = try CLI.run(["restore", "\(job.id!)", "--yes", "--json", "--pos-db", target.path, "--data-dir", store.dataDir.path])
            #expect(restored.status == 0, "\(restored.stderr)")
            #expect(try restored.json(RestoredRecord.self).restoredImageSha256 == image.imageSha256)

            let db = try SQLiteConnection(path: target.path, mode: .readOnly)
            #expect(try db.integrityProblems() == nil)
            #expect(try db.foreignKeyViolations() == 0)
            let present = Set(try db.rows("SELECT id FROM invoices").compactMap { $0[0].flatMap { Int64($0) } })
            let committedBefore = ledger.filter { $0.commitUnixNanos < began }
            let begunAfter = ledger.filter { $0.beginUnixNanos > ended }
            #expect(!committedBefore.isEmpty)
            #expect(committedBefore.allSatisfy { present.contains($0.invoiceID) },
                    "backup \(job.id!) lacks sales committed before its snapshot")
            #expect(begunAfter.allSatisfy { !present.contains($0.invoiceID) },
                    "backup \(job.id!) holds sales begun after its snapshot")
        }
    }
}

struct RestoredRecord: Decodable {
    var status: String
    var restoredImageSha256: String?
}

/// Runs a program and returns its exit status and combined output.
@discardableResult
func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

func sha256(_ url: URL) throws -> String { try Checksums.sha256(of: url) }
