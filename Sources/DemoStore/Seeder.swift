import Foundation
import GRDB

public struct DemoSeedOptions: Sendable {
    /// The store directory; created if missing.
    public var dir: URL
    /// Approximate size of `pos.db` in MiB (within ~15 %).
    public var sizeMB: Int
    /// Same seed (and end date), same store.
    public var seed: UInt64
    /// Number of product photos under `uploads/products`.
    public var images: Int
    /// The last day of history; `nil` means today (local time). Fix it to compare stores
    /// seeded on different days.
    public var endDate: Date?
    /// Replace the demo store files already in `dir` (database, uploads, config, ledger)
    /// instead of refusing to touch them.
    public var replaceExisting: Bool

    public init(
        dir: URL, sizeMB: Int = 20, seed: UInt64 = 1, images: Int = 300, endDate: Date? = nil,
        replaceExisting: Bool = false
    ) {
        self.dir = dir
        self.sizeMB = sizeMB
        self.seed = seed
        self.images = images
        self.endDate = endDate
        self.replaceExisting = replaceExisting
    }
}

public struct DemoSeedReport: Codable, Sendable {
    public var directory: String
    public var database: String
    public var databaseBytes: Int64
    public var targetBytes: Int64
    public var pageSize: Int
    public var journalMode: String
    /// Rows per table.
    public var rowCounts: [String: Int]
    /// First and last day of the sales history, `YYYY-MM-DD`.
    public var firstDay: String
    public var lastDay: String
    public var uploads: String
    public var imageCount: Int
    public var imageBytes: Int64
    public var swatchCount: Int
    public var configFiles: [String]
    public var ledger: String
    public var seed: UInt64
    public var databaseSeconds: Double
    public var elapsedSeconds: Double
}

public enum DemoStoreError: Error, CustomStringConvertible, Sendable {
    case storeExists(String)
    case invalidOption(String)
    case notAStore(String)
    case corruptLedger(line: Int, text: String)

    public var description: String {
        switch self {
        case .storeExists(let path):
            "\(path) already exists; choose an empty directory or pass --force to replace the demo store"
        case .invalidOption(let message): message
        case .notAStore(let message): message
        case .corruptLedger(let line, let text): "ledger line \(line) is malformed: \(text)"
        }
    }
}

/// Creates a realistic store directory for a paint & hardware POS: `pos.db`, `uploads/`, `config/`.
public enum DemoSeeder {
    /// The tables of `pos.db`, parents before children.
    public static var tableNames: [String] { Schema.tableNames }

    public static func seed(_ options: DemoSeedOptions) throws -> DemoSeedReport {
        guard options.sizeMB >= 1 else { throw DemoStoreError.invalidOption("size must be at least 1 MB") }
        guard options.images >= 0 else { throw DemoStoreError.invalidOption("images must not be negative") }
        let started = Clock.monotonicNanos()
        let layout = DemoStoreLayout(root: options.dir)
        try prepareDirectory(layout, replace: options.replaceExisting)

        let lastDay = CivilDay(local: options.endDate ?? Date())
        let firstDay = lastDay.subtracting(years: 3).adding(days: 1)
        let targetBytes = Int64(options.sizeMB) * 1_048_576
        var rng = SplitMix64(seed: options.seed, stream: 1)

        let productCount = ReferenceDataWriter.productCount(sizeMB: options.sizeMB)
        let plan = ImagePlan(images: options.images, products: productCount)
        let (counts, products) = try writeDatabase(
            layout.posDatabase, days: firstDay...lastDay, targetBytes: targetBytes, plan: plan, rng: &rng,
            sizeMB: options.sizeMB)
        let databaseSeconds = seconds(since: started)

        let uploads = try UploadsWriter(layout: layout, seed: options.seed).write(products: products, plan: plan)
        try ConfigFiles.write(to: layout, seed: options.seed)

        let attributes = try FileManager.default.attributesOfItem(atPath: layout.posDatabase.path)
        let (journalMode, pageSize) = try DatabaseQueue(path: layout.posDatabase.path).read { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "?", try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 0)
        }
        return DemoSeedReport(
            directory: layout.root.path, database: layout.posDatabase.path,
            databaseBytes: (attributes[.size] as? NSNumber)?.int64Value ?? 0, targetBytes: targetBytes,
            pageSize: pageSize, journalMode: journalMode, rowCounts: counts,
            firstDay: Timestamp.date(firstDay), lastDay: Timestamp.date(lastDay),
            uploads: layout.uploads.path, imageCount: uploads.images, imageBytes: uploads.imageBytes,
            swatchCount: uploads.swatches, configFiles: layout.configFiles.map(\.path), ledger: layout.ledger.path,
            seed: options.seed, databaseSeconds: databaseSeconds, elapsedSeconds: seconds(since: started))
    }

    private static func seconds(since start: UInt64) -> Double {
        Double(Clock.monotonicNanos() - start) / 1e9
    }

    private static func prepareDirectory(_ layout: DemoStoreLayout, replace: Bool) throws {
        let fm = FileManager.default
        try fm.createDirectory(at: layout.root, withIntermediateDirectories: true)
        let owned = [
            layout.posDatabase, URL(fileURLWithPath: layout.posDatabase.path + "-wal"),
            URL(fileURLWithPath: layout.posDatabase.path + "-shm"), URL(fileURLWithPath: layout.posDatabase.path + "-journal"),
            layout.uploads, layout.configDirectory, layout.ledger,
        ]
        for url in owned where fm.fileExists(atPath: url.path) {
            guard replace else { throw DemoStoreError.storeExists(url.path) }
            try fm.removeItem(at: url)
        }
    }

    /// Bulk-loads the database, then switches it to WAL like the live POS.
    private static func writeDatabase(
        _ url: URL, days: ClosedRange<CivilDay>, targetBytes: Int64, plan: ImagePlan, rng: inout SplitMix64, sizeMB: Int
    ) throws -> ([String: Int], [CatalogProduct]) {
        var configuration = Configuration()
        // Checked once at the end (tests run foreign_key_check); lines are written before their invoice.
        configuration.foreignKeysEnabled = false
        var result: ([String: Int], [CatalogProduct]) = ([:], [])
        do {
            let queue = try DatabaseQueue(path: url.path, configuration: configuration)
            try queue.writeWithoutTransaction { db in
                // A fresh file nobody else can see: no journal, no fsync, a big cache. Safe because a
                // failed seed is simply run again.
                try db.execute(sql: """
                    PRAGMA page_size = 4096; PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
                    PRAGMA locking_mode = EXCLUSIVE; PRAGMA cache_size = -262144;
                    """)
                try db.execute(sql: "BEGIN; \(Schema.tables) \(Schema.indexes) PRAGMA user_version = \(Schema.schemaVersion); COMMIT")

                try db.execute(sql: "BEGIN")
                var reference = ReferenceDataWriter(db: db, firstDay: days.lowerBound, counts: RowCounts())
                let model = try reference.write(sizeMB: sizeMB, images: plan, rng: &rng)
                try db.execute(sql: "COMMIT")

                var history = try SalesHistoryWriter(
                    db: db, days: days, targetPages: Int(targetBytes / 4096), model: model, rng: rng)
                try history.write()
                // SQLite's sorter is 2-3x slower with a big page cache (it sizes its in-memory runs
                // from it), so indexes are built with the default cache.
                try db.execute(sql: "PRAGMA cache_size = -2000; BEGIN; \(Schema.deferredIndexes) COMMIT")
                try history.writeFinalState()

                var counts = reference.counts.values
                for (table, n) in history.counts { counts[table, default: 0] += n }
                result = (counts, model.products)
            }
            try queue.close()
        }
        let queue = try DatabaseQueue(path: url.path)
        try queue.writeWithoutTransaction { db in
            let mode = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
            guard mode == "wal" else { throw DemoStoreError.invalidOption("could not switch \(url.path) to WAL (got \(mode ?? "nil"))") }
        }
        try queue.close()
        return result
    }
}
