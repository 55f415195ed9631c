import Foundation
import GRDB
import Testing
@testable import DemoStore

@Suite struct SeederTests {
    @Test func seededStoreIsAHealthyWALDatabase() throws {
        let store = try TemporaryStore(sizeMB: 3, images: 20)
        let db = try store.database()
        try db.read { db in
            #expect(try String.fetchOne(db, sql: "PRAGMA journal_mode") == "wal")
            #expect(try Int.fetchOne(db, sql: "PRAGMA page_size") == 4096)
            #expect(try String.fetchAll(db, sql: "PRAGMA integrity_check") == ["ok"])
            #expect(try Row.fetchAll(db, sql: "PRAGMA foreign_key_check").isEmpty)
            for table in DemoSeeder.tableNames {
                let count = try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table)") ?? 0
                #expect(count > 0, "\(table) is empty")
                #expect(store.report.rowCounts[table] == count, "report disagrees on \(table)")
            }
            // Three years of sales ending on the chosen day.
            let span = try Row.fetchOne(db, sql: """
                SELECT min(created_at), max(created_at), julianday(max(created_at)) - julianday(min(created_at)) FROM invoices
                """)!
            #expect((span[0] as String).hasPrefix("2022-06"))
            #expect((span[1] as String).hasPrefix("2025-06-1"))
            #expect((1080.0...1096.0).contains(span[2] as Double))
            // Foreign keys are declared, and some log tables have no primary key at all.
            #expect(try Row.fetchAll(db, sql: "PRAGMA foreign_key_list(invoice_lines)").count == 2)
            for table in ["inventory_movements", "audit_trail"] {
                #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM pragma_table_info(?) WHERE pk > 0", arguments: [table]) == 0)
            }
            // Every sale adds up.
            let bad = try Int.fetchOne(db, sql: """
                SELECT count(*) FROM invoices i
                WHERE subtotal_cents <> (SELECT sum(line_total_cents) FROM invoice_lines WHERE invoice_id = i.id)
                   OR total_cents <> subtotal_cents + tax_cents
                   OR (status <> 'void' AND total_cents <> (SELECT sum(amount_cents) FROM payments WHERE invoice_id = i.id))
                """)
            #expect(bad == 0)
        }
        let target = Double(store.report.targetBytes)
        #expect(abs(Double(store.report.databaseBytes) - target) / target < 0.15)
        #expect(store.report.journalMode == "wal")
    }

    @Test func sameSeedSameStoreOtherSeedOtherStore() throws {
        let a = try TemporaryStore(sizeMB: 2, seed: 42, images: 5)
        let b = try TemporaryStore(sizeMB: 2, seed: 42, images: 5)
        let c = try TemporaryStore(sizeMB: 2, seed: 43, images: 5)
        #expect(a.report.rowCounts == b.report.rowCounts)
        #expect(try Data(contentsOf: a.layout.posDatabase) == Data(contentsOf: b.layout.posDatabase))
        #expect(try fileDigest(a.layout.uploads) == fileDigest(b.layout.uploads))
        #expect(try Data(contentsOf: a.layout.posDatabase) != Data(contentsOf: c.layout.posDatabase))
        #expect(try fileDigest(a.layout.uploads) != fileDigest(c.layout.uploads))
        let names = { (store: TemporaryStore) in
            try store.database().read { try String.fetchAll($0, sql: "SELECT name FROM products ORDER BY id LIMIT 50") }
        }
        #expect(try names(a) != names(c))
    }

    @Test func refusesToOverwriteAStoreUnlessAsked() throws {
        let store = try TemporaryStore(sizeMB: 1)
        #expect(throws: DemoStoreError.self) {
            try DemoSeeder.seed(DemoSeedOptions(dir: store.dir, sizeMB: 1))
        }
        let again = try DemoSeeder.seed(DemoSeedOptions(dir: store.dir, sizeMB: 1, seed: 9, images: 0, replaceExisting: true))
        #expect(again.rowCounts["invoices"] ?? 0 > 0)
    }

    @Test func uploadsAndConfigFollowTheLayout() throws {
        let store = try TemporaryStore(sizeMB: 1, images: 30)
        let layout = store.layout
        let products = try regularFiles(under: layout.productImages)
        #expect(products.count == 30)
        for path in products {
            let depth = path.split(separator: "/").count - 1  // folders below uploads/products
            #expect((2...3).contains(depth), "\(path)")
            #expect(path.hasSuffix(".png"))
        }
        #expect(try regularFiles(under: layout.paintSwatches).count >= 8)
        // Every image a product names exists.
        let named = try store.database().read {
            try String.fetchAll($0, sql: "SELECT image_path FROM products WHERE image_path IS NOT NULL")
        }
        #expect(named.count == 30)
        for path in named {
            #expect(FileManager.default.fileExists(atPath: layout.uploads.appendingPathComponent(path).path), "\(path)")
        }
        for url in layout.configFiles {
            #expect(try Data(contentsOf: url).count > 100, "\(url.lastPathComponent)")
        }
        let printers = try Data(contentsOf: layout.configDirectory.appendingPathComponent("printers.json"))
        #expect(try JSONSerialization.jsonObject(with: printers) is [String: Any])
        #expect(layout.posDatabase.lastPathComponent == "pos.db")
        #expect(layout.ledger.lastPathComponent == "ledger.tsv")
        #expect(store.report.imageCount == 30)
    }

    @Test func photoSizesLookLikeProductPhotos() {
        var rng = SplitMix64(seed: 5)
        let sizes = (0..<4000).map { _ in
            let (w, h) = UploadsWriter.photoDimensions(&rng)
            return PNGWriter.rawSize(width: w, height: h)
        }.sorted()
        #expect(sizes.first! >= 4_500)
        #expect(sizes.last! <= 205_000)
        #expect((30_000...40_000).contains(sizes[sizes.count / 2]))
    }

    @Test func civilCalendarArithmetic() {
        let day = CivilDay(year: 2024, month: 2, day: 29)
        #expect(day.ymd == (2024, 2, 29))
        #expect(CivilDay(daysSinceEpoch: 0).ymd == (1970, 1, 1))
        #expect(CivilDay(daysSinceEpoch: 0).weekday == 4)  // a Thursday
        #expect(day.subtracting(years: 3).ymd == (2021, 2, 28))
        #expect(Timestamp.dateTime(day, secondOfDay: 13 * 3600 + 5 * 60 + 9) == "2024-02-29 13:05:09")
        for n in stride(from: -800_000, through: 800_000, by: 997) {
            let (y, m, d) = CivilDay(daysSinceEpoch: n).ymd
            #expect(CivilDay(year: y, month: m, day: d).daysSinceEpoch == n)
        }
    }
}

func regularFiles(under root: URL) throws -> [String] {
    let base = root.resolvingSymlinksInPath().path
    var files: [String] = []
    let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey])
    while let url = enumerator?.nextObject() as? URL {
        if try url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile == true {
            files.append(String(url.resolvingSymlinksInPath().path.dropFirst(base.count + 1)))
        }
    }
    return files.sorted()
}

/// Relative paths and contents of every file below `root`.
func fileDigest(_ root: URL) throws -> [String: Data] {
    var digest: [String: Data] = [:]
    for path in try regularFiles(under: root) {
        digest[path] = try Data(contentsOf: root.appendingPathComponent(path))
    }
    return digest
}
