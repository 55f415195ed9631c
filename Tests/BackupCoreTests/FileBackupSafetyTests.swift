@testable import BackupCore
import Foundation
import Testing

@Suite("File backups: hostile archives, files that change while read, excludes, manifest format")
struct FileBackupSafetyTests {
    /// A target uploads folder with one file in it, and a way to tell that nothing changed.
    struct Target {
        let dir = TemporaryDirectory("target")
        let tree: UploadsTree
        let context: BackupContext
        let before: [String: FileState]

        init() throws {
            tree = try UploadsTree(dir.path("uploads"))
            try tree.write("products/keep.jpg", [1, 2, 3], mtime: FileTime(seconds: 1_700_000_000, nanoseconds: 42))
            context = try makeContext(dir, posDatabase: nil)
            before = try tree.state()
        }

        func restore(_ bytes: [UInt8]) throws -> BackupError {
            let archive = dir.path("hostile.zip")
            try Data(bytes).write(to: archive)
            let failure = try #require(throws: RestoreFailure.self) {
                try FileRestoreJob(context: context).run(archive: archive, job: nil, options: FileRestoreOptions(uploads: tree.root))
            }
            #expect(failure.restore?.status == .failed)
            return failure.error
        }

        func expectUnchanged() throws {
            #expect(try tree.state() == before)
            #expect(fileList(tree.root).allSatisfy { !$0.contains(FileTreeWalker.stagingPrefix) })
        }
    }

    @Test("Hostile archives (zip-slip, absolute path, symlink, size lie) are refused before anything is written")
    func hostileArchives() throws {
        let outside = "caps-outside-\(UUID().uuidString.prefix(8)).txt"
        let cases: [(String, [UInt8], BackupError.Code)] = [
            ("zip-slip", try RawZip.filesArchive([.init(name: "files/../../\(outside)", data: Array("pwned".utf8))]), .unsafeArchive),
            ("absolute path", try RawZip.filesArchive([.init(name: "/tmp/\(outside)", data: Array("pwned".utf8))]), .unsafeArchive),
            ("symlink", try RawZip.filesArchive([.init(name: "files/products/keep.jpg", data: Array("/etc/passwd".utf8), mode: 0o120777)]), .unsafeArchive),
            ("size lie in the manifest", try RawZip.filesArchive(
                [.init(name: "files/products/big.jpg", data: [UInt8](repeating: 1, count: 4096))],
                listed: [Manifest.Entry(path: "files/products/big.jpg", size: 16,
                                        sha256: [UInt8](repeating: 1, count: 16).withUnsafeBytes { Hex.sha256($0) })]), .corruptArchive),
            ("size lie in the directory", try RawZip.filesArchive(
                [.init(name: "files/products/a.jpg", data: [UInt8](repeating: 2, count: 100), declaredSize: 1 << 30)]), .corruptArchive),
            ("a device file", try RawZip.filesArchive(
                [.init(name: "files/products/dev", data: [], mode: 0o020644)]), .unsafeArchive),
        ]
        for (label, bytes, code) in cases {
            let target = try Target()
            let error = try target.restore(bytes)
            #expect(error.code == code, "\(label): \(error)")
            try target.expectUnchanged()
            #expect(!FileManager.default.fileExists(atPath: "/tmp/\(outside)"), "\(label)")
            #expect(!FileManager.default.fileExists(atPath: target.dir.url.appendingPathComponent(outside).path), "\(label)")
        }
    }

    @Test("A folder that is a symbolic link (leading outside), or a folder where a file goes, stops the restore before anything is written")
    func onDiskObstacles() throws {
        let store = try FileStore(files: 10)
        let job = try store.backup()

        let target = try Target()
        let elsewhere = target.dir.path("elsewhere")
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: target.tree.root.appendingPathComponent("products/3"), withDestinationURL: elsewhere)
        let linked = try #require(throws: RestoreFailure.self) {
            try FileRestoreJob(context: store.context).run(archive: URL(fileURLWithPath: job.path!), job: job,
                                                           options: FileRestoreOptions(uploads: target.tree.root))
        }
        #expect(linked.error.code == .unsafeArchive)
        #expect(fileList(elsewhere).isEmpty)
        #expect(fileList(target.tree.root).allSatisfy { !$0.contains(FileTreeWalker.stagingPrefix) && !$0.hasPrefix("products/0") })

        let blocked = try Target()
        try FileManager.default.createDirectory(at: blocked.tree.root.appendingPathComponent("products/2/sku-2.jpg"), withIntermediateDirectories: true)
        let before = fileList(blocked.tree.root)
        #expect(throws: RestoreFailure.self) {
            try FileRestoreJob(context: store.context).run(archive: URL(fileURLWithPath: job.path!), job: job,
                                                           options: FileRestoreOptions(uploads: blocked.tree.root))
        }
        #expect(fileList(blocked.tree.root) == before)
    }

    @Test("A file that changes or disappears while it is read is read again, or listed as skipped: never archived with a wrong checksum")
    func filesChangingWhileRead() throws {
        let dir = TemporaryDirectory("changing")
        let tree = try UploadsTree(dir.path("uploads"))
        var rng = TestRandom(seed: 9)
        for name in ["once", "always", "vanishes", "steady"] { try tree.write("\(name).jpg", rng.bytes(5000)) }
        try tree.write("large-once.bin", rng.bytes(300_000))
        try tree.write("large-always.bin", rng.bytes(300_000))
        try tree.write("b-grows.jpg", rng.bytes(5000))
        let root = tree.root
        let walk = try FileTreeWalker(root: root, excludes: ExcludeMatcher([])).walk()
        // After the walk, one small file grows past the in-memory limit: it is copied in chunks instead.
        try tree.write("b-grows.jpg", rng.bytes(250_000))
        var archiver = FileArchiver(root: root, prefix: "files/", policy: HashReusePolicy(kind: .files, previous: nil, now: Date()))
        archiver.streamThreshold = 100_000
        archiver.whileReading = { path, attempt in
            let url = root.appendingPathComponent(path)
            let grow = { (try? FileHandle(forWritingTo: url)).map { h in h.seekToEndOfFile(); h.write(Data("more".utf8)); try? h.close() } }
            switch (path, attempt) {
            case ("once.jpg", 1), ("always.jpg", _), ("large-once.bin", 1), ("large-always.bin", _): _ = grow()
            default: break
            }
            // Deleted after the walk, just before it is read (same batch, same reader thread).
            if path == "once.jpg" { try? FileManager.default.removeItem(at: root.appendingPathComponent("vanishes.jpg")) }
        }
        let zip = dir.path("out.zip")
        let writer = try ZipWriter(creating: zip)
        let result = try archiver.archive(walk.files, into: writer)
        let manifest = Manifest(backupId: "x", kind: .files, createdAt: Date(), host: "h", toolVersion: "t", entries: result.entries)
        let manifestBytes = try ManifestWriter.encode(manifest)
        try writer.addEntry(Manifest.entryName, data: manifestBytes, modified: Date())
        try writer.finish()
        try FileArchiveCheck().check(zip, manifest: manifest, manifestBytes: manifestBytes)

        #expect(Set(result.entries.map(\.path)) == ["files/once.jpg", "files/steady.jpg", "files/large-once.bin", "files/b-grows.jpg"])
        #expect(Dictionary(uniqueKeysWithValues: result.skipped.map { ($0.path, $0.reason) }) == [
            "files/always.jpg": "it changed while being read (twice)",
            "files/vanishes.jpg": "it disappeared while the backup ran",
            "files/large-always.bin": "it changed while being read (twice)",
        ])
        // What was archived is the file as it is now (read again after the change), with its true checksum.
        let reader = try ZipReader(url: zip)
        #expect(reader.entries.map(\.name).sorted() == (result.entries.map(\.path) + [Manifest.entryName]).sorted())
        for entry in result.entries {
            let onDisk = try sha256(root.appendingPathComponent(String(entry.path.dropFirst(6))))
            #expect(entry.sha256 == onDisk, "\(entry.path)")
            #expect(try reader.read(try #require(reader.entry(named: entry.path))) == onDisk)
        }
    }

    @Test("The read-back check of a new archive finds a byte changed on disk, in small and in large entries")
    func readBackCheck() throws {
        let dir = TemporaryDirectory("check")
        let tree = try UploadsTree(dir.path("uploads"))
        var rng = TestRandom(seed: 3)
        for i in 0..<40 { try tree.write("f\(i).jpg", rng.bytes(i == 17 ? 50_000 : Int(rng.next() % 3000))) }
        try tree.write("empty.jpg", [])
        let walk = try FileTreeWalker(root: tree.root, excludes: ExcludeMatcher([])).walk()
        let archiver = FileArchiver(root: tree.root, prefix: "files/", policy: HashReusePolicy(kind: .files, previous: nil, now: Date()))
        let zip = dir.path("out.zip")
        let writer = try ZipWriter(creating: zip)
        let result = try archiver.archive(walk.files, into: writer)
        var manifest = Manifest(backupId: "x", kind: .files, createdAt: Date(), host: "h", toolVersion: "t", entries: result.entries)
        manifest.files = nil
        let bytes = try ManifestWriter.encode(manifest)
        try writer.addEntry(Manifest.entryName, data: bytes, modified: Date())
        try writer.finish()
        let check = FileArchiveCheck(threads: 2, regionBytes: 8192)
        try check.check(zip, manifest: manifest, manifestBytes: bytes)

        for name in ["files/f3.jpg", "files/f17.jpg"] {
            let entry = try #require(try ZipReader(url: zip).entry(named: name))
            let fd = open(zip.path, O_RDWR)
            var byte: UInt8 = 0
            let at = off_t(entry.dataOffset + entry.size - 1)
            pread(fd, &byte, 1, at)
            byte ^= 0x40
            pwrite(fd, &byte, 1, at)
            #expect(throws: BackupError.self, "\(name)") { try check.check(zip, manifest: manifest, manifestBytes: bytes) }
            byte ^= 0x40
            pwrite(fd, &byte, 1, at)
            close(fd)
        }
        try check.check(zip, manifest: manifest, manifestBytes: bytes)
    }

    @Test("An archive of more than 65,535 entries (ZIP64 end of directory) reads back; unzip agrees")
    func manyEntries() throws {
        let dir = TemporaryDirectory("many")
        let zip = dir.path("many.zip")
        let writer = try ZipWriter(creating: zip)
        let count = 70_000
        var entries: [ZipWriter.PreparedEntry] = []
        let byte: [UInt8] = [42]
        try byte.withUnsafeBytes { one in
            for i in 0..<count {
                entries.append(ZipWriter.PreparedEntry(name: "files/\(i / 1000)/\(i).jpg", bytes: one, crc32: crc32Of(one), modified: Date(), mode: 0o644))
                if entries.count == 1000 { try writer.addEntries(entries); entries = [] }
            }
        }
        try writer.finish()
        let reader = try ZipReader(url: zip)
        #expect(reader.entries.count == count)
        #expect(reader.entry(named: "files/69/69999.jpg")?.size == 1)
        let listing = try run("/usr/bin/unzip", ["-qql", zip.path])
        #expect(listing.output.split(separator: "\n").count == count)
    }

    @Test("Exclude patterns: anchored paths, names at any depth, **, character classes")
    func excludePatterns() {
        let m = ExcludeMatcher(["paint-swatches/**", "*.tmp", "products/**/thumbs", "[Tt]humbs.db", "cache/"])
        #expect(m.excludes(directory: "paint-swatches"))
        #expect(m.excludes(file: "paint-swatches/a/b.png"))
        #expect(!m.excludes(file: "products/paint-swatches.png"))
        #expect(!m.excludes(directory: "products/paint-swatches"))
        #expect(m.excludes(file: "products/x/upload.tmp") && m.excludes(file: "a.tmp"))
        #expect(!m.excludes(file: "products/x/upload.tmp.jpg"))
        #expect(m.excludes(directory: "products/thumbs") && m.excludes(directory: "products/a/b/thumbs"))
        #expect(!m.excludes(directory: "products/a/thumbs2"))
        #expect(m.excludes(file: "products/Thumbs.db") && m.excludes(file: "thumbs.db"))
        #expect(m.excludes(directory: "products/cache") && m.excludes(directory: "cache"))
        #expect(!ExcludeMatcher([]).excludes(file: "anything"))
        #expect(ExcludeMatcher(["**/*.bak"]).excludes(file: "x.bak") && ExcludeMatcher(["**/*.bak"]).excludes(file: "a/b/x.bak"))
    }

    @Test("File times keep their nanoseconds through JSON; odd ones too")
    func fileTimes() throws {
        for time in [FileTime(seconds: 0, nanoseconds: 0), FileTime(seconds: 1_700_000_000, nanoseconds: 123_456_789),
                     FileTime(seconds: -1, nanoseconds: 999_999_999), FileTime(seconds: 4_102_444_800, nanoseconds: 1),
                     FileTime(seconds: 951_782_400, nanoseconds: 5)] {  // 2000-02-29
            #expect(FileTime(time.description) == time, "\(time)")
        }
        #expect(FileTime(seconds: 1_700_000_000, nanoseconds: 5).description == "2023-11-14T22:13:20.000000005Z")
        #expect(FileTime("2023-11-14T22:13:20.5Z") == FileTime(seconds: 1_700_000_000, nanoseconds: 500_000_000))
        #expect(FileTime("2023-11-14T22:13:20Z") == FileTime(seconds: 1_700_000_000, nanoseconds: 0))
        for bad in ["", "2023-11-14", "2023-11-14T22:13:20", "2023-13-14T22:13:20Z", "2023-11-14T22:13:20.1234567890Z", "x023-11-14T22:13:20Z"] {
            #expect(FileTime(bad) == nil, "\(bad)")
        }
    }

    @Test("The hand-written manifest is ordinary JSON that decodes to the same manifest")
    func manifestWriter() throws {
        var manifest = Manifest(backupId: "b", kind: .full, createdAt: Date(timeIntervalSince1970: 1_790_000_000.123), host: "h", toolVersion: "t")
        manifest.entries = [
            Manifest.Entry(path: "db/pos.sqlite.gz", size: 10, sha256: String(repeating: "a", count: 64), sourcePath: "/srv/pos \"x\"/pos.db"),
            Manifest.Entry(path: "files/products/Café \"quoted\" back\\slash.jpg", size: 0, sha256: String(repeating: "b", count: 64),
                           mode: 0o640, modified: FileTime(seconds: 1_700_000_000, nanoseconds: 7), crc32: 0),
            Manifest.Entry(path: "files/😀/tab\there", size: UInt64.max, sha256: "c", mode: 0o7777, modified: FileTime(seconds: -5, nanoseconds: 1), crc32: .max),
        ]
        manifest.files = FileSetSummary(root: "/srv/pos/uploads", prefix: "files/", excludes: ["paint-swatches/**"], fileCount: 2, totalBytes: 3,
                                        previousBackupId: nil, deleted: ["files/gone.jpg"], skipped: [SkippedFile(path: "files/l", reason: "link")],
                                        hashing: .init(fullRehash: true, reason: "r", lastFullRehashAt: Date(timeIntervalSince1970: 1_790_000_000),
                                                       hashed: 2, reused: 0),
                                        scannedAt: Date(timeIntervalSince1970: 1_790_000_000))
        let bytes = try ManifestWriter.encode(manifest)
        #expect(try Manifest.decode(bytes) == Manifest.decode(try manifest.encoded()))
        #expect(try Manifest.decode(bytes).entries == manifest.entries)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains("\n    {\"crc32\":0,\"mode\":416,\"modified\":\"2023-11-14T22:13:20.000000007Z\",\"path\":"))
        var empty = manifest
        empty.entries = []
        #expect(try Manifest.decode(try ManifestWriter.encode(empty)).entries.isEmpty)
    }

    @Test("The fast reader of the previous manifest agrees with JSONDecoder, and steps aside for anything unusual")
    func previousManifestParser() throws {
        let store = try FileStore(files: 30)
        let job = try store.backup(.full)
        let json = try #require(try store.context.catalog.database.read { db in try BackupManifestRecord.fetchOne(db, key: job.id!)?.manifestJson })
        let fast = try #require(PreviousManifestParser.parse(json, prefix: "files/"))
        let manifest = try Manifest.decode(Array(json.utf8))
        #expect(fast.backupId == manifest.backupId && fast.summary == manifest.files)
        let fileEntries = manifest.entries.filter { $0.path.hasPrefix("files/") }
        #expect(fast.files.count == fileEntries.count)
        for entry in fileEntries {
            let prior = try #require(fast.files[entry.path])
            #expect(prior.sha256 == entry.sha256 && prior.size == entry.size && prior.modified == entry.modified && prior.crc32 == entry.crc32)
        }
        // An escaped character, or a manifest written by JSONEncoder: nil, and the caller decodes normally.
        #expect(PreviousManifestParser.parse(json.replacingOccurrences(of: "sku-1.jpg", with: "sku-\\1.jpg"), prefix: "files/") == nil)
        #expect(PreviousManifestParser.parse(String(decoding: try manifest.encoded(), as: UTF8.self), prefix: "files/") == nil)
        let previous = try #require(try PreviousFiles.load(store.context.catalog, root: store.tree.root, prefix: "files/"))
        #expect(previous.files.count == fileEntries.count && previous.backupId == job.uuid)
    }

    @Test("The walk is sorted, skips staging folders, and reports names that are not UTF-8")
    func walker() throws {
        let dir = TemporaryDirectory("walk")
        let tree = try UploadsTree(dir.path("uploads"))
        for name in ["b/2.jpg", "b/10.jpg", "a.jpg", "B.jpg", "b/sub/x.jpg", ".caps-restore-1-abc/left.jpg"] { try tree.write(name, [1]) }
        let bad = Array(tree.root.path.utf8) + Array("/bad-".utf8) + [0xFF, 0]
        let fd = bad.withUnsafeBufferPointer { $0.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_CREAT | O_WRONLY, 0o644) } }
        #expect(fd >= 0)
        close(fd)
        let walk = try FileTreeWalker(root: tree.root, excludes: ExcludeMatcher([])).walk()
        #expect(walk.files.map(\.path) == ["B.jpg", "a.jpg", "b/10.jpg", "b/2.jpg", "b/sub/x.jpg"])
        #expect(walk.skipped.count == 1 && walk.skipped[0].reason.contains("UTF-8"))
        #expect(walk.totalBytes == 5)
    }
}
