import BackupCore
import DemoStore
import Foundation
import Testing

/// File backups and full archives through the real binary: the archive opens with `unzip` and checks with
/// `sha256sum`, restores are exact, the flags say no when they do not apply, and `kill -9` leaves no mess.
@Suite("File backups from the command line", .serialized)
struct FileBackupCLITests {
    /// A demo store (database, config files) whose uploads hold a few hundred generated product files.
    final class Store {
        let fixture: DemoFixture
        var uploads: URL { fixture.layout.uploads }
        var arguments: [String] { fixture.storeArguments + ["--uploads", uploads.path] }

        init(files: Int = 300, name: String = #function) throws {
            fixture = try DemoFixture(sizeMB: 3, name: name)
            var seed: UInt64 = 42
            for i in 0..<files {
                var bytes = [UInt8](repeating: 0, count: 1000 + i * 97 % 60_000)
                for j in bytes.indices {
                    seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                    bytes[j] = UInt8(truncatingIfNeeded: seed >> 33)
                }
                try write("products/\(i % 9)/item-\(i).jpg", bytes, mode: i % 5 == 0 ? 0o600 : 0o644,
                          mtime: (1_700_000_000 + Int64(i) * 3_600, Int32(i * 7_919 % 1_000_000_000)))
            }
        }

        func write(_ relative: String, _ bytes: [UInt8], mode: mode_t = 0o644, mtime: (Int64, Int32)? = nil) throws {
            let url = uploads.appendingPathComponent(relative)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(bytes).write(to: url)
            chmod(url.path, mode)
            if let (seconds, nanos) = mtime {
                var times = [timespec(tv_sec: Int(seconds), tv_nsec: Int(nanos)), timespec(tv_sec: Int(seconds), tv_nsec: Int(nanos))]
                utimensat(AT_FDCWD, url.path, &times, 0)
            }
        }

        func backup(_ kind: String) throws -> BackupRecord {
            let result = try CLI.run(["backup", "--kind", kind, "--json"] + arguments)
            #expect(result.status == 0, "\(result.stderr)")
            return try result.json(BackupRecord.self)
        }
    }

    @Test("backup --kind files: an archive unzip and sha256sum accept; restore into an empty folder is exact; paint-swatches stay out")
    func filesRoundTrip() throws {
        let store = try Store()
        let job = try store.backup("files")
        #expect(job.kind == .files && job.status == .succeeded)
        let archive = URL(fileURLWithPath: try #require(job.path))
        let unzip = try run("/usr/bin/unzip", ["-tq", archive.path])
        #expect(unzip.status == 0, "\(unzip.output)")
        let listing = try run("/usr/bin/unzip", ["-Z1", archive.path])
        #expect(!listing.output.contains("paint-swatches") && listing.output.contains("files/products/3/item-3.jpg"))
        let sums = try run("/usr/bin/env", ["sh", "-c", "cd '\(archive.deletingLastPathComponent().path)' && sha256sum -c '\(archive.lastPathComponent).sha256'"])
        #expect(sums.status == 0, "\(sums.output)")

        let target = store.fixture.root.appendingPathComponent("restored")
        let restore = try CLI.run(["restore", "\(job.id!)", "--yes", "--json"] + store.fixture.storeArguments + ["--uploads", target.path])
        #expect(restore.status == 0, "\(restore.stderr)")
        let record = try JSONSerialization.jsonObject(with: Data(restore.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(record["status"] as? String == "succeeded")
        #expect((record["files"] as? [String: Any])?["restored"] as? Int == 300 + 5)  // ours and the demo's 5 images
        #expect(try snapshot(target) == snapshot(store.uploads, without: "paint-swatches/"))
    }

    @Test("restore of a files archive from elsewhere with no uploads folder configured refuses and asks for --uploads")
    func foreignArchiveNeedsUploads() throws {
        let store = try Store(files: 10)
        let job = try store.backup("files")
        let foreign = store.fixture.root.appendingPathComponent("from-elsewhere.zip")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: try #require(job.path)), to: foreign)
        let gone = store.uploads.appendingPathComponent("products/1/item-1.jpg")
        try FileManager.default.removeItem(at: gone)
        let otherData = ["--data-dir", store.fixture.root.appendingPathComponent("other-data").path]

        let refused = try CLI.run(["restore", foreign.path, "--yes"] + otherData)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("No uploads folder is configured") && refused.stderr.contains("Pass --uploads DIR."), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: gone.path), "restored into the folder the archive names")

        let target = store.fixture.root.appendingPathComponent("chosen")
        let restored = try CLI.run(["restore", foreign.path, "--yes", "--uploads", target.path] + otherData)
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(FileManager.default.fileExists(atPath: target.appendingPathComponent("products/1/item-1.jpg").path))
    }

    @Test("restore --delete-extra makes the uploads folder match the backup; without it extra files stay")
    func deleteExtra() throws {
        let store = try Store(files: 60)
        let job = try store.backup("files")
        try store.write("products/extra.jpg", [1, 2, 3])
        try FileManager.default.removeItem(at: store.uploads.appendingPathComponent("products/4/item-4.jpg"))
        try store.write("products/5/item-5.jpg", [9, 9, 9])

        let keep = try CLI.run(["restore", "\(job.id!)", "--yes"] + store.arguments)
        #expect(keep.status == 0, "\(keep.stderr)")
        #expect(keep.stdout.contains("files not in the backup were kept"))
        #expect(FileManager.default.fileExists(atPath: store.uploads.appendingPathComponent("products/extra.jpg").path))

        let exact = try CLI.run(["restore", "\(job.id!)", "--yes", "--delete-extra"] + store.arguments)
        #expect(exact.status == 0, "\(exact.stderr)")
        #expect(!FileManager.default.fileExists(atPath: store.uploads.appendingPathComponent("products/extra.jpg").path))
        let manifest = try #require(try store.fixture.catalog().manifest(jobId: job.id!))
        let listed = Set(manifest.entries.map { String($0.path.dropFirst("files/".count)) })
        #expect(Set(try snapshot(store.uploads, without: "paint-swatches/").keys) == listed)
        #expect(FileManager.default.fileExists(atPath: store.uploads.appendingPathComponent("paint-swatches").path))
    }

    @Test("backup --kind full restores database and files together; --database-only and a database backup leave files alone; --with-config")
    func fullArchive() throws {
        let store = try Store(files: 40)
        let db = store.fixture.layout.posDatabase
        try SQLiteConnection(path: db.path, mode: .readWrite).execute("CREATE TABLE marker(v TEXT); INSERT INTO marker VALUES ('monthly')")
        let full = try store.backup("full")
        #expect(full.kind == .full && full.integrityCheck == "ok")
        let files = try snapshot(store.uploads)
        let config = try #require(store.fixture.layout.configFiles.first)
        let configBefore = try Data(contentsOf: config)
        // The demo's signing secret (--config-redact-keys jwt_hs256_secret) is nowhere in the archive.
        let secretLine = try #require(String(decoding: configBefore, as: UTF8.self).split(separator: "\n").first { $0.hasPrefix("jwt_hs256_secret = ") })
        let secret = Array(secretLine.dropFirst("jwt_hs256_secret = ".count).utf8)
        #expect(secret.count > 20)
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: full.path!))).firstRange(of: secret) == nil)
        // A hand edit that keeps the secret: a restore with config takes the backup's file and keeps the live secret.
        let edited = configBefore + Data("\n# edited by hand\n".utf8)

        func change() throws {
            try SQLiteConnection(path: db.path, mode: .readWrite).execute("UPDATE marker SET v = 'later'")
            try store.write("products/1/item-1.jpg", [0])
            try edited.write(to: config)
        }
        func marker() throws -> String? { try SQLiteConnection(path: db.path, mode: .readOnly).scalar("SELECT v FROM marker") }

        try change()
        let both = try CLI.run(["restore", "\(full.id!)", "--yes", "--no-pre-restore-snapshot"] + store.arguments)
        #expect(both.status == 0, "\(both.stderr)")
        #expect(try marker() == "monthly" && snapshot(store.uploads) == files)
        #expect(try Data(contentsOf: config) == edited)

        try change()
        let changed = try snapshot(store.uploads)
        let dbOnly = try CLI.run(["restore", "\(full.id!)", "--yes", "--database-only", "--with-config"] + store.arguments)
        #expect(dbOnly.status == 0, "\(dbOnly.stderr)")
        #expect(try marker() == "monthly" && snapshot(store.uploads) == changed)
        #expect(try Data(contentsOf: config) == configBefore)

        let dbBackup = try store.backup("db-full")
        try store.write("products/2/item-2.jpg", [7])
        let changedAgain = try snapshot(store.uploads)
        let plain = try CLI.run(["restore", "\(dbBackup.id!)", "--yes"] + store.arguments)
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(try snapshot(store.uploads) == changedAgain)

        let filesOnly = try CLI.run(["restore", "\(full.id!)", "--yes", "--files-only"] + store.arguments)
        #expect(filesOnly.status == 0, "\(filesOnly.stderr)")
        #expect(try snapshot(store.uploads) == files)
    }

    @Test("Flags that do not fit the backup exit 2 and change nothing")
    func usageErrors() throws {
        let store = try Store(files: 5)
        let db = try store.backup("db-full")
        let files = try store.backup("files")
        let before = try snapshot(store.uploads)
        for arguments in [["restore", "\(db.id!)", "--yes", "--files-only"], ["restore", "\(db.id!)", "--yes", "--delete-extra"],
                          ["restore", "\(files.id!)", "--yes", "--database-only"], ["restore", "\(files.id!)", "--yes", "--with-config"],
                          ["restore", "\(files.id!)", "--yes", "--files-only", "--database-only"]] {
            let result = try CLI.run(arguments + store.arguments)
            #expect(result.status == 2, "\(arguments): \(result.stderr)")
        }
        #expect(try snapshot(store.uploads) == before)
        let noUploads = try CLI.run(["backup", "--kind", "files", "--json"] + store.fixture.storeArguments)
        #expect(noUploads.status != 0 && noUploads.stderr.contains("uploads"))
    }

    @Test("kill -9 of a file backup at random points: earlier archives intact, leftovers filed, the next backup succeeds")
    func killFileBackups() throws {
        let store = try Store(files: 400)
        let good = try store.backup("files")
        let arguments = ["backup", "--kind", "files", "--json"] + store.arguments
        let complete = try runAndKill(arguments, killAfter: .max, jitterMicros: 0)
        #expect(!complete.killed && complete.events > 5)
        var random = SystemRandomNumberGenerator()
        var kills = 0
        for _ in 0..<6 {
            if try runAndKill(arguments, killAfter: Int.random(in: 1...complete.events, using: &random),
                              jitterMicros: UInt32.random(in: 0...5_000, using: &random)).killed { kills += 1 }
        }
        #expect(kills >= 4)
        let next = try CLI.run(arguments)
        #expect(next.status == 0, "\(next.stderr)")
        try expectEverySucceededJobVerifies(store.fixture)
        let catalog = try store.fixture.catalog()
        #expect(try catalog.runningJobs().isEmpty)
        #expect(try catalog.job(id: good.id!)?.status == .succeeded && FileManager.default.fileExists(atPath: good.path!))
        let data = DataDirectory(store.fixture.dataDir)
        #expect(try FileManager.default.contentsOfDirectory(atPath: data.tmp.path).isEmpty)
        let succeeded = Set(try catalog.jobs(kind: .files, status: .succeeded).compactMap(\.path))
        let published = try FileManager.default.contentsOfDirectory(atPath: data.archives(.files).path).filter { $0.hasSuffix(".zip") }
        #expect(Set(published.map { data.archives(.files).appendingPathComponent($0).path }) == succeeded)
        #expect(try catalog.jobs(kind: .files, status: .failed).allSatisfy { $0.error?.contains("Interrupted") == true })
    }
}

/// Every regular file below `root`: relative path → SHA-256, mode and mtime (to the nanosecond).
private func snapshot(_ root: URL, without excluded: String? = nil) throws -> [String: String] {
    var result: [String: String] = [:]
    let names = (FileManager.default.enumerator(atPath: root.path)?.allObjects as? [String]) ?? []
    for relative in names {
        if let excluded, relative.hasPrefix(excluded) { continue }
        let url = root.appendingPathComponent(relative)
        var st = stat()
        guard lstat(url.path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { continue }
        result[relative] = "\(try sha256(url)) \(String(st.st_mode & 0o7777, radix: 8)) \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
    }
    return result
}
