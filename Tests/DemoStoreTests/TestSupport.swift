import Foundation
import GRDB
@testable import DemoStore

/// A demo store in a fresh temporary directory, removed when the test ends.
final class TemporaryStore {
    let dir: URL
    let report: DemoSeedReport
    var layout: DemoStoreLayout { DemoStoreLayout(root: dir) }

    /// A fixed last day, so stores seeded in different test runs (and on different days) match.
    static let endDate = Date(timeIntervalSince1970: 1_750_000_000)  // 2025-06-15

    init(sizeMB: Int = 3, seed: UInt64 = 1, images: Int = 0) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("demo-store-\(UUID().uuidString)")
        report = try DemoSeeder.seed(DemoSeedOptions(dir: dir, sizeMB: sizeMB, seed: seed, images: images, endDate: Self.endDate))
    }

    deinit { try? FileManager.default.removeItem(at: dir) }

    func database() throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        return try DatabaseQueue(path: layout.posDatabase.path, configuration: configuration)
    }
}

/// Runs a Python script with the system interpreter: an independent check of our file formats.
func runPython(_ script: String, _ arguments: [String]) throws -> Data {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
    process.arguments = ["-c", script] + arguments
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return data
}

let pythonAvailable = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")

/// Invoices the ledger names that are not in the database, or whose lines, totals or payment
/// disagree with each other.
func inconsistentInvoices(_ db: Database, _ ids: [Int64]) throws -> [Int64] {
    try ids.filter { id in
        guard let row = try Row.fetchOne(db, sql: """
            SELECT i.subtotal_cents, i.tax_cents, i.total_cents,
                   (SELECT sum(line_total_cents) FROM invoice_lines WHERE invoice_id = i.id),
                   (SELECT sum(tax_cents) FROM invoice_lines WHERE invoice_id = i.id),
                   (SELECT sum(amount_cents) FROM payments WHERE invoice_id = i.id)
            FROM invoices i WHERE i.id = ?
            """, arguments: [id])
        else { return true }
        let subtotal: Int = row[0], tax: Int = row[1], total: Int = row[2]
        let lineSum: Int? = row[3], lineTax: Int? = row[4], paid: Int? = row[5]
        return lineSum != subtotal || lineTax != tax || total != subtotal + tax || paid != total
    }
}
