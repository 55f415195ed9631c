@testable import BackupCore
import Foundation
import GRDB
import Testing

@Suite("File backups in bounded memory: compact walk and previous manifest, streamed manifest, catalog")
struct FileBackupMemoryTests {
    @Test("PathIndex finds each path by its exact bytes: prefixes, one byte apart, other normalizations are other paths")
    func pathIndex() {
        var table = PathTable()
        var names = ["a", "a/b", "ab", "a/b/c.jpg", "a.b", "Café.jpg", "Cafe\u{301}.jpg", "products/0001/sku-000001-1.jpg", "😀/x"]
        var rng = TestRandom(seed: 5)
        for i in 0..<5000 { names.append("products/\(rng.next() % 97)/sku-\(i)-\(rng.next() % 5).jpg") }
        for name in names { table.append(name) }
        table.compact()
        let index = PathIndex(table)
        for (i, name) in names.enumerated() {
            var name = name
            #expect(name.withUTF8 { index.find($0, in: table) } == i, "\(name)")
            #expect(table.string(i) == name)
        }
        for absent in ["", "a/", "products", "b", "Cafe.jpg", "products/0001/sku-000001-1.jp"] {
            var absent = absent
            #expect(absent.withUTF8 { index.find($0, in: table) } == nil, "\(absent)")
        }
        // A name twice: the later one is found, as a dictionary would keep it.
        var twice = PathTable()
        for name in ["x", "y", "x"] { twice.append(name) }
        var x = "x"
        #expect(x.withUTF8 { PathIndex(twice).find($0, in: twice) } == 2)
    }

    @Test("FileList: 4,096 files a chunk; attach finds the previous records by entry name; release frees only whole chunks behind")
    func fileList() {
        var candidates: [FileCandidate] = []
        for i in 0..<10_000 {
            candidates.append(FileCandidate(path: "products/\(i / 100)/sku-\(i).jpg", size: UInt64(i), modified: FileTime(seconds: Int64(i), nanoseconds: Int32(i)),
                                            mode: UInt16(0o600 + i % 8)))
        }
        var list = FileList()
        for file in candidates { list.append(file) }
        list.compact()
        #expect(list.count == candidates.count)
        #expect(Array(list) == candidates)
        #expect(list.size(4097) == 4097)

        // A copy is a value: appending to it leaves the original as it was.
        var copy = list
        copy.append(FileCandidate(path: "new.jpg", size: 1, modified: FileTime(seconds: 1, nanoseconds: 1), mode: 0o644))
        #expect(copy.count == 10_001 && list.count == 10_000 && list.last == candidates.last)

        // The previous backup had every third file (one with a SHA-256 that is not hex), and two that are gone.
        var previous = PreviousFileTable()
        let digest = String(repeating: "ab", count: 32)
        for i in stride(from: 0, to: 10_000, by: 3) {
            previous.append("files/" + candidates[i].path, PreviousFile(size: UInt64(i), modified: candidates[i].modified, crc32: UInt32(i),
                                                                      sha256: i == 300 ? "not hex" : digest))
        }
        previous.append("files/gone/1.jpg", PreviousFile(size: 1, modified: FileTime(seconds: 1, nanoseconds: 0), crc32: 1, sha256: digest))
        previous.append("files/products/0/sku-1.jpg.old", PreviousFile(size: 1, modified: FileTime(seconds: 1, nanoseconds: 0), crc32: 1, sha256: digest))
        previous.seal()
        let matched = list.attach(previous, prefix: "files/", keepRecords: true)
        #expect(matched.count == previous.count)
        #expect(matched.filter { !$0 }.count == 2 && !matched[matched.count - 1] && !matched[matched.count - 2])
        for i in [0, 1, 2, 3, 300, 4095, 4096, 9999] {
            let prior = list.recorded(i)
            if i % 3 == 0 {
                #expect(prior?.size == UInt64(i) && prior?.crc32 == UInt32(i) && prior?.modified == candidates[i].modified, "\(i)")
                #expect(prior?.sha256 == (i == 300 ? "" : digest), "\(i)")
            } else {
                #expect(prior == nil, "\(i)")
            }
        }
        // Without keeping the records, only which ones matched.
        var bare = FileList(candidates)
        #expect(bare.attach(previous, prefix: "files/", keepRecords: false) == matched)
        #expect(bare.recorded(0) == nil)

        #expect(!list.release(below: 4095))
        #expect(list[4094] == candidates[4094])
        #expect(list.release(below: 8191))
        #expect(list[4096] == candidates[4096] && list[9999] == candidates[9999] && list.recorded(9999)?.size == 9999)
    }

    @Test("The manifest read a piece at a time, cut anywhere, gives the entries and the rest JSONDecoder gives")
    func scanner() throws {
        var manifest = Manifest(backupId: "b", kind: .full, createdAt: Date(timeIntervalSince1970: 1_790_000_000), host: "h", toolVersion: "t")
        manifest.entries = [
            Manifest.Entry(path: "db/pos.sqlite.gz", size: 10, sha256: String(repeating: "a", count: 64), sourcePath: "/srv/pos \"x\"/pos.db"),
            Manifest.Entry(path: "files/products/Café \"quoted\" back\\slash.jpg", size: 0, sha256: String(repeating: "b", count: 64),
                           mode: 0o640, modified: FileTime(seconds: 1_700_000_000, nanoseconds: 7), crc32: 0),
            Manifest.Entry(path: "files/😀/tab\there\u{1}", size: UInt64.max, sha256: String(repeating: "c", count: 64), mode: 0o7777,
                           modified: FileTime(seconds: -5, nanoseconds: 1), crc32: .max),
        ]
        for i in 0..<300 {
            manifest.entries.append(Manifest.Entry(path: "files/products/\(i % 7)/sku-\(i).jpg", size: UInt64(i * 1000), sha256: String(repeating: "d", count: 64),
                                                   mode: 0o644, modified: FileTime(seconds: 1_700_000_000 + Int64(i), nanoseconds: Int32(i)), crc32: UInt32(i * 7919)))
        }
        manifest.files = FileSetSummary(root: "/srv/pos/uploads", prefix: "files/", excludes: ["paint-swatches/**"], fileCount: 302, totalBytes: 3,
                                        previousBackupId: "a", deleted: ["files/gone.jpg", "files/also \"gone\".jpg"],
                                        skipped: [SkippedFile(path: "files/l", reason: "link")],
                                        hashing: .init(fullRehash: false, reason: "r", lastFullRehashAt: Date(timeIntervalSince1970: 1_790_000_000),
                                                       hashed: 2, reused: 300),
                                        scannedAt: Date(timeIntervalSince1970: 1_790_000_000))
        let bytes = try ManifestWriter.encode(manifest)
        var rest = manifest
        rest.entries = []
        for piece in [1, 7, 64, 4096, bytes.count] {
            var scanner = ManifestScanner()
            var entries: [Manifest.Entry] = []
            let collect = { (e: ScannedEntry) in
                entries.append(Manifest.Entry(e))
            }
            var start = 0
            while start < bytes.count {
                let end = min(start + piece, bytes.count)
                let fed = bytes[start..<end].withUnsafeBytes { scanner.feed($0, collect) }
                #expect(fed)
                start = end
            }
            let finished = scanner.finish(collect)
            #expect(finished, "pieces of \(piece)")
            #expect(entries == manifest.entries, "pieces of \(piece)")
            #expect(try scanner.decodeOuter() == rest, "pieces of \(piece)")
        }
        // Not the shape ManifestWriter writes (JSONEncoder's, or an invalid escape): false.
        for other in [try manifest.encoded(), Array(String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "sku-1.jpg", with: "sku-\\1.jpg").utf8)] {
            var scanner = ManifestScanner()
            let fed = other.withUnsafeBytes { scanner.feed($0) { _ in } }
            let finished = fed && scanner.finish { _ in }
            #expect(!finished)
        }
    }

    @Test("The spooled manifest is byte for byte what ManifestWriter.encode writes")
    func spool() throws {
        let dir = TemporaryDirectory("spool")
        var manifest = Manifest(backupId: "b", kind: .full, createdAt: Date(timeIntervalSince1970: 1_790_000_000.5), host: "h", toolVersion: "t")
        for count in [0, 1, 2000] {
            let spool = try ManifestSpool(creating: dir.path("entries-\(count)"))
            var entries: [Manifest.Entry] = []
            if count > 0 {
                let db = Manifest.Entry(path: "db/pos.sqlite.gz", size: 10, sha256: String(repeating: "a", count: 64), sourcePath: "/srv/pos.db")
                try spool.add(db)
                entries.append(db)
            }
            var rng = TestRandom(seed: 2)
            for i in 0..<max(0, count - 1) {
                var name = "files/products/\(i % 13)/Café \"\(i)\".jpg"
                let digest = SHA256Bytes(hex: rng.bytes(32).map { String(format: "%02x", $0) }.joined())!
                let modified = FileTime(seconds: 1_700_000_000 + Int64(rng.next() % 1000), nanoseconds: Int32(rng.next() % 1_000_000_000))
                try name.withUTF8 { try spool.addFile(name: $0, size: UInt64(i), sha256: digest, mode: 0o644, modified: modified, crc32: UInt32(i)) }
                entries.append(Manifest.Entry(path: name, size: UInt64(i), sha256: digest.hex, mode: 0o644, modified: modified, crc32: UInt32(i)))
            }
            let text = try spool.finish(manifest)
            var spooled: [UInt8] = []
            try text.forEachPiece { spooled += $0 }
            manifest.entries = entries
            #expect(spooled == (try ManifestWriter.encode(manifest)), "\(count) entries")
            #expect(text.size == UInt64(spooled.count) && text.entryCount == count)
            manifest.entries = []
        }
    }

    @Test("A manifest streamed into the catalog reads back as text; the previous one is read from its row a piece at a time, text or blob")
    func catalogManifest() throws {
        let store = try FileStore(files: 30)
        let job = try store.backup(.files)
        let catalog = store.context.catalog
        let manifest = try store.manifest(job)
        let fileEntries = manifest.entries.filter { $0.path.hasPrefix("files/") }
        let (type, json) = try catalog.database.read { db in
            (try String.fetchOne(db, sql: "SELECT typeof(manifest_json) FROM backup_manifest WHERE job_id = ?", arguments: [job.id!]),
             try BackupManifestRecord.fetchOne(db, key: job.id!)?.manifestJson)
        }
        #expect(type == "blob")
        #expect(try Manifest.decode(Array(try #require(json).utf8)) == manifest)
        // What the archive holds is what the catalog holds.
        let reader = try ZipReader(url: URL(fileURLWithPath: job.path!))
        var archived: [UInt8] = []
        try reader.read(try #require(reader.entry(named: Manifest.entryName))) { archived += $0 }
        #expect(archived == Array(json!.utf8))

        for stored in ["blob", "text"] {
            if stored == "text" {
                // As earlier versions stored it.
                try catalog.complete(job, manifest: .document(manifest, bytes: Array(json!.utf8)))
            }
            let parsed = try #require(try catalog.database.read { db in try PreviousManifestParser.parse(manifestOf: job.id!, in: db, prefix: "files/") })
            #expect(parsed.backupId == manifest.backupId && parsed.summary == manifest.files)
            #expect(parsed.files.count == fileEntries.count, "\(stored)")
            for entry in fileEntries {
                let prior = try #require(parsed.files[entry.path])
                #expect(prior.sha256 == entry.sha256 && prior.size == entry.size && prior.modified == entry.modified && prior.crc32 == entry.crc32)
            }
        }
    }

    @Test("A detail page's manifest overview, scanned from the row, says what the whole manifest says", arguments: [BackupKind.files, .full, .dbFull])
    func manifestOverview(kind: BackupKind) throws {
        let store = try FileStore(files: 300)
        let job = kind == .dbFull ? try DatabaseBackupJob(context: store.context).run(trigger: .manual) : try store.backup(kind)
        let whole = try store.manifest(job)
        for listed in [0, 5, 10_000] {
            let overview = try #require(try store.context.catalog.manifestOverview(jobId: job.id!, listed: listed))
            #expect(overview.entryCount == whole.entries.count)
            #expect(overview.totalBytes == whole.entries.reduce(0) { $0 + $1.size })
            #expect(overview.manifest.entries == Array(whole.entries.prefix(listed)))
            var rest = overview.manifest
            rest.entries = whole.entries
            #expect(rest == whole)
        }
        #expect(try store.context.catalog.manifestOverview(jobId: job.id! + 99, listed: 5) == nil)
    }

    @Test("Migration v3 keeps every manifest and makes manifest_json the last column")
    func migration() throws {
        let dir = TemporaryDirectory("migration")
        let url = dir.path("catalog.sqlite")
        let json = "{\"format\" : \"caps-backup/1\", \"note\" : \"\(String(repeating: "x", count: 100_000))\"}"
        do {
            let queue = try DatabaseQueue(path: url.path)
            try CatalogSchema.migrator.migrate(queue, upTo: "v2: alert webhook delivery")
            try queue.write { db in
                var job = BackupRecord(kind: .dbFull, trigger: .manual, startedAt: Date(timeIntervalSince1970: 1_790_000_000))
                try job.insert(db)
                var record = BackupManifestRecord(jobId: job.id!, format: "caps-backup/1", entryCount: 3, manifestJson: json,
                                                  createdAt: Date(timeIntervalSince1970: 1_790_000_001))
                try record.insert(db)
            }
        }
        let catalog = try Catalog(url: url)
        try catalog.database.read { db in
            let columns = try Row.fetchAll(db, sql: "PRAGMA table_info(backup_manifest)").map { $0["name"] as String }
            #expect(columns == ["job_id", "format", "entry_count", "created_at", "manifest_json"])
            let record = try #require(try BackupManifestRecord.fetchOne(db, key: 1))
            #expect(record.manifestJson == json && record.entryCount == 3 && record.createdAt == Date(timeIntervalSince1970: 1_790_000_001))
            #expect(try String.fetchOne(db, sql: "SELECT typeof(manifest_json) FROM backup_manifest") == "text")
            // Deleting the job still deletes its manifest.
        }
        try catalog.database.write { db in
            try db.execute(sql: "DELETE FROM backup_job")
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM backup_manifest") == 0)
        }
    }
}
