import Dispatch
import Foundation
import GRDB
import Testing
@testable import DemoStore

@Suite struct SimulatorTests {
    @Test func writesOneLedgerLinePerCommittedSale() throws {
        let store = try TemporaryStore(sizeMB: 2)
        let ledger = store.dir.appendingPathComponent("run.tsv")
        let before = try store.database().read { try Int.fetchOne($0, sql: "SELECT max(id) FROM invoices")! }
        let started = Clock.realtimeNanos()
        let summary = try DemoSimulator(DemoSimulationOptions(
            dir: store.dir, tps: 2000, seed: 7, ledger: ledger, transactionCount: 50)).run()
        let finished = Clock.realtimeNanos()

        #expect(summary.sales == 50)
        #expect(summary.endedBy == "count")
        #expect(summary.busyFailures == 0 && summary.otherFailures == 0)
        #expect(summary.transactions == summary.sales + summary.priceChanges + summary.apBills)
        #expect(summary.latencyMs.count == summary.transactions)
        let entries = try DemoSimulator.readLedger(ledger)
        #expect(entries.count == 50)
        #expect(entries.allSatisfy { started <= $0.beginUnixNanos && $0.beginUnixNanos <= $0.commitUnixNanos && $0.commitUnixNanos <= finished })
        #expect(zip(entries, entries.dropFirst()).allSatisfy { $0.commitUnixNanos <= $1.beginUnixNanos && $0.invoiceID < $1.invoiceID })
        #expect(entries.first!.invoiceID == Int64(before + 1))

        try store.database().read { (db) throws in
            #expect(try inconsistentInvoices(db, entries.map(\.invoiceID)) == [])
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM invoices WHERE id > ?", arguments: [before]) == 50)
            #expect(try Row.fetchAll(db, sql: "PRAGMA foreign_key_check").isEmpty)
            #expect(try String.fetchAll(db, sql: "PRAGMA integrity_check") == ["ok"])
        }
    }

    @Test func countsLockTimeoutsAndCarriesOn() throws {
        let store = try TemporaryStore(sizeMB: 1)
        let ledger = store.dir.appendingPathComponent("busy.tsv")
        let summary = try store.database().writeWithoutTransaction { db in
            // Another process holds the write lock for the whole run.
            try db.execute(sql: "BEGIN IMMEDIATE")
            defer { try? db.execute(sql: "ROLLBACK") }
            return try DemoSimulator(DemoSimulationOptions(
                dir: store.dir, tps: 40, ledger: ledger, duration: 0.3, busyTimeout: 0.02)).run()
        }
        #expect(summary.busyFailures >= 3)
        #expect(summary.transactions == 0)
        #expect(summary.endedBy == "duration")
        #expect(try DemoSimulator.readLedger(ledger).isEmpty)
    }

    @Test func stopEndsARunBlockedOnALock() throws {
        let store = try TemporaryStore(sizeMB: 1)
        let simulator = DemoSimulator(DemoSimulationOptions(dir: store.dir, ledger: store.dir.appendingPathComponent("stop.tsv")))
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var summary: DemoSimulationSummary?
        try store.database().writeWithoutTransaction { db in
            try db.execute(sql: "BEGIN IMMEDIATE")
            DispatchQueue.global().async {
                summary = try? simulator.run()
                done.signal()
            }
            simulator.stop()
            #expect(done.wait(timeout: .now() + 1) == .success)
            try db.execute(sql: "ROLLBACK")
        }
        #expect(summary?.transactions == 0)
        #expect(summary?.busyFailures == 0)
        #expect(summary?.endedBy == "stopped")
    }

    @Test func survivesTheDatabaseBeingReplacedUnderneath() throws {
        let store = try TemporaryStore(sizeMB: 2)
        let pristine = try DatabaseQueue(path: store.dir.appendingPathComponent("pristine.db").path)
        try store.database().backup(to: pristine)
        let pristineMax = try pristine.read { try Int64.fetchOne($0, sql: "SELECT max(id) FROM invoices")! }
        let ledger = store.dir.appendingPathComponent("restore.tsv")
        let simulator = DemoSimulator(DemoSimulationOptions(dir: store.dir, tps: 500, seed: 3, ledger: ledger, duration: 30))
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var outcome: Result<DemoSimulationSummary, any Error>?
        DispatchQueue.global().async {
            outcome = Result { try simulator.run() }
            done.signal()
        }
        defer { simulator.stop() }
        func waitForLedger(_ lines: Int) -> Int {
            var count = 0
            while count < lines && !simulator.isStopping {
                count = (try? DemoSimulator.readLedger(ledger).count) ?? 0
                usleep(1_000)
            }
            return count
        }
        // Once some sales are in, restore the pristine copy the way a restore would: one
        // online-backup step into the live database. Then let the simulator sell on.
        _ = waitForLedger(40)
        try pristine.backup(to: store.database())
        let restored = try DemoSimulator.readLedger(ledger).count
        _ = waitForLedger(restored + 40)
        simulator.stop()
        #expect(done.wait(timeout: .now() + 5) == .success)

        let summary = try #require(try outcome?.get())
        #expect(summary.endedBy == "stopped")
        #expect(summary.otherFailures == 0)
        let entries = try DemoSimulator.readLedger(ledger)
        #expect(entries.count == summary.sales)
        // Ids went backwards once: the sales after the restore reuse the ids of those it undid.
        let backwards = entries.indices.dropLast().filter { entries[$0].invoiceID >= entries[$0 + 1].invoiceID }
        #expect(backwards.count == 1)
        let restartAt = try #require(backwards.first)
        let after = entries[(restartAt + 1)...]
        #expect(after.count >= 30)
        try store.database().read { (db) throws in
            #expect(after.first!.invoiceID == pristineMax + 1)
            #expect(try inconsistentInvoices(db, after.map(\.invoiceID)) == [])
            #expect(try Int64.fetchOne(db, sql: "SELECT max(id) FROM invoices") == after.last!.invoiceID)
            #expect(try Row.fetchAll(db, sql: "PRAGMA foreign_key_check").isEmpty)
            #expect(try String.fetchAll(db, sql: "PRAGMA integrity_check") == ["ok"])
        }
    }

    @Test func busyHandlerWaitsUpToTheTimeoutAndStopsOnRequest() {
        let signal = StopSignal()
        let handler = DemoSimulator.busyHandler(timeout: 0.01, stop: signal)
        #expect(handler(0) == true)    // waited 0 ms: sleep 1 ms and retry
        #expect(handler(3) == true)    // waited 8 ms: sleep the last 2 ms
        #expect(handler(4) == false)   // waited 18 ms: give up
        let patient = DemoSimulator.busyHandler(timeout: 5, stop: signal)
        #expect(patient(1) == true)
        signal.stop()
        #expect(patient(1) == false)
    }

    @Test func stopWakesASleeper() {
        let signal = StopSignal()
        let start = Clock.monotonicNanos()
        DispatchQueue.global().async { signal.stop() }
        #expect(signal.sleep(nanoseconds: 10_000_000_000))
        #expect(Clock.monotonicNanos() - start < 1_000_000_000)
        #expect(signal.sleep(nanoseconds: 10_000_000_000))  // stays stopped
    }
}

@Suite struct LedgerTests {
    @Test func toleratesATornLastLine() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-\(UUID().uuidString).tsv")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data("1\t100\t200\n2\t300\t400\n3\t50".utf8).write(to: url)
        #expect(try DemoSimulator.readLedger(url) == [
            LedgerEntry(invoiceID: 1, beginUnixNanos: 100, commitUnixNanos: 200),
            LedgerEntry(invoiceID: 2, beginUnixNanos: 300, commitUnixNanos: 400),
        ])
        try Data("1\t100\t200\nbogus\n2\t300\t400\n".utf8).write(to: url)
        #expect(throws: DemoStoreError.self) { try DemoSimulator.readLedger(url) }
        try Data().write(to: url)
        #expect(try DemoSimulator.readLedger(url).isEmpty)
    }

    @Test func writerAppendsAcrossRuns() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-\(UUID().uuidString).tsv")
        defer { try? FileManager.default.removeItem(at: url) }
        try LedgerWriter(url: url).append(LedgerEntry(invoiceID: 7, beginUnixNanos: 1, commitUnixNanos: 2))
        try LedgerWriter(url: url).append(LedgerEntry(invoiceID: 8, beginUnixNanos: 3, commitUnixNanos: 4))
        #expect(try String(contentsOf: url, encoding: .utf8) == "7\t1\t2\n8\t3\t4\n")
    }
}
