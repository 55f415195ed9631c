import BackupCore
import DemoStore
import Foundation
import Testing

/// `kill -9` at random points of real backup and restore processes.
@Suite("Crashes at random points", .serialized)
struct CrashTests {
    @Test("kill -9 of a backup, 12 times at random points: never a succeeded job without a verified archive; the next backup succeeds; leftovers are filed")
    func killBackups() throws {
        let store = try DemoFixture(sizeMB: 24)
        let simulator = try store.startSimulator(tps: 20)
        defer { stop(simulator) }
        try store.waitForSales(after: 0, count: 5)
        let arguments = ["backup", "--kind", "db-full", "--json"] + store.storeArguments

        // One complete run tells how many progress events a backup emits.
        let full = try runAndKill(arguments, killAfter: .max, jitterMicros: 0)
        #expect(!full.killed && full.events > 5)
        var random = SystemRandomNumberGenerator()
        var kills = 0
        for round in 0..<12 {
            // Within the first two thirds: the integrity check's events come four times a second, so a
            // run on a less busy machine emits fewer of them than the reference run did.
            let point = Int.random(in: 1...max(1, full.events * 2 / 3), using: &random)
            let jitter = UInt32.random(in: 0...(round % 3 == 0 ? 40_000 : 3_000), using: &random)
            if try runAndKill(arguments, killAfter: point, jitterMicros: jitter).killed { kills += 1 }
            try expectEverySucceededJobVerifies(store)
        }
        #expect(kills >= 10)

        let next = try CLI.run(arguments)
        #expect(next.status == 0, "\(next.stderr)")
        #expect(try next.json(BackupRecord.self).status == .succeeded)
        try expectEverySucceededJobVerifies(store)
        let catalog = try store.catalog()
        #expect(try catalog.runningJobs().isEmpty)
        let data = DataDirectory(store.dataDir)
        #expect(try FileManager.default.contentsOfDirectory(atPath: data.tmp.path).isEmpty)
        // A kill before the catalog recorded success leaves a failed job with its reason; one during the
        // integrity check that follows publication leaves a succeeded job (its archive verified above).
        let failed = try catalog.jobs(status: .failed)
        #expect(failed.allSatisfy { $0.error?.contains("Interrupted") == true })
        #expect(failed.count + (try catalog.jobs(status: .succeeded).count) == 14)
        // Every published archive belongs to a succeeded job; leftovers live only under failed/.
        let succeededPaths = Set(try catalog.jobs(status: .succeeded).compactMap(\.path))
        let published = try FileManager.default.contentsOfDirectory(atPath: data.archives(.dbFull).path).filter { $0.hasSuffix(".zip") }
        #expect(Set(published.map { data.archives(.dbFull).appendingPathComponent($0).path }) == succeededPaths)
    }

    @Test("kill -9 of a restore, 12 times at random points, while others read and write: the live database is always old or restored, and sound")
    func killRestores() throws {
        let store = try DemoFixture(sizeMB: 24)
        let live = store.layout.posDatabase
        try SQLiteConnection(path: live.path, mode: .readWrite).execute(
            "CREATE TABLE restore_marker(value TEXT); INSERT INTO restore_marker VALUES ('backup')")
        let backup = try CLI.run(["backup", "--kind", "db-full", "--json"] + store.storeArguments)
        let job = try backup.json(BackupRecord.self)
        #expect(job.status == .succeeded)

        let simulator = try store.startSimulator(tps: 20)
        defer { stop(simulator) }
        let reader = try ReaderProcess(database: live)
        defer { reader.stop() }
        try store.waitForSales(after: 0, count: 5)

        let arguments = ["restore", "\(job.id!)", "--yes"] + store.storeArguments
        let full = try runAndKill(arguments, killAfter: .max, jitterMicros: 0)
        #expect(!full.killed && full.events >= 6)
        var random = SystemRandomNumberGenerator()
        var outcomes: [String: Int] = [:]
        for round in 0..<12 {
            try SQLiteConnection(path: live.path, mode: .readWrite).execute("UPDATE restore_marker SET value = 'old'")
            let variant = round % 2 == 1 ? arguments + ["--no-pre-restore-snapshot"] : arguments
            if round % 3 == 0 {
                // Anywhere in the run.
                _ = try runAndKill(variant, killAfter: Int.random(in: 1...full.events, using: &random),
                                   jitterMicros: UInt32.random(in: 0...20_000, using: &random))
            } else {
                // Inside the single write transaction that swaps the content, or just around it.
                _ = try runAndKill(variant, killAfter: 1, atPhase: "apply", jitterMicros: UInt32.random(in: 0...80_000, using: &random))
            }

            let db = try SQLiteConnection(path: live.path, mode: .readOnly)
            #expect(try db.integrityProblems() == nil, "round \(round)")
            let value = try db.scalar("SELECT value FROM restore_marker") ?? "missing"
            #expect(value == "old" || value == "backup", "round \(round): marker \(value)")
            outcomes[value, default: 0] += 1
        }
        #expect(outcomes["old", default: 0] >= 1, "\(outcomes)")
        let reads = reader.stop()
        #expect(reads.errors == 0, "readers saw errors: \(reads.lastError)")
        #expect(reads.reads > 0)
        stop(simulator)
        #expect(simulator.terminationStatus == 0, "the POS simulator crashed during the restores")

        // The next command finds the interrupted restores and records them as failed.
        _ = try CLI.run(["list", "--restores"] + store.storeArguments)
        let catalog = try store.catalog()
        #expect(try catalog.runningRestores().isEmpty)
    }
}

/// Every job the catalog calls succeeded has its complete archive, which verifies.
func expectEverySucceededJobVerifies(_ store: DemoFixture, sourceLocation: SourceLocation = #_sourceLocation) throws {
    for job in try store.catalog().jobs(status: .succeeded) {
        let path = try #require(job.path, sourceLocation: sourceLocation)
        #expect(throws: Never.self, sourceLocation: sourceLocation) {
            _ = try ArchiveVerifier().verify(URL(fileURLWithPath: path), expectedSHA256: job.sha256)
        }
    }
}

/// Another program reading the POS database in a loop (Python's sqlite3), counting any error
/// other than "locked" — which a reader seeing a half-restored database would hit.
final class ReaderProcess {
    let process = Process()
    let output = Pipe()

    init(database: URL) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", """
            import sqlite3, signal, sys, json, time
            # Children of the test process inherit a blocked SIGTERM from its threads.
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM])
            stop = False
            def done(*_):
                global stop
                stop = True
            signal.signal(signal.SIGTERM, done)
            reads = errors = 0
            last = ""
            while not stop:
                try:
                    con = sqlite3.connect(sys.argv[1], timeout=10)
                    con.execute("BEGIN")
                    con.execute("SELECT count(*), max(id) FROM invoices").fetchone()
                    con.execute("SELECT value FROM restore_marker").fetchone()
                    con.execute("SELECT count(*) FROM invoice_lines").fetchone()
                    con.execute("COMMIT")
                    con.close()
                    reads += 1
                    time.sleep(0.002)
                except sqlite3.OperationalError as e:
                    if "locked" not in str(e) and "busy" not in str(e):
                        errors += 1; last = str(e)
                except Exception as e:
                    errors += 1; last = str(e)
            print(json.dumps({"reads": reads, "errors": errors, "last": last}))
            """, database.path]
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    @discardableResult
    func stop() -> (reads: Int, errors: Int, lastError: String) {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        return (json["reads"] as? Int ?? 0, json["errors"] as? Int ?? 0, json["last"] as? String ?? "")
    }
}
