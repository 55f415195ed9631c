import Foundation

/// The chain rules of incremental database backups (design.md):
/// each incremental names its parent (the newest database backup before it, full or incremental);
/// a restore checks the whole chain before touching anything; a missing or damaged link makes the
/// next run a full backup, with an alert, never a broken chain.
public struct IncrementalChain: Sendable {
    /// Longer chains cost more to restore and put more eggs in one basket; past this the next run is full.
    public static let maxLength = 48
    public let context: BackupContext

    public init(context: BackupContext) { self.context = context }

    /// The links from the chain's full backup to `job`, oldest first, each checked to be a
    /// succeeded backup whose archive is present. Throws naming the first missing or broken link.
    public func links(to job: BackupJob) throws -> [BackupJob] {
        var chain = [job]
        var current = job
        while current.kind == .dbIncremental {
            guard let parentId = current.parentId else {
                throw BackupError(.corruptArchive, "Incremental backup \(current.id ?? 0) does not name its parent and cannot be restored.")
            }
            guard let parent = try context.catalog.job(id: parentId) else {
                throw BackupError(.notFound, "Backup \(job.id ?? 0) needs backup \(parentId), which is not in the catalog.")
            }
            guard parent.status == .succeeded, let path = parent.path, POSIXFile.exists(URL(fileURLWithPath: path)) else {
                throw BackupError(.notFound, "Backup \(job.id ?? 0) needs backup \(parentId) (\(parent.kind.rawValue)), whose archive is \(parent.status == .deleted ? "deleted" : "missing").",
                                  detail: parent.path)
            }
            chain.append(parent)
            current = parent
            guard chain.count <= 10_000 else { throw BackupError(.corruptArchive, "The backup chain loops.") }
        }
        guard current.kind == .dbFull else {
            throw BackupError(.corruptArchive, "The chain of backup \(job.id ?? 0) does not start with a full database backup.")
        }
        return chain.reversed()
    }

    /// The parent for the next incremental, or nil when the next database backup must be full:
    /// no database backup yet, chain at its maximum length, page index not at hand, or a link
    /// missing or damaged (then an alert says so).
    func parentForNextIncremental() throws -> (job: BackupJob, delta: DeltaParent)? {
        let candidates = try context.catalog.jobs(kind: .dbFull, status: .succeeded, limit: 1)
            + context.catalog.jobs(kind: .dbIncremental, status: .succeeded, limit: 1)
        guard let newest = candidates.max(by: { ($0.startedAt, $0.id ?? 0) < ($1.startedAt, $1.id ?? 0) }),
              let imageSha256 = newest.imageSha256 else { return nil }
        let chain: [BackupJob]
        do {
            chain = try links(to: newest)
            for link in chain {
                let sha = try Checksums.sha256(of: URL(fileURLWithPath: link.path!))
                guard sha == link.sha256 else {
                    throw BackupError(.checksumMismatch, "The archive of backup \(link.id!) is damaged (checksum mismatch).", detail: link.path)
                }
            }
        } catch {
            let reason = BackupError.wrap(error, "The incremental chain is broken.").message
            try? context.catalog.raiseAlert(.warning, kind: "chain-broken",
                                            message: "The chain of hourly backups is broken (\(reason)). This backup runs as a full backup instead.",
                                            at: context.now())
            return nil
        }
        guard chain.count < Self.maxLength,
              let index = PageIndex.read(from: context.dataDirectory.pageIndex(newest.uuid)) else { return nil }
        return (newest, DeltaParent(backupId: newest.uuid, imageSha256: imageSha256, index: index))
    }
}
