import Foundation

/// The `files` section of a manifest (kinds `files` and `full`). Every file itself is an entry of the
/// manifest under `prefix` with its size, mode, mtime, CRC-32 and SHA-256; this section says what was
/// walked, what was left out and why, and what disappeared since the previous backup of the files.
/// All paths here are archive entry names (`files/products/…`), like the entries'.
public struct FileSetSummary: Codable, Sendable, Equatable {
    /// The uploads folder on the store server.
    public var root: String
    /// Entry name = prefix + path relative to `root`.
    public var prefix: String
    /// The exclude patterns in force (settings `files.excludes`), relative to `root`.
    public var excludes: [String]
    public var fileCount: Int
    public var totalBytes: UInt64
    /// The backup (`files` or `full`) this one was compared with; nil for the first.
    public var previousBackupId: String?
    /// Files in the previous backup that no longer exist (or are now excluded).
    public var deleted: [String]
    /// Files that exist but are not in the archive, with the reason: changed or vanished while being
    /// read (twice), unreadable, a symbolic link, a name a ZIP cannot hold. A restore never deletes them.
    public var skipped: [SkippedFile]
    public var hashing: Hashing
    /// When the walk began: changes after this may or may not be in the archive.
    public var scannedAt: Date

    public struct Hashing: Codable, Sendable, Equatable {
        /// Every file's SHA-256 was computed from its bytes in this run.
        public var fullRehash: Bool
        /// Why this run did or did not re-hash everything.
        public var reason: String
        /// The last run that hashed every file from its bytes (this one when `fullRehash`).
        public var lastFullRehashAt: Date
        /// Files hashed from their bytes, and files whose SHA-256 was taken from the previous manifest
        /// because size, mtime and the CRC-32 of the bytes just read all matched.
        public var hashed: Int
        public var reused: Int
    }

    public init(root: String, prefix: String, excludes: [String], fileCount: Int, totalBytes: UInt64, previousBackupId: String?,
                deleted: [String], skipped: [SkippedFile], hashing: Hashing, scannedAt: Date) {
        self.root = root
        self.prefix = prefix
        self.excludes = excludes
        self.fileCount = fileCount
        self.totalBytes = totalBytes
        self.previousBackupId = previousBackupId
        self.deleted = deleted
        self.skipped = skipped
        self.hashing = hashing
        self.scannedAt = scannedAt
    }
}
