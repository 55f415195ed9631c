@testable import BackupCore
import Foundation

/// An uploads folder for file backup tests: files with chosen bytes, modes and nanosecond mtimes.
struct UploadsTree {
    let root: URL

    init(_ root: URL) throws {
        self.root = root
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    @discardableResult
    func write(_ relative: String, _ bytes: [UInt8], mode: mode_t = 0o644, mtime: FileTime? = nil) throws -> URL {
        let url = root.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
        guard chmod(url.path, mode) == 0 else { throw BackupError(.io, "chmod \(url.path)") }
        if let mtime { try setModified(url, mtime) }
        return url
    }

    func remove(_ relative: String) throws {
        try FileManager.default.removeItem(at: root.appendingPathComponent(relative))
    }

    /// A realistic little tree: products in folders of various depths, modes and sizes (one above the
    /// 8 MiB streaming threshold), an empty file, names with spaces and accents, paint swatches, and
    /// files the test's excludes leave out.
    static func generated(at root: URL, seed: UInt64 = 1, files: Int = 120) throws -> UploadsTree {
        let tree = try UploadsTree(root)
        var rng = TestRandom(seed: seed)
        let modes: [mode_t] = [0o644, 0o644, 0o600, 0o640, 0o755]
        for i in 0..<files {
            let size = i == 7 ? 9 << 20 : Int(rng.next() % 60_000) + 1
            let mtime = FileTime(seconds: 1_700_000_000 + Int64(rng.next() % 10_000_000), nanoseconds: Int32(rng.next() % 1_000_000_000))
            try tree.write("products/\(i % 7)/\(i % 3 == 0 ? "deep/er/" : "")sku-\(i).jpg", rng.bytes(size), mode: modes[i % modes.count], mtime: mtime)
        }
        try tree.write("products/empty.jpg", [])
        try tree.write("products/Café crème/photo 1.png", rng.bytes(2000), mtime: FileTime(seconds: 1_600_000_000, nanoseconds: 1))
        try tree.write("products/notes.txt", Array(String(repeating: "paint and hardware\n", count: 200).utf8))
        try tree.write("paint-swatches/harborline/HA-0001.png", rng.bytes(500))
        try tree.write("paint-swatches/truetone/TT-0002.png", rng.bytes(500))
        try tree.write("products/cache/thumb.jpg", rng.bytes(300))
        try tree.write("products/3/upload.tmp", rng.bytes(300))
        return tree
    }

    /// Every regular file below `root` (or below `folder` of it): path → content hash, size, mode, mtime.
    func state(below folder: String = "") throws -> [String: FileState] {
        var result: [String: FileState] = [:]
        let base = folder.isEmpty ? root : root.appendingPathComponent(folder)
        for relative in fileList(base) {
            let url = base.appendingPathComponent(relative)
            var st = stat()
            guard lstat(url.path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { continue }
            result[folder.isEmpty ? relative : folder + "/" + relative] =
                FileState(sha256: try sha256(url), size: UInt64(st.st_size), mode: UInt16(st.st_mode & 0o7777), modified: FileTime(st.st_mtim))
        }
        return result
    }
}

struct FileState: Equatable {
    var sha256: String
    var size: UInt64
    var mode: UInt16
    var modified: FileTime
}

func setModified(_ url: URL, _ time: FileTime) throws {
    var times = [time.timespec, time.timespec]
    guard utimensat(AT_FDCWD, url.path, &times, 0) == 0 else { throw BackupError(.io, "utimensat \(url.path)") }
}

/// Deterministic bytes for tests (SplitMix64).
struct TestRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var i = 0
        while i < count {
            var v = next()
            for _ in 0..<8 where i < count {
                out[i] = UInt8(truncatingIfNeeded: v)
                v >>= 8
                i += 1
            }
        }
        return out
    }
}

/// A clock tests move by hand.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date
    init(_ start: Date = Date(timeIntervalSince1970: 1_790_000_000)) { current = start }
    var now: Date { lock.withLock { current } }
    func advance(days: Double) { lock.withLock { current += days * 86_400 } }
}

/// A store for file backup tests: uploads, a POS database, a config file, a data directory, and the
/// excludes `paint-swatches/**`, `*.tmp` and `products/cache/**` in the settings.
struct FileStore {
    let dir = TemporaryDirectory("files")
    let tree: UploadsTree
    let database: URL
    let configFile: URL
    let clock = TestClock()
    let context: BackupContext
    static let excludes = ["paint-swatches/**", "*.tmp", "products/cache/**"]

    init(files: Int = 120, availableBytes: (@Sendable (URL) throws -> UInt64)? = nil) throws {
        tree = try UploadsTree.generated(at: dir.path("uploads"), files: files)
        database = dir.path("pos.db")
        configFile = dir.path("pos.toml")
        try makeStoreDatabase(database, rows: 500)
        try Data("[printer]\nname = \"front\"\n".utf8).write(to: configFile)
        var context = try makeContext(dir, posDatabase: database, configFiles: [configFile], availableBytes: availableBytes)
        context.uploads = tree.root
        let clock = clock
        context.now = { clock.now }
        self.context = context
        var settings = BackupSettings()
        settings.files.excludes = Self.excludes
        try SettingsStore(catalog: context.catalog).save(settings)
    }

    func backup(_ kind: BackupKind = .files) throws -> BackupRecord {
        try FileBackupJob(context: context, kind: kind).run(trigger: .manual)
    }

    func manifest(_ job: BackupRecord) throws -> Manifest {
        guard let manifest = try context.catalog.manifest(jobId: job.id!) else { throw BackupError(.notFound, "no manifest for \(job.id!)") }
        return manifest
    }

    func restoreFiles(_ job: BackupRecord, into folder: URL? = nil, deleteExtra: Bool = false) throws -> FileRestoreOutcome {
        try FileRestoreJob(context: context).run(archive: URL(fileURLWithPath: job.path!), job: job,
                                                 options: FileRestoreOptions(uploads: folder ?? tree.root, deleteExtra: deleteExtra)).1
    }

    /// What the backup should hold: the tree minus the excluded paths.
    func expectedState() throws -> [String: FileState] {
        try tree.state().filter { path, _ in
            !path.hasPrefix("paint-swatches/") && !path.hasSuffix(".tmp") && !path.hasPrefix("products/cache/")
        }
    }
}

/// Builds ZIP files byte by byte, to make the hostile ones our writer refuses to produce.
struct RawZip {
    struct Entry {
        var name: String
        var data: [UInt8]
        /// st_mode with the file type, as ZIP's external attributes carry it.
        var mode: UInt32 = 0o100644
        /// A size for the directory that differs from the data: a lying archive.
        var declaredSize: UInt32?
    }

    static func build(_ entries: [Entry]) -> [UInt8] {
        var out: [UInt8] = []
        var central: [UInt8] = []
        func u16(_ v: UInt16, _ b: inout [UInt8]) { b += [UInt8(v & 0xFF), UInt8(v >> 8)] }
        func u32(_ v: UInt32, _ b: inout [UInt8]) { for s in [0, 8, 16, 24] { b.append(UInt8((v >> UInt32(s)) & 0xFF)) } }
        for entry in entries {
            let name = Array(entry.name.utf8)
            let crc = entry.data.withUnsafeBytes { crc32Of($0) }
            let size = entry.declaredSize ?? UInt32(entry.data.count)
            let offset = UInt32(out.count)
            u32(0x0403_4b50, &out); u16(20, &out); u16(0x0800, &out); u16(0, &out); u16(0, &out); u16(0x21, &out)
            u32(crc, &out); u32(size, &out); u32(size, &out); u16(UInt16(name.count), &out); u16(0, &out)
            out += name + entry.data
            u32(0x0201_4b50, &central); u16(0x0314, &central); u16(20, &central); u16(0x0800, &central); u16(0, &central)
            u16(0, &central); u16(0x21, &central); u32(crc, &central); u32(size, &central); u32(size, &central)
            u16(UInt16(name.count), &central); u16(0, &central); u16(0, &central); u16(0, &central); u16(0, &central)
            u32(entry.mode << 16, &central); u32(offset, &central)
            central += name
        }
        let cdOffset = UInt32(out.count)
        out += central
        u32(0x0605_4b50, &out); u16(0, &out); u16(0, &out); u16(UInt16(entries.count), &out); u16(UInt16(entries.count), &out)
        u32(UInt32(central.count), &out); u32(cdOffset, &out); u16(0, &out)
        return out
    }

    /// A files archive with `entries` and a manifest that lists them as they are (or as `listed` says).
    static func filesArchive(_ entries: [Entry], listed: [Manifest.Entry]? = nil, root: String = "/srv/pos/uploads") throws -> [UInt8] {
        var manifest = Manifest(backupId: "hostile", kind: .files, createdAt: Date(), host: "elsewhere", toolVersion: "0",
                                entries: listed ?? entries.map { entry in
                                    Manifest.Entry(path: entry.name, size: UInt64(entry.data.count),
                                                   sha256: entry.data.withUnsafeBytes { Hex.sha256($0) })
                                })
        manifest.files = FileSetSummary(root: root, prefix: "files/", excludes: [], fileCount: entries.count, totalBytes: 0,
                                        previousBackupId: nil, deleted: [], skipped: [],
                                        hashing: .init(fullRehash: true, reason: "", lastFullRehashAt: Date(), hashed: 0, reused: 0),
                                        scannedAt: Date())
        return build(entries + [Entry(name: Manifest.entryName, data: try manifest.encoded())])
    }
}

func crc32Of(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
}
