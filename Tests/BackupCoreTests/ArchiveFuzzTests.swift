@testable import BackupCore
import Foundation
import Testing

/// Issue 12, finding 6: random mutations of real small archives (a db-full, an incremental on its base,
/// a files archive) fed to the ZIP reader, the manifest decoder, `ArchiveVerifier` and
/// `DatabaseImagePreparer`. Fixed seed, bounded count: every input is refused with a `BackupError` or
/// accepted, and what is accepted is consistent. No crash (a trap would end the test process), no hang.
@Suite("Fuzz: mutated archives are refused cleanly or accepted consistently", .serialized)
struct ArchiveFuzzTests {
    static let seed: UInt64 = 0x12_2026_1202
    static let count = 5000

    /// Values that break code which trusts numbers: zero, negatives, the edges of Int32, UInt32, Int64,
    /// UInt64, sizes SQLite and gzip care about, a float, and one too large for any integer.
    static let interesting = ["0", "-1", "1", "2147483647", "2147483648", "-2147483648", "4294967295", "4294967296",
                              "9223372036854775807", "-9223372036854775808", "18446744073709551615", "512", "4096", "65536",
                              "67108864", "1099511627776", "1e308", "99999999999999999999999"]

    struct Seed {
        var label: String
        var bytes: [UInt8]
        /// The entries as (name, data), the manifest last: to rebuild the ZIP around a mutated manifest.
        var entries: [(String, [UInt8])]
        var manifest: [UInt8]
    }

    static func seeds(_ context: BackupContext) throws -> [Seed] {
        let database = try #require(context.posDatabase)
        let full = try DatabaseBackupJob(context: context).run(trigger: .manual)
        let base = try DatabaseBackupJob(context: context, kind: .dbIncremental).run(trigger: .manual, integrityCheck: false)
        try setMarker(database, "changed")
        try SQLiteConnection(path: database.path, mode: .readWrite).execute("INSERT INTO customer(name) VALUES ('Hedy')")
        let link = try DatabaseBackupJob(context: context, kind: .dbIncremental).run(trigger: .manual, integrityCheck: false)
        #expect(link.parentId == base.id)
        let files = try FileBackupJob(context: context, kind: .files).run(trigger: .manual)
        return try [("db-full", full), ("db-incremental link", link), ("files", files)].map { label, job in
            let url = URL(fileURLWithPath: job.path!)
            let reader = try ZipReader(url: url)
            var entries = try reader.entries.filter { $0.name != Manifest.entryName }.map { ($0.name, try reader.readData($0, limit: 1 << 26)) }
            let manifest = try reader.readData(try #require(reader.entry(named: Manifest.entryName)), limit: Manifest.maxSize)
            entries.append((Manifest.entryName, manifest))
            return Seed(label: label, bytes: try [UInt8](Data(contentsOf: url)), entries: entries, manifest: manifest)
        }
    }

    /// Where the JSON numbers are: a digit or `-` that starts a value (after `:`, `[` or `,`), outside strings.
    static func numberRanges(_ json: [UInt8]) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var inString = false, escaped = false, previous: UInt8 = 0
        var i = 0
        while i < json.count {
            let c = json[i]
            if inString {
                if escaped { escaped = false } else if c == UInt8(ascii: "\\") { escaped = true } else if c == UInt8(ascii: "\"") { inString = false }
                i += 1
                continue
            }
            if c == UInt8(ascii: "\"") { inString = true; previous = c; i += 1; continue }
            let startsNumber = c == UInt8(ascii: "-") || (c >= 0x30 && c <= 0x39)
            if startsNumber, [UInt8(ascii: ":"), UInt8(ascii: "["), UInt8(ascii: ",")].contains(previous) {
                var end = i + 1
                while end < json.count, "0123456789.eE+-".utf8.contains(json[end]) { end += 1 }
                ranges.append(i..<end)
                previous = json[end - 1]
                i = end
                continue
            }
            if c != 0x20 && c != 0x0A && c != 0x09 && c != 0x0D { previous = c }
            i += 1
        }
        return ranges
    }

    static func mutate(_ seed: Seed, _ rng: inout TestRandom) -> (String, [UInt8]) {
        func rebuilt(_ manifest: [UInt8]) -> [UInt8] {
            RawZip.build(seed.entries.map { name, data in RawZip.Entry(name: name, data: name == Manifest.entryName ? manifest : data) })
        }
        var bytes = seed.bytes
        func pick(_ n: Int) -> Int { Int(rng.next() % UInt64(max(n, 1))) }
        switch rng.next() % 7 {
        case 0:
            let at = pick(bytes.count)
            bytes[at] ^= 1 << UInt8(rng.next() % 8)
            return ("bit flip at \(at)", bytes)
        case 1:
            let at = pick(bytes.count)
            bytes[at] = UInt8(truncatingIfNeeded: rng.next())
            return ("byte at \(at)", bytes)
        case 2:
            let length = pick(bytes.count)
            return ("truncated to \(length)", Array(bytes[0..<length]))
        case 3:
            // A 32- or 64-bit edge value over the ZIP structures (most of them are in the last few hundred bytes).
            let width = rng.next() % 2 == 0 ? 4 : 8
            let value: UInt64 = [0, .max, UInt64(Int32.max), UInt64(UInt32.max), 1 << 31, 1 << 32, UInt64(Int64.max)][pick(7)]
            let at = rng.next() % 2 == 0 ? pick(bytes.count - width) : max(0, bytes.count - 1 - pick(min(bytes.count, 600)) - width)
            for k in 0..<width where at + k < bytes.count { bytes[at + k] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(k))) }
            return ("\(width * 8)-bit \(value) at \(at)", bytes)
        case 4, 5:
            // One or several manifest numbers replaced by interesting values; the ZIP stays well-formed.
            var manifest = seed.manifest
            let numbers = numberRanges(manifest)
            var what: [String] = []
            for _ in 0..<(rng.next() % 3 + 1) where !numbers.isEmpty {
                let ranges = numberRanges(manifest)
                let range = ranges[pick(ranges.count)]
                let value = interesting[pick(interesting.count)]
                what.append("\(String(decoding: manifest[range], as: UTF8.self))->\(value)")
                manifest.replaceSubrange(range, with: Array(value.utf8))
            }
            return ("manifest numbers \(what.joined(separator: ", "))", rebuilt(manifest))
        default:
            var manifest = seed.manifest
            let at = pick(manifest.count)
            manifest[at] ^= 1 << UInt8(rng.next() % 8)
            return ("manifest bit flip at \(at)", rebuilt(manifest))
        }
    }

    @Test("Mutated db-full, db-incremental and files archives: no crash, no hang, every input refused with a BackupError or accepted consistently",
          .timeLimit(.minutes(3)))
    func fuzz() throws {
        let started = Date()
        let dir = TemporaryDirectory("fuzz")
        let database = dir.path("pos.db")
        // Deterministic content and clock, so that the seed archives (and the run) are the same every time
        // but for their ids and the snapshots' wall-clock times.
        try SQLiteConnection(path: database.path, mode: .create).execute("""
            PRAGMA journal_mode=WAL;
            CREATE TABLE customer(id INTEGER PRIMARY KEY, name TEXT NOT NULL);
            CREATE TABLE marker(value TEXT);
            INSERT INTO marker VALUES ('original');
            CREATE TABLE invoice(id INTEGER PRIMARY KEY, customer_id INTEGER, total REAL, note TEXT);
            WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300)
            INSERT INTO invoice(customer_id, total, note) SELECT x % 7, x * 1.25, printf('%040d', x * 7919) FROM c;
            """)
        let tree = try UploadsTree(dir.path("uploads"))
        for i in 0..<4 { try tree.write("products/\(i)/sku-\(i).jpg", Array(repeating: UInt8(i), count: 100 + i * 37), mode: 0o644) }
        var context = try makeContext(dir, posDatabase: database)
        context.uploads = tree.root
        let clock = TestClock()
        context.now = { clock.now }
        let seeds = try Self.seeds(context)

        var rng = TestRandom(seed: Self.seed)
        var refused = 0, verified = 0, rebuilt = 0
        let input = dir.path("input.zip")
        let image = dir.path("image.sqlite")
        for number in 0..<Self.count {
            let seed = seeds[number % seeds.count]
            let (mutation, bytes) = Self.mutate(seed, &rng)
            let label = "#\(number) \(seed.label): \(mutation)"
            try Data(bytes).write(to: input)
            // The reader and the decoder alone...
            do {
                let reader = try ZipReader(url: input)
                if let entry = reader.entry(named: Manifest.entryName) {
                    let manifest = try Manifest.decode(try reader.readData(entry, limit: Manifest.maxSize))
                    try manifest.checkBounds(archiveSize: reader.fileSize)
                }
            } catch is BackupError {
            } catch {
                Issue.record("\(label): the reader or decoder threw \(type(of: error)): \(error)")
            }
            // ...then the whole verification and, for a database, the image.
            do {
                let archive = try ArchiveVerifier().verify(input)
                verified += 1
                #expect(archive.manifest.entries.count + 1 == archive.reader.entries.count, "\(label)")
                guard let declared = archive.manifest.database else { continue }
                try? FileManager.default.removeItem(at: image)
                let prepared = try DatabaseImagePreparer(context: context).prepare(.archive(input), into: image, progress: nil)
                rebuilt += 1
                #expect(prepared.sha256 == declared.imageSha256, "\(label)")
                #expect(try sha256(image) == declared.imageSha256.lowercased(), "\(label)")
                #expect(try POSIXFile.fileSize(image) == declared.imageSize, "\(label)")
            } catch is BackupError {
                refused += 1
            } catch {
                Issue.record("\(label): refused with \(type(of: error)) instead of a BackupError: \(error)")
            }
        }
        let seconds = Date().timeIntervalSince(started)
        print("fuzz: \(Self.count) inputs, seed 0x\(String(Self.seed, radix: 16)): \(refused) refused, \(verified) passed verify, \(rebuilt) images rebuilt, \(String(format: "%.1f", seconds)) s")
        #expect(refused > Self.count / 2)
    }
}
