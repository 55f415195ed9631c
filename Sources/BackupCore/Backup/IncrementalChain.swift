import Foundation

/// The chain rules of incremental database backups (design.md, docs/incremental.md):
/// a chain starts with a base (an hourly backup holding every page) or a full backup, then each
/// incremental names its parent, the previous hourly; a restore checks the whole chain before
/// touching anything; a missing or damaged link makes the next run a new base, with an alert,
/// never a broken chain.
public struct IncrementalChain: Sendable {
    /// Links after a base before the next run starts a new base: about a day of hourlies, so a
    /// restore never reads more than one base and 24 incrementals.
    public static let maxLength = 24
    public let context: BackupContext

    public init(context: BackupContext) { self.context = context }

    /// The links from the chain's start (a base or a full backup) to `job`, oldest first, each
    /// checked to be a succeeded backup whose archive can be read (here, or from an off-site copy). Throws naming the first missing or broken link.
    public func links(to job: BackupRecord) throws -> [BackupRecord] {
        var chain = [job]
        var current = job
        while let parentId = current.parentId {
            guard let parent = try context.catalog.job(id: parentId) else {
                throw BackupError(.notFound, "Backup \(job.id ?? 0) needs backup \(parentId), which is not in the catalog.")
            }
            guard parent.status == .succeeded, try context.archiveStore.canRead(parent) else {
                throw BackupError(.notFound, "Backup \(job.id ?? 0) needs backup \(parentId) (\(parent.kind.rawValue)), whose archive is \(parent.status == .deleted ? "deleted" : "missing").",
                                  detail: parent.path)
            }
            chain.append(parent)
            current = parent
            guard chain.count <= 10_000 else { throw BackupError(.corruptArchive, "The backup chain loops.") }
        }
        return chain.reversed()
    }

    /// The parent for the next incremental (the newest hourly backup), or nil when the next one
    /// must be a base: no hourly yet, chain at its maximum length, page index not at hand, or a link
    /// missing or damaged (then an alert says so).
    func parentForNextIncremental() throws -> (job: BackupRecord, delta: DeltaParent)? {
        guard let newest = try context.catalog.jobs(kind: .dbIncremental, status: .succeeded, limit: 1).first,
              let imageSha256 = newest.imageSha256 else { return nil }
        let chain: [BackupRecord]
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
            _ = try? context.catalog.raise(.brokenIncrementalChain(backupId: newest.id, detail: "\(reason) A new chain starts with this backup."),
                                           at: context.now())
            return nil
        }
        guard chain.count <= Self.maxLength,
              let index = PageIndexFile.open(context.dataDirectory.pageIndex(newest.uuid)) else { return nil }
        let image = context.dataDirectory.hourlyImage(newest.uuid)
        return (newest, DeltaParent(backupId: newest.uuid, imageSha256: imageSha256, index: index,
                                    image: POSIXFile.exists(image) ? image : nil))
    }
}
