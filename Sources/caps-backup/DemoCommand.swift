import ArgumentParser
import DemoStore
import Dispatch
import Foundation

/// `caps-backup demo …`: a realistic store to try the backup service on, and a POS that keeps
/// writing to it.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Create a demo POS store and simulate a busy register.",
        subcommands: [Seed.self, Simulate.self])

    struct Seed: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a store directory: pos.db (WAL), uploads/ with product images, config/.")

        @Option(help: "Store directory (created if missing).")
        var dir: String

        @Option(name: .customLong("size-mb"), help: "Approximate size of pos.db in MiB.")
        var sizeMB: Int = 20

        @Option(help: "Random seed; the same seed gives the same store.")
        var seed: UInt64 = 1

        @Option(help: "Number of product images.")
        var images: Int = 300

        @Flag(help: "Replace an existing demo store in the directory.")
        var force = false

        @Flag(help: "Print one JSON document instead of a summary.")
        var json = false

        func run() throws {
            let report = try DemoSeeder.seed(DemoSeedOptions(
                dir: URL(fileURLWithPath: dir), sizeMB: sizeMB, seed: seed, images: images, replaceExisting: force))
            if json {
                print(try DemoCommand.json(report))
                return
            }
            let mib = Double(report.databaseBytes) / 1_048_576
            print("Seeded \(report.directory) in \(String(format: "%.1f", report.elapsedSeconds)) s")
            print("  database  \(report.database)  \(String(format: "%.1f", mib)) MiB, \(report.journalMode), sales \(report.firstDay) … \(report.lastDay)")
            for table in DemoSeeder.tableNames {
                print("    \(table.padding(toLength: 20, withPad: " ", startingAt: 0)) \(report.rowCounts[table] ?? 0)")
            }
            print("  uploads   \(report.uploads)  \(report.imageCount) product images (\(report.imageBytes / 1024) KiB), \(report.swatchCount) paint swatches")
            print("  config    \(report.configFiles.map { URL(fileURLWithPath: $0).lastPathComponent }.joined(separator: ", "))")
        }
    }

    struct Simulate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write sales to the store's database at a steady rate until SIGINT/SIGTERM.",
            discussion: """
                Each committed sale is appended to the ledger as invoice_id, begin and commit times \
                (Unix nanoseconds, tab-separated).
                """)

        @Option(help: "Store directory (as created by `demo seed`).")
        var dir: String

        @Option(help: "Transactions per second.")
        var tps: Double = 20

        @Option(help: "Random seed.")
        var seed: UInt64 = 1

        @Option(help: "Stop after this many seconds.")
        var duration: Double?

        @Option(help: "Stop after this many sales.")
        var count: Int?

        @Option(help: "Ledger file (default: DIR/ledger.tsv).")
        var ledger: String?

        @Flag(help: "Print the summary as one JSON document.")
        var json = false

        func validate() throws {
            guard tps > 0 else { throw ValidationError("--tps must be positive") }
        }

        func run() throws {
            let simulator = DemoSimulator(DemoSimulationOptions(
                dir: URL(fileURLWithPath: dir), tps: tps, seed: seed, ledger: ledger.map { URL(fileURLWithPath: $0) },
                duration: duration, transactionCount: count))
            // Signals are delivered on a queue of their own, so they work whatever thread runs the simulator.
            let signals = DispatchQueue(label: "caps-backup.demo.signals")
            let sources = [SIGINT, SIGTERM].map { number in
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: signals)
                source.setEventHandler { simulator.stop() }
                source.resume()
                return source
            }
            defer { sources.forEach { $0.cancel() } }

            if !json {
                print("Simulating \(tps) tps on \(simulator.options.database.path); ledger \(simulator.options.ledger.path). Ctrl-C to stop.")
            }
            let summary = try simulator.run()
            if json {
                print(try DemoCommand.json(summary))
                return
            }
            let l = summary.latencyMs
            print("""
                \(summary.transactions) transactions in \(String(format: "%.1f", summary.elapsedSeconds)) s \
                (\(String(format: "%.1f", summary.achievedTPS)) tps): \(summary.sales) sales, \(summary.priceChanges) price changes, \
                \(summary.apBills) AP bills, \(summary.apPayments) AP payments
                failures: \(summary.busyFailures) busy, \(summary.otherFailures) other\(summary.lastError.map { " (last: \($0))" } ?? "")
                commit latency ms: p50 \(String(format: "%.2f", l.p50))  p90 \(String(format: "%.2f", l.p90))  \
                p99 \(String(format: "%.2f", l.p99))  max \(String(format: "%.2f", l.max))
                """)
        }
    }

    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
