import Crypto
import Foundation
import GRDB
import GRDBSQLite

/// A SHA-256 as its 32 bytes: half the memory of its hex `String`, and no heap block.
struct SHA256Bytes: Sendable, Equatable {
    private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    init() {}

    init(_ digest: SHA256.Digest) {
        withUnsafeMutableBytes(of: &words) { out in digest.withUnsafeBytes { out.copyMemory(from: $0) } }
    }

    /// From 64 hex digits (either case); nil for anything else.
    init?(hex: UnsafeBufferPointer<UInt8>) {
        guard hex.count == 64 else { return nil }
        var ok = true
        withUnsafeMutableBytes(of: &words) { out in
            for i in 0..<32 {
                guard let high = Self.nibble(hex[2 * i]), let low = Self.nibble(hex[2 * i + 1]) else { ok = false; return }
                out[i] = high << 4 | low
            }
        }
        guard ok else { return nil }
    }

    init?(hex: String) {
        var text = hex
        guard let value = text.withUTF8({ SHA256Bytes(hex: $0) }) else { return nil }
        self = value
    }

    static func == (a: SHA256Bytes, b: SHA256Bytes) -> Bool {
        a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
    }

    private static let digits = Array("0123456789abcdef".utf8)

    /// Appends the 64 lowercase hex digits.
    func appendHex(to out: inout [UInt8]) {
        withUnsafeBytes(of: words) { raw in
            for byte in raw {
                out.append(Self.digits[Int(byte >> 4)])
                out.append(Self.digits[Int(byte & 0x0F)])
            }
        }
    }

    var hex: String {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        appendHex(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: c - 48
        case 97...102: c - 87
        case 65...70: c - 55
        default: nil
        }
    }
}

/// What the previous backup of the files recorded about one file.
struct PreviousFile: Sendable, Equatable {
    var size: UInt64
    var modified: FileTime
    var crc32: UInt32
    /// Nil if the manifest's value is not 64 hex digits: never reused.
    var digest: SHA256Bytes?

    init(size: UInt64, modified: FileTime, crc32: UInt32, digest: SHA256Bytes?) {
        self.size = size
        self.modified = modified
        self.crc32 = crc32
        self.digest = digest
    }

    init(size: UInt64, modified: FileTime, crc32: UInt32, sha256: String) {
        self.init(size: size, modified: modified, crc32: crc32, digest: SHA256Bytes(hex: sha256))
    }

    var sha256: String { digest?.hex ?? "" }
}

/// A `PreviousFile` in 56 bytes (an optional one would take 64), or none.
struct PackedPreviousFile {
    private var size: UInt64
    private var seconds: Int64
    /// 30 bits of nanoseconds, and two flags above them.
    private var nanoseconds: UInt32
    private var crc32: UInt32
    private var digest: SHA256Bytes

    private static let noDigest: UInt32 = 1 << 31
    private static let absent: UInt32 = 1 << 30

    init(_ file: PreviousFile) {
        size = file.size
        seconds = file.modified.seconds
        nanoseconds = UInt32(bitPattern: file.modified.nanoseconds) & (Self.absent - 1) | (file.digest == nil ? Self.noDigest : 0)
        crc32 = file.crc32
        digest = file.digest ?? SHA256Bytes()
    }

    static let none: PackedPreviousFile = {
        var packed = PackedPreviousFile(PreviousFile(size: 0, modified: FileTime(seconds: 0, nanoseconds: 0), crc32: 0, digest: nil))
        packed.nanoseconds |= absent
        return packed
    }()

    var file: PreviousFile? {
        guard nanoseconds & Self.absent == 0 else { return nil }
        return PreviousFile(size: size, modified: FileTime(seconds: seconds, nanoseconds: Int32(bitPattern: nanoseconds & (Self.absent - 1))),
                         crc32: crc32, digest: nanoseconds & Self.noDigest == 0 ? digest : nil)
    }
}

/// The file entries of a previous manifest, by entry name (`files/products/…`), compactly: the names
/// in one `PathTable` with a `PathIndex`, and a 56-byte record each (~105 bytes a file; a
/// `[String: PreviousFile]` took ~250). Read-only once `seal()`ed. A file backup uses it only to match the
/// walk (`FileList.attach`), then lets it go.
struct PreviousFileTable: Sendable, ExpressibleByDictionaryLiteral {
    private(set) var names = PathTable()
    private var records: [PackedPreviousFile] = []
    private var index: PathIndex?

    init() {}

    init(dictionaryLiteral elements: (String, PreviousFile)...) {
        for (name, file) in elements { append(name, file) }
        seal()
    }

    var count: Int { records.count }
    var isEmpty: Bool { records.isEmpty }

    mutating func reserve(_ count: Int) {
        records.reserveCapacity(count)
    }

    mutating func append(_ name: UnsafeBufferPointer<UInt8>, _ file: PreviousFile) {
        precondition(index == nil, "sealed")
        names.append(name)
        records.append(PackedPreviousFile(file))
    }

    mutating func append(_ name: String, _ file: PreviousFile) {
        var name = name
        name.withUTF8 { append($0, file) }
    }

    /// Builds the index: lookups work from here on.
    mutating func seal() {
        names.compact()
        records = records.compacted()
        index = PathIndex(names)
    }

    func file(_ i: Int) -> PreviousFile { records[i].file! }

    func packed(_ i: Int) -> PackedPreviousFile { records[i] }

    /// The number of the file recorded under this entry name.
    func find(_ name: UnsafeBufferPointer<UInt8>) -> Int? {
        index?.find(name, in: names)
    }

    func find(_ name: String) -> Int? {
        var name = name
        return name.withUTF8 { find($0) }
    }

    subscript(name: String) -> PreviousFile? {
        find(name).map { file($0) }
    }

    func name(_ i: Int) -> String { names.string(i) }
}

/// The previous backup holding the uploads (kind `files` or `full`), as change detection needs it:
/// the recorded size, mtime, CRC-32 and SHA-256 of each file, by entry name.
struct PreviousFiles: Sendable {
    var backupId: String
    var summary: FileSetSummary
    var files: PreviousFileTable

    /// The newest succeeded backup with files of the same uploads folder, or nil.
    static func load(_ catalog: Catalog, root: URL, prefix: String) throws -> PreviousFiles? {
        let candidates = try catalog.jobs(kind: .files, status: .succeeded, limit: 1)
            + catalog.jobs(kind: .full, status: .succeeded, limit: 1)
        guard let job = candidates.max(by: { $0.startedAt < $1.startedAt }), let id = job.id else { return nil }
        let parsed = try catalog.database.read { db -> PreviousManifestParser.Parsed? in
            // Streamed from the row in 1 MiB pieces: the whole manifest (~42 MB at 200,000 files) is
            // never in memory, as a `String` or otherwise.
            if let parsed = try PreviousManifestParser.parse(manifestOf: id, in: db, prefix: prefix) { return parsed }
            guard let json = try BackupManifestRecord.fetchOne(db, key: id)?.manifestJson else { return nil }
            return try decode(json, prefix: prefix)
        }
        guard let parsed, parsed.summary.root == root.path, parsed.summary.prefix == prefix else { return nil }
        return PreviousFiles(backupId: parsed.backupId, summary: parsed.summary, files: parsed.files)
    }

    /// The ordinary way, for manifests the fast parser does not recognise.
    private static func decode(_ json: String, prefix: String) throws -> PreviousManifestParser.Parsed? {
        let manifest = try Manifest.decode(Array(json.utf8))
        guard let summary = manifest.files else { return nil }
        var files = PreviousFileTable()
        for entry in manifest.entries where PathBytes.hasPrefix(entry.path, prefix) {
            guard let modified = entry.modified, let crc = entry.crc32 else { continue }
            files.append(entry.path, PreviousFile(size: entry.size, modified: modified, crc32: crc, sha256: entry.sha256))
        }
        files.seal()
        return PreviousManifestParser.Parsed(summary: summary, backupId: manifest.backupId, files: files)
    }
}

/// When a file's SHA-256 may be taken from the previous manifest instead of being computed.
///
/// Reuse needs the same size, the same mtime to the nanosecond, and the same CRC-32 of the bytes just
/// read (the CRC is computed anyway for the ZIP): an edit that kept size and mtime is still caught,
/// unless it also keeps the CRC-32 (one chance in four billion). Every 28 days (every 4th weekly run)
/// and in every monthly full archive all files are hashed from their bytes again, so a wrong recorded
/// hash, whatever its cause, lives at most four weeks and never reaches a monthly archive.
struct HashReusePolicy: Sendable {
    static let fullRehashInterval: TimeInterval = 28 * 86_400
    /// A weekly schedule drifts by minutes and DST moves it by an hour: the 4th run must still qualify.
    static let slack: TimeInterval = 12 * 3600

    let fullRehash: Bool
    let reason: String
    let lastFullRehashAt: Date

    init(kind: BackupKind, previous: PreviousFiles?, now: Date) {
        if kind == .full {
            (fullRehash, reason) = (true, "monthly full archive: every file is hashed from its bytes")
        } else if let previous {
            let last = previous.summary.hashing.lastFullRehashAt
            if now.timeIntervalSince(last) >= Self.fullRehashInterval - Self.slack {
                (fullRehash, reason) = (true, "the last full re-hash (\(Timestamp.iso8601(last))) is 28 days old")
            } else if last > now + 86_400 {
                (fullRehash, reason) = (true, "the last full re-hash is dated in the future (\(Timestamp.iso8601(last))): the clock moved")
            } else {
                (fullRehash, reason) = (false, "unchanged files (size, mtime and CRC-32) keep the SHA-256 of backup \(previous.backupId); next full re-hash 28 days after \(Timestamp.iso8601(last))")
            }
        } else {
            (fullRehash, reason) = (true, "no previous backup of these files")
        }
        lastFullRehashAt = fullRehash ? now : previous!.summary.hashing.lastFullRehashAt
    }

    /// The recorded SHA-256 to reuse for these bytes, or nil to compute it.
    func reusable(_ recorded: PreviousFile?, size: UInt64, modified: FileTime, crc32: UInt32) -> SHA256Bytes? {
        guard !fullRehash, let recorded, recorded.size == size, recorded.modified == modified, recorded.crc32 == crc32 else { return nil }
        return recorded.digest
    }
}
