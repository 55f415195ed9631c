import Foundation

/// A backup failed: the error and the job's final record (status `failed`, error recorded).
public struct BackupFailure: Error, CustomStringConvertible {
    public var error: BackupError
    public var job: BackupRecord
    public var description: String { error.description }
}

/// What a kind of backup produces before the lifecycle publishes it: an archive in the job's work
/// folder that has been written, synced and read back.
struct ProducedArchive {
    /// The verified archive, under `tmp/<job uuid>/`.
    var partial: URL
    /// Its name under `archives/<kind>/`.
    var name: String
    var sha256: String
    var size: UInt64
    var manifest: CatalogManifest
    /// The database snapshot still on disk, to check with `integrity_check` once published (nil: none).
    var snapshot: URL?
    /// The snapshot stays after the job (an hourly's image, for the next hourly); else it is removed with the job's work folder.
    var snapshotStays = false
}

/// The life of every backup, whatever its kind (R1.4, R1.6, R1.7): a `running` row, the kind's own
/// work (`produce`), publication by rename, the catalog's "succeeded" with the manifest and the outbox
/// of off-site copies in one transaction, the snapshot's integrity check, the audit row. A failure at
/// any point marks the row failed, files the leftovers under `failed/<id>/`, audits it and is rethrown
/// as `BackupFailure`. Until the rename nothing is visible under `archives/`; until the catalog says
/// `succeeded` nothing counts as a backup. Runs with the job lock held (`JobSlot`).
struct BackupLifecycle {
    let context: BackupContext
    let kind: BackupKind
    let trigger: JobTrigger
    let actor: BackupContext.Actor

    /// - Parameters:
    ///   - integrityCheck: run `PRAGMA integrity_check` on the produced snapshot after publication.
    ///   - produce: the kind's work; may fill in the record (parent, image checksum, snapshot times).
    ///   - published: after success, for what only the kind knows (keep the hourly image, warn about skipped files).
    func run(integrityCheck: Bool, progress: ProgressHandler?,
             produce: (_ job: inout BackupRecord, _ work: URL) throws -> ProducedArchive,
             published: (BackupRecord) -> Void = { _ in }) throws -> BackupRecord {
        var job = try context.catalog.insert(BackupRecord(kind: kind, trigger: trigger, startedAt: context.now(),
                                                       userId: actor.userId, stationId: actor.stationId))
        progress?(.started(recordId: job.id!))
        let work = context.dataDirectory.work(job.uuid)
        // The snapshot outlives the kernel's 30 s before it flushes dirty pages (the check takes ~19 s per GiB,
        // an hourly's stays an hour): written out at a pace instead of in one burst the POS would wait behind.
        var writeback: PacedWriteback?
        do {
            try POSIXFile.makePrivateDirectory(work)
            let produced = try produce(&job, work)
            writeback = produced.snapshot.map { PacedWriteback($0) }
            job = try publish(produced, of: job, work: work, progress: progress)
            if integrityCheck, let snapshot = produced.snapshot {
                job = IntegrityCheck(context: context).record(on: job, snapshot: snapshot, progress: progress)
            }
            // What stays must be on disk before the process may exit; what goes need not be written at all.
            if produced.snapshotStays { writeback?.finish() } else { writeback?.cancel() }
            published(job)
            try? FileManager.default.removeItem(at: work)
            context.audit("backup.\(kind.rawValue)", target: "backup \(job.id!)", outcome: "succeeded", detail: job.path, actor: actor)
            progress?(ProgressEvent(phase: .done, bytesDone: produced.size, bytesTotal: produced.size))
            return job
        } catch {
            writeback?.cancel()
            throw fail(job, error)
        }
    }

    /// Sidecar and archive renamed into `archives/<kind>/`, then "succeeded" with the manifest and the outbox.
    /// The path is recorded before the rename, so that crash recovery finds an archive published without success.
    private func publish(_ produced: ProducedArchive, of started: BackupRecord, work: URL, progress: ProgressHandler?) throws -> BackupRecord {
        var job = started
        let folder = context.dataDirectory.archives(kind)
        job.path = folder.appendingPathComponent(produced.name).path
        job.sha256 = produced.sha256
        job.size = Int64(produced.size)
        try context.catalog.update(job)
        progress?(ProgressEvent(phase: .publish, bytesDone: 0, bytesTotal: 1))
        try ArchivePublisher(folder: folder).publish(produced.partial, as: produced.name, sha256: produced.sha256, work: work)
        job.status = .succeeded
        job.finishedAt = context.now()
        try context.catalog.complete(job, manifest: produced.manifest)
        progress?(ProgressEvent(phase: .publish, bytesDone: 1, bytesTotal: 1))
        return job
    }

    private func fail(_ started: BackupRecord, _ error: any Error) -> BackupFailure {
        var job = started
        let failure = BackupError.wrap(error, "The \(kind.displayName) failed.")
        job.status = .failed
        job.finishedAt = context.now()
        job.error = failure.message
        job.errorDetail = failure.detail
        context.record { try context.catalog.update(job) }
        JobRecovery(context: context).fileLeftovers(of: job)
        context.audit("backup.\(kind.rawValue)", target: "backup \(job.id!)", outcome: "failed", detail: failure.message, actor: actor)
        // A full disk is alerted at once; other failures by the caller (the scheduler only after its retry, R4.5).
        if failure.code == .insufficientSpace {
            context.record { try context.catalog.raise(.insufficientSpace(kind, failure), at: context.now()) }
        }
        return BackupFailure(error: failure, job: job)
    }
}

/// `PRAGMA integrity_check` of a published backup's snapshot. The backup has succeeded either way (its
/// archive is a faithful copy), but a damaged POS database must be known, and a check on record lets a
/// restore of this backup trust its image by SHA-256 alone.
struct IntegrityCheck {
    let context: BackupContext

    func record(on published: BackupRecord, snapshot: URL, progress: ProgressHandler?) -> BackupRecord {
        var job = published
        do {
            let problems = try ParallelIntegrityCheck(path: snapshot.path, untrusted: false).problems(progress: progress)
            job.integrityCheck = problems.map { $0.prefix(5).joined(separator: "; ") } ?? "ok"
        } catch {
            job.integrityCheck = "check failed: \(BackupError.wrap(error, "integrity check failed").message)"
        }
        job.integrityCheckedAt = context.now()
        context.record { try context.catalog.update(job) }
        if job.integrityCheck != "ok" {
            context.record {
                try context.catalog.raiseAlert(.critical, kind: "database-damaged",
                    message: "SQLite's integrity check found problems in the POS database (backup \(job.id!)). Call your POS technician; keep the backups from before this date.",
                    detail: job.integrityCheck, at: context.now())
            }
        }
        return job
    }
}
