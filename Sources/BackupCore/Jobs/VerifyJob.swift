import Foundation

/// The result of `caps-backup verify`.
public struct VerifyReport: Codable, Sendable {
    public var id: Int64?
    public var backupId: String?
    public var kind: BackupKind?
    public var path: String
    public var status: String
    public var sha256: String?
    public var checksumSource: String?
    public var entries: Int?
    public var imageSha256: String?
    /// For an incremental: the backup ids whose archives were verified to rebuild it, oldest first.
    public var chain: [String]?
    public var integrity: String?
    public var error: String?
}

/// Verifies an archive all the way (R11.5): its SHA-256 against the catalog and the sidecar, every
/// entry against the manifest, for an incremental every archive it builds on, the database image
/// against its SHA-256, and `PRAGMA integrity_check` on the extracted database. Changes nothing but a scratch folder it removes afterwards.
public struct VerifyJob: Sendable {
    public let context: BackupContext
    public init(context: BackupContext) { self.context = context }

    public func run(archive: URL, job: BackupRecord? = nil, progress: ProgressHandler? = nil) -> VerifyReport {
        var report = VerifyReport(id: job?.id, backupId: job?.uuid, kind: job?.kind, path: archive.path, status: "failed")
        do {
            // Verify holds no job lock: its scratch folder is kept from another process's crash recovery.
            let scratch = try UnlockedScratch(context.dataDirectory, name: "verify")
            defer { withExtendedLifetime(scratch) {} }
            let work = scratch.url
            let verified = try ArchiveVerifier().verify(archive, expectedSHA256: job?.sha256, progress: progress)
            report.sha256 = verified.sha256
            report.checksumSource = verified.checksumSource
            report.entries = verified.manifest.entries.count
            report.backupId = verified.manifest.backupId
            report.kind = verified.manifest.kind
            if verified.manifest.database != nil {
                try POSIXFile.makePrivateDirectory(work)
                let image = work.appendingPathComponent("image.sqlite")
                let prepared = try DatabaseImagePreparer(context: context)
                    .prepare(job.map { .backup($0) } ?? .archive(archive), into: image, progress: progress)
                report.imageSha256 = prepared.sha256
                report.chain = prepared.chain
                let problems = try ParallelIntegrityCheck(path: image.path).problems(progress: progress)
                report.integrity = problems.map { $0.prefix(5).joined(separator: "; ") } ?? "ok"
                record(report.integrity!, for: job, imageSha256: prepared.sha256)
                if let problems {
                    throw BackupError(.corruptArchive, "The database in this backup fails SQLite's integrity check.",
                                      detail: problems.prefix(5).joined(separator: "; "))
                }
            }
            report.status = "ok"
        } catch {
            report.error = BackupError.wrap(error, "Verification failed.").message
        }
        return report
    }

    /// Remembers the check on the backup's record: a later restore of this bit-identical image
    /// (same SHA-256) can rely on it instead of spending the time again.
    private func record(_ integrity: String, for job: BackupRecord?, imageSha256: String) {
        guard var job, job.imageSha256 == imageSha256 else { return }
        job.integrityCheck = integrity
        job.integrityCheckedAt = context.now()
        try? context.catalog.update(job)
    }
}
