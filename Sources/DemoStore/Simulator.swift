import Dispatch
import Foundation
import GRDB

public struct DemoSimulationOptions: Sendable {
    /// The store's `pos.db`.
    public var database: URL
    /// Target transactions per second (sales and back-office work together).
    public var tps: Double
    public var seed: UInt64
    /// Where committed sales are recorded; appended to, never truncated.
    public var ledger: URL
    /// Stop after this many seconds.
    public var duration: Double?
    /// Stop after this many committed sales, i.e. ledger lines. The occasional price changes
    /// and vendor bills in between are extra transactions and do not count.
    public var transactionCount: Int?
    /// How long a transaction waits for a lock held by another process (backup, restore)
    /// before it is counted as a busy failure and skipped.
    public var busyTimeout: Double

    /// Options for the store in `dir` (see ``DemoStoreLayout``); the ledger defaults to `dir/ledger.tsv`.
    public init(
        dir: URL, tps: Double = 20, seed: UInt64 = 1, ledger: URL? = nil, duration: Double? = nil,
        transactionCount: Int? = nil, busyTimeout: Double = 5
    ) {
        let layout = DemoStoreLayout(root: dir)
        self.database = layout.posDatabase
        self.tps = tps
        self.seed = seed
        self.ledger = ledger ?? layout.ledger
        self.duration = duration
        self.transactionCount = transactionCount
        self.busyTimeout = busyTimeout
    }
}

public struct DemoSimulationSummary: Codable, Sendable {
    /// Committed transactions of every kind.
    public var transactions: Int
    public var sales: Int
    public var priceChanges: Int
    public var apBills: Int
    public var apPayments: Int
    /// Transactions abandoned because the database stayed locked past the busy timeout.
    public var busyFailures: Int
    /// Transactions that failed for any other reason (e.g. the schema vanished mid-restore).
    public var otherFailures: Int
    public var lastError: String?
    public var elapsedSeconds: Double
    public var targetTPS: Double
    public var achievedTPS: Double
    /// BEGIN IMMEDIATE to COMMIT of committed transactions, monotonic clock, including lock waits.
    public var latencyMs: LatencySummary
    public var ledger: String
    /// `stopped`, `duration` or `count`.
    public var endedBy: String
}

/// Plays an active POS against a store: short write transactions at a steady rate, mostly
/// sales, now and then a price change (≈2 %) or a vendor bill (≈1 %).
///
/// `run()` blocks the calling thread until the duration or transaction count is reached, or
/// until `stop()` is called from any thread (e.g. a SIGTERM handler); it returns within ~50 ms of
/// `stop()`, even while waiting for a lock.
public final class DemoSimulator: Sendable {
    public let options: DemoSimulationOptions
    private let stopSignal = StopSignal()

    public init(_ options: DemoSimulationOptions) {
        self.options = options
    }

    /// Asks `run()` to finish after the current transaction. Safe from any thread, idempotent.
    public func stop() { stopSignal.stop() }

    public var isStopping: Bool { stopSignal.isStopped }

    public func run() throws -> DemoSimulationSummary {
        guard options.tps > 0 else { throw DemoStoreError.invalidOption("tps must be positive") }
        guard FileManager.default.fileExists(atPath: options.database.path) else {
            throw DemoStoreError.notAStore("\(options.database.path) does not exist; run `caps-backup demo seed` first")
        }
        var configuration = Configuration()
        configuration.busyMode = .callback(Self.busyHandler(timeout: options.busyTimeout, stop: stopSignal))
        let queue = try DatabaseQueue(path: options.database.path, configuration: configuration)
        let hasInvoices = try queue.read { try $0.tableExists("invoices") && $0.tableExists("products") }
        guard hasInvoices else { throw DemoStoreError.notAStore("\(options.database.path) is not a demo POS database") }
        let ledger = try LedgerWriter(url: options.ledger)

        var rng = SplitMix64(seed: options.seed, stream: 10)
        var tally = Tally()
        let interval = UInt64(1e9 / options.tps)
        let start = Clock.monotonicNanos()
        let end = options.duration.map { start + UInt64($0 * 1e9) }
        var next = start
        var endedBy = "stopped"

        try queue.writeWithoutTransaction { db in
            let work = StoreTransactions(db: db)
            while true {
                if let limit = options.transactionCount, tally.sales >= limit { endedBy = "count"; break }
                // Pace on a fixed schedule; after a long lock wait, resume the schedule from now
                // instead of bursting to catch up.
                let now = Clock.monotonicNanos()
                if now > next + 1_000_000_000 { next = now }
                if let end, next >= end { endedBy = "duration"; break }
                if next > now, stopSignal.sleep(nanoseconds: next - now) { break }
                if stopSignal.isStopped { break }
                next += interval

                let kind = rng.weightedIndex([97, 2, 1])
                let beginWall = Clock.realtimeNanos()
                let beginMono = Clock.monotonicNanos()
                do {
                    try db.execute(sql: "BEGIN IMMEDIATE")
                    let stamp = Timestamp.localDateTime(unixNanos: beginWall)
                    var invoice: Int64?
                    var paidBill = false
                    switch kind {
                    case 0: invoice = try work.sale(&rng, now: stamp)
                    case 1: try work.priceChange(&rng, now: stamp)
                    default:
                        let today = CivilDay(local: Date())
                        paidBill = try work.apBill(&rng, now: stamp, today: Timestamp.date(today),
                                                   due: Timestamp.date(today.adding(days: 30)))
                    }
                    try db.execute(sql: "COMMIT")
                    let commitWall = Clock.realtimeNanos()
                    tally.latencies.append(Clock.monotonicNanos() - beginMono)
                    if let invoice {
                        try ledger.append(LedgerEntry(invoiceID: invoice, beginUnixNanos: beginWall, commitUnixNanos: commitWall))
                    }
                    tally.count(kind: kind, paidBill: paidBill)
                } catch let error as DatabaseError {
                    if db.isInsideTransaction { try? db.execute(sql: "ROLLBACK") }
                    if stopSignal.isStopped { break }  // the busy handler gave up because we are stopping
                    if error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED {
                        tally.busyFailures += 1
                    } else {
                        tally.otherFailures += 1
                    }
                    tally.lastError = "\(error)"
                } catch let error as DemoStoreError {
                    // E.g. a restore replaced the database with one that has no products yet.
                    if db.isInsideTransaction { try? db.execute(sql: "ROLLBACK") }
                    tally.otherFailures += 1
                    tally.lastError = error.description
                }
            }
        }

        let elapsed = Double(Clock.monotonicNanos() - start) / 1e9
        return DemoSimulationSummary(
            transactions: tally.latencies.count, sales: tally.sales, priceChanges: tally.priceChanges,
            apBills: tally.apBills, apPayments: tally.apPayments, busyFailures: tally.busyFailures,
            otherFailures: tally.otherFailures, lastError: tally.lastError, elapsedSeconds: elapsed,
            targetTPS: options.tps, achievedTPS: elapsed > 0 ? Double(tally.latencies.count) / elapsed : 0,
            latencyMs: LatencySummary(nanoseconds: tally.latencies), ledger: options.ledger.path, endedBy: endedBy)
    }

    private struct Tally {
        var sales = 0, priceChanges = 0, apBills = 0, apPayments = 0
        var busyFailures = 0, otherFailures = 0
        var lastError: String?
        var latencies: [UInt64] = []

        mutating func count(kind: Int, paidBill: Bool) {
            switch kind {
            case 0: sales += 1
            case 1: priceChanges += 1
            default: apBills += 1; if paidBill { apPayments += 1 }
            }
        }
    }

    /// SQLite's busy timeout, rebuilt so that it also gives up as soon as the simulator is
    /// asked to stop: the same back-off SQLite uses, capped at 50 ms per sleep.
    static func busyHandler(timeout: Double, stop: StopSignal) -> Database.BusyCallback {
        let delays: [Int] = [1, 2, 5, 10, 15, 20, 25, 25, 25, 50]  // milliseconds
        let timeoutMs = Int(timeout * 1000)
        return { tries in
            if stop.isStopped { return false }
            let waited = tries < delays.count
                ? delays.prefix(tries).reduce(0, +)
                : delays.reduce(0, +) + (tries - delays.count) * 50
            guard waited < timeoutMs else { return false }
            let delay = min(tries < delays.count ? delays[tries] : 50, timeoutMs - waited)
            return !stop.sleep(nanoseconds: UInt64(delay) * 1_000_000)
        }
    }
}

/// A stop request that wakes a sleeping simulator immediately.
final class StopSignal: @unchecked Sendable {
    // @unchecked: `stopped` is only touched under `lock`; DispatchSemaphore is thread-safe.
    private let lock = NSLock()
    private var stopped = false
    private let wake = DispatchSemaphore(value: 0)

    var isStopped: Bool { lock.withLock { stopped } }

    func stop() {
        let first = lock.withLock { () -> Bool in
            defer { stopped = true }
            return !stopped
        }
        if first { wake.signal() }
    }

    /// Sleeps for up to `nanoseconds`; returns true (early) if a stop was requested.
    func sleep(nanoseconds: UInt64) -> Bool {
        if isStopped { return true }
        if wake.wait(timeout: .now() + .nanoseconds(Int(min(nanoseconds, UInt64(Int.max))))) == .success {
            wake.signal()  // leave the wake-up for any other sleeper (the busy handler, the pacer)
        }
        return isStopped
    }
}
