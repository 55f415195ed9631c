import Foundation

/// What kind of backup an archive holds. The raw values are the CLI's and the API's words.
public enum BackupKind: String, Codable, Sendable, CaseIterable {
    case dbFull = "db-full"
    case dbIncremental = "db-incremental"
    case files
    case full

    /// The archives/ sub-folder for this kind.
    public var folder: String {
        switch self {
        case .dbFull, .dbIncremental: "db"
        case .files: "files"
        case .full: "full"
        }
    }
}

/// `manifest.json`, the last entry of every archive. It makes an archive self-describing: the
/// catalog can be rebuilt from a folder of archives, and a technician can check everything with
/// `unzip`, `sha256sum` and `gunzip` alone.
public struct Manifest: Codable, Sendable, Equatable {
    public static let currentFormat = "caps-backup/1"
    public static let entryName = "manifest.json"
    /// A manifest is small; anything bigger is a damaged or hostile archive.
    public static let maxSize: UInt64 = 64 << 20

    public var format: String
    public var backupId: String
    public var kind: BackupKind
    public var createdAt: Date
    public var host: String
    public var toolVersion: String
    public var parentId: String?
    public var entries: [Entry]
    public var database: DatabaseImage?
    /// For `files` and `full` backups: the uploads folder walked, what was left out and why, and
    /// what was deleted since the previous backup of the files. Each file is an entry under `files/`.
    public var files: FileSetSummary?

    public struct Entry: Codable, Sendable, Equatable {
        public var path: String
        public var size: UInt64
        public var sha256: String
        /// Where the entry came from on the store server (for config files and the database).
        public var sourcePath: String?
        /// For files from the uploads folder: permission bits, modification time to the nanosecond,
        /// and CRC-32 (which lets the next backup reuse `sha256` only for bytes that still match it).
        public var mode: UInt16?
        public var modified: FileTime?
        public var crc32: UInt32?

        public init(path: String, size: UInt64, sha256: String, sourcePath: String? = nil,
                    mode: UInt16? = nil, modified: FileTime? = nil, crc32: UInt32? = nil) {
            self.path = path
            self.size = size
            self.sha256 = sha256
            self.sourcePath = sourcePath
            self.mode = mode
            self.modified = modified
            self.crc32 = crc32
        }
    }

    /// The database inside the archive: a gzip of a `VACUUM INTO` image.
    public struct DatabaseImage: Codable, Sendable, Equatable {
        public var entry: String
        public var sourcePath: String
        public var pageSize: Int
        public var pageCount: Int
        public var imageSize: UInt64
        /// SHA-256 of the uncompressed image: a restored file with this hash is bit-identical to the snapshot.
        public var imageSha256: String
        public var journalMode: String
        /// Wall-clock bounds of the snapshot's read transaction: it holds every transaction committed
        /// before `snapshotStartedAt` and none committed after `snapshotFinishedAt`.
        public var snapshotStartedAt: Date
        public var snapshotFinishedAt: Date
        /// Sizes of the gzip members, so a restore can decompress them on all cores.
        public var gzipBlockSize: Int
        public var gzipMembers: [Int]
        /// For an incremental: how to rebuild the image from its parent's. Then `entry` and
        /// `gzipMembers` describe the new pages only, in page order.
        public var delta: Delta?
    }

    /// An incremental database image: its pages are either new (stored, in order, in the pages entry)
    /// or the same content as a page of the parent image. Content, not position: `VACUUM INTO`
    /// rewrites the layout, so unchanged data moves between images but keeps its page contents.
    public struct Delta: Codable, Sendable, Equatable {
        public var parentBackupId: String
        public var parentImageSha256: String
        public var parentPageCount: Int
        /// gzip of one little-endian Int32 per page of this image: `Delta.newPage` for "the next stored
        /// page", `Delta.xorPage` for "the next stored page XOR the parent's page at this number", else
        /// (parent page number − this page number), which is 0 or constant over long runs.
        public var mapEntry: String
        /// How many pages the pages entry stores, in page order (both kinds).
        public var newPages: Int
        /// How many of them are XOR-coded against the parent's page (nil in archives from before XOR coding).
        public var xorPages: Int?

        public static let newPage = Int32.min
        /// A POS write changes a few bytes of a page (a row, a cell pointer): the XOR with the old page
        /// is mostly zeros and compresses about 3x better than the page (docs/incremental.md).
        public static let xorPage = Int32.min + 1
    }

    public init(backupId: String, kind: BackupKind, createdAt: Date, host: String, toolVersion: String,
                parentId: String? = nil, entries: [Entry] = [], database: DatabaseImage? = nil) {
        self.format = Manifest.currentFormat
        self.backupId = backupId
        self.kind = kind
        self.createdAt = createdAt
        self.host = host
        self.toolVersion = toolVersion
        self.parentId = parentId
        self.entries = entries
        self.database = database
    }

    public func encoded() throws -> [UInt8] {
        Array(try Manifest.encoder.encode(self))
    }

    public static func decode(_ bytes: [UInt8]) throws -> Manifest {
        let manifest: Manifest
        do {
            manifest = try decoder.decode(Manifest.self, from: Data(bytes))
        } catch {
            throw BackupError(.corruptArchive, "The archive's manifest is unreadable.", detail: String(describing: error))
        }
        guard manifest.format == currentFormat else {
            throw BackupError(.corruptArchive, "The archive was written in an unknown format (\(manifest.format)).")
        }
        return manifest
    }

    /// The largest database image a manifest may declare (SQLite's own limit is far above any store's).
    public static let maxImageSize: UInt64 = 1 << 40

    /// Bounds every number the restore and verify code takes from the manifest, before any of it is used
    /// to size a buffer, a loop or a file: page size and count against the image size (overflow-checked),
    /// the gzip block size and member table against what they must describe, page-map counts, entry sizes
    /// against the archive's size. A hostile or damaged manifest is refused here with a clear error
    /// instead of trapping on an overflow or allocating without limit later.
    public func checkBounds(archiveSize: UInt64) throws {
        func refuse(_ why: String) -> BackupError {
            BackupError(.corruptArchive, "The archive's manifest holds impossible values; the archive is damaged or not genuine.", detail: why)
        }
        var total: UInt64 = 0
        var sizes: [String: UInt64] = [:]
        for entry in entries {
            let (sum, overflow) = total.addingReportingOverflow(entry.size)
            guard !overflow, entry.size <= archiveSize, sum <= archiveSize else {
                throw refuse("entry \(entry.path): \(entry.size) bytes in an archive of \(archiveSize)")
            }
            total = sum
            sizes[entry.path] = entry.size
        }
        if let files {
            guard files.fileCount >= 0, files.fileCount <= entries.count, files.totalBytes <= archiveSize,
                  files.hashing.hashed >= 0, files.hashing.reused >= 0 else {
                throw refuse("files: \(files.fileCount) files, \(files.totalBytes) bytes")
            }
        }
        guard let database else { return }
        let pageSize = database.pageSize
        guard pageSize >= 512, pageSize <= 65536, pageSize & (pageSize - 1) == 0 else { throw refuse("page size \(pageSize)") }
        guard database.pageCount >= 1, database.pageCount < Int(Int32.max) else { throw refuse("page count \(database.pageCount)") }
        let (image, overflow) = UInt64(database.pageCount).multipliedReportingOverflow(by: UInt64(pageSize))
        guard !overflow, image == database.imageSize, image <= Self.maxImageSize else {
            throw refuse("\(database.pageCount) pages of \(pageSize) bytes for an image of \(database.imageSize)")
        }
        let block = database.gzipBlockSize
        guard block >= pageSize, block <= 64 << 20, block % pageSize == 0 else { throw refuse("gzip block size \(block)") }
        var stored = database.imageSize
        if let delta = database.delta {
            guard delta.parentPageCount >= 1, delta.parentPageCount < Int(Int32.max),
                  delta.newPages >= 0, delta.newPages <= database.pageCount,
                  (delta.xorPages ?? 0) >= 0, (delta.xorPages ?? 0) <= delta.newPages else {
                throw refuse("incremental: \(delta.parentPageCount) parent pages, \(delta.newPages) new, \(delta.xorPages ?? 0) XOR")
            }
            // The map is one Int32 per page, gzipped.
            guard let mapSize = sizes[delta.mapEntry], Gzip.plausible(plain: UInt64(database.pageCount) * 4, compressed: mapSize) else {
                throw refuse("page map \(delta.mapEntry) for \(database.pageCount) pages")
            }
            stored = UInt64(delta.newPages) * UInt64(pageSize)
        }
        let members = stored / UInt64(block) + (stored % UInt64(block) == 0 ? 0 : 1)
        let bound = CompressorPool.bound(block)
        guard UInt64(database.gzipMembers.count) == members, database.gzipMembers.allSatisfy({ $0 > 0 && $0 <= bound }) else {
            throw refuse("\(database.gzipMembers.count) gzip members for \(stored) bytes in blocks of \(block)")
        }
        var compressed: UInt64 = 0
        for member in database.gzipMembers { compressed += UInt64(member) }  // < 2^31 members of < 2^27 bytes: no overflow
        guard let entrySize = sizes[database.entry], compressed == entrySize else {
            throw refuse("gzip members of \(compressed) bytes for the entry \(database.entry)")
        }
    }

    public static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(Timestamp.iso8601(date))
        }
        return e
    }()

    public static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .custom { decoder in
            let c = try decoder.singleValueContainer()
            let text = try c.decode(String.self)
            guard let date = Timestamp.parse(text) else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "not an ISO 8601 time: \(text)")
            }
            return date
        }
        return d
    }()
}
