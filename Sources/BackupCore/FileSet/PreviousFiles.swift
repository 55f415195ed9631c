import Foundation

/// What the previous backup of the files recorded about one file.
struct PriorFile: Sendable {
    var size: UInt64
    var modified: FileTime
    var crc32: UInt32
    var sha256: String
}

/// The previous backup holding the uploads (kind `files` or `full`), as change detection needs it:
/// the recorded size, mtime, CRC-32 and SHA-256 of each file, by entry name.
struct PreviousFiles: Sendable {
    var backupId: String
    var summary: FileSetSummary
    var files: [String: PriorFile]

    /// The newest succeeded backup with files of the same uploads folder, or nil.
    static func load(_ catalog: Catalog, root: URL, prefix: String) throws -> PreviousFiles? {
        let candidates = try catalog.jobs(kind: .files, status: .succeeded, limit: 1)
            + catalog.jobs(kind: .full, status: .succeeded, limit: 1)
        guard let job = candidates.max(by: { $0.startedAt < $1.startedAt }), let id = job.id,
              let json = try catalog.database.read({ db in try BackupManifestRecord.fetchOne(db, key: id)?.manifestJson }) else { return nil }
        let parsed = try PriorFileParser.parse(json, prefix: prefix).map { ($0.backupId, $0.summary, $0.files) } ?? decode(json, prefix: prefix)
        guard let summary = parsed.1, summary.root == root.path, summary.prefix == prefix else { return nil }
        return PreviousFiles(backupId: parsed.0, summary: summary, files: parsed.2)
    }

    /// The ordinary way, for manifests the fast parser does not recognise.
    private static func decode(_ json: String, prefix: String) throws -> (String, FileSetSummary?, [String: PriorFile]) {
        let manifest = try Manifest.decode(Array(json.utf8))
        var files: [String: PriorFile] = [:]
        files.reserveCapacity(manifest.entries.count)
        for entry in manifest.entries where entry.path.hasPrefix(prefix) {
            guard let modified = entry.modified, let crc = entry.crc32 else { continue }
            files[entry.path] = PriorFile(size: entry.size, modified: modified, crc32: crc, sha256: entry.sha256)
        }
        return (manifest.backupId, manifest.files, files)
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
    func reusable(_ prior: PriorFile?, size: UInt64, modified: FileTime, crc32: UInt32) -> String? {
        guard !fullRehash, let prior, prior.size == size, prior.modified == modified, prior.crc32 == crc32 else { return nil }
        return prior.sha256
    }
}
