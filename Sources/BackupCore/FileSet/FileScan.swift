import Foundation

/// What a backup of the uploads starts from: the walked tree, the previous backup of the same folder
/// (for hash reuse and the list of deleted files), and the hashing policy that follows from them.
struct FileScan {
    let root: URL
    let prefix: String
    let excludes: [String]
    let scannedAt: Date
    /// The files, each with what the previous backup recorded about it when its hash may be reused.
    var walk: FileTreeWalker.Result
    /// The previous backup's id and summary; its file records are in `walk.files` (or were not needed).
    let previousBackupId: String?
    /// Files in the previous backup that are neither in the walk nor among the paths it skipped.
    let deleted: [String]
    let policy: HashReusePolicy

    /// Reads the previous manifest, walks the tree, then matches the two: every file in the walk is
    /// archived or listed as skipped, so the previous backup's files that the walk did not find are
    /// the deleted ones, known before anything is read.
    ///
    /// One after the other, on this thread: reading the manifest on another thread while walking saved
    /// ~60 ms at 52,000 files, but raised the peak by ~15 MB at 200,000 (malloc's per-thread arenas).
    static func run(root: URL, prefix: String, excludes: [String], kind: BackupKind, catalog: Catalog, now: Date) throws -> FileScan {
        let previous = try PreviousFiles.load(catalog, root: root, prefix: prefix)
        var walk = try FileTreeWalker(root: root, excludes: ExcludeMatcher(excludes), namePrefix: prefix).walk()
        let policy = HashReusePolicy(kind: kind, previous: previous, now: now)
        let previousBackupId = previous?.backupId
        var deleted: [String] = []
        if let previous {
            // The records are kept only if a SHA-256 may be reused.
            let matched = walk.files.attach(previous.files, prefix: prefix, keepRecords: !policy.fullRehash)
            let skipped = Set(walk.skipped.map { prefix + $0.path })
            for i in matched.indices where !matched[i] {
                let name = previous.files.name(i)
                if !skipped.contains(name) { deleted.append(name) }
            }
            deleted.sort()
        }
        // The previous manifest's table goes now; its memory back to the kernel before the archive grows.
        _ = consume previous
        GlibcExtras.trimHeap()
        return FileScan(root: root, prefix: prefix, excludes: excludes, scannedAt: now, walk: walk, previousBackupId: previousBackupId,
                        deleted: deleted, policy: policy)
    }

    /// The manifest's `files` section once the files are archived: what was skipped (by the walk or
    /// while reading) and which files of the previous backup are gone.
    func summary(of archived: FileArchiver.Result) -> FileSetSummary {
        let skipped = walk.skipped.map { SkippedFile(path: prefix + $0.path, reason: $0.reason) } + archived.skipped
        return FileSetSummary(
            root: root.path, prefix: prefix, excludes: excludes, fileCount: archived.count, totalBytes: archived.bytes,
            previousBackupId: previousBackupId, deleted: deleted, skipped: skipped,
            hashing: .init(fullRehash: policy.fullRehash, reason: policy.reason, lastFullRehashAt: policy.lastFullRehashAt,
                           hashed: archived.hashed, reused: archived.reused),
            scannedAt: scannedAt)
    }
}
