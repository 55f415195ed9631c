import Foundation

/// What a backup of the uploads starts from: the walked tree, the previous backup of the same folder
/// (for hash reuse and the list of deleted files), and the hashing policy that follows from them.
struct FileScan {
    let root: URL
    let prefix: String
    let excludes: [String]
    let scannedAt: Date
    var walk: FileTreeWalker.Result
    var previous: PreviousFiles?
    let policy: HashReusePolicy

    /// Walks the tree while another thread decodes the previous manifest (the two take about as long).
    static func run(root: URL, prefix: String, excludes: [String], kind: BackupKind, catalog: Catalog, now: Date) throws -> FileScan {
        let loading = Background("previous-manifest") { try PreviousFiles.load(catalog, root: root, prefix: prefix) }
        let walk = try FileTreeWalker(root: root, excludes: ExcludeMatcher(excludes), namePrefix: prefix).walk()
        let previous = try loading.value()
        GlibcExtras.trimHeap()  // decoding the previous manifest freed several times its size
        return FileScan(root: root, prefix: prefix, excludes: excludes, scannedAt: now, walk: walk, previous: previous,
                        policy: HashReusePolicy(kind: kind, previous: previous, now: now))
    }

    /// The manifest's `files` section once the files are archived: what was skipped (by the walk or
    /// while reading) and which files of the previous backup are gone.
    func summary(of archived: FileArchiver.Result) -> FileSetSummary {
        let skipped = walk.skipped.map { SkippedFile(path: prefix + $0.path, reason: $0.reason) } + archived.skipped
        var present = Set(archived.entries.lazy.map(\.path))
        for item in skipped { present.insert(item.path) }
        let deleted = previous.map { $0.files.keys.filter { !present.contains($0) }.sorted() } ?? []
        return FileSetSummary(
            root: root.path, prefix: prefix, excludes: excludes, fileCount: archived.entries.count, totalBytes: archived.bytes,
            previousBackupId: previous?.backupId, deleted: deleted, skipped: skipped,
            hashing: .init(fullRehash: policy.fullRehash, reason: policy.reason, lastFullRehashAt: policy.lastFullRehashAt,
                           hashed: archived.hashed, reused: archived.reused),
            scannedAt: scannedAt)
    }
}
