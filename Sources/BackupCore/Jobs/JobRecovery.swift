import Foundation

/// Cleans up after crashes. Runs with the job lock held, so any job still marked `running` belongs
/// to a process that is gone: its row becomes `failed`, and whatever it left in `tmp/` (or had
/// already published without recording success) is filed under `failed/<job id>/` for a technician.
public struct JobRecovery: Sendable {
    /// How many failed jobs' leftovers are kept; older ones are removed (a snapshot can be large).
    public static let keptFailedJobs = 5
    public let context: BackupContext

    public init(context: BackupContext) { self.context = context }

    public func recoverInterruptedJobs() throws {
        let catalog = context.catalog
        var known = Set<String>()
        for var job in try catalog.runningJobs() {
            known.insert(job.uuid)
            job.status = .failed
            job.finishedAt = context.now()
            job.error = "Interrupted: the backup process stopped before the job finished."
            try catalog.update(job)
            fileLeftovers(of: job)
            try? catalog.raiseAlert(.warning, kind: "backup-interrupted",
                                    message: "A \(job.kind.rawValue) backup was interrupted (the process stopped); the next backup will run normally.",
                                    at: context.now())
        }
        for var restore in try catalog.runningRestores() {
            restore.status = .failed
            restore.finishedAt = context.now()
            restore.error = "Interrupted: the restore process stopped before it finished. The live database holds either its old content or the restored one, never a mix."
            try catalog.update(restore)
            known.insert("restore-\(restore.id!)")
            try? FileManager.default.removeItem(at: context.dataDirectory.work("restore-\(restore.id!)"))
        }
        // Anything else in tmp/ belongs to no job we know: keep it for inspection, out of the way. Not
        // while a verify in some process works there (it holds the scratch lock shared): the next
        // recovery sweeps instead.
        guard let sweep = try ScratchLock.trySweep(context.dataDirectory) else {
            pruneFailedFolder()
            return
        }
        defer { withExtendedLifetime(sweep) {} }
        let strays = (try? FileManager.default.contentsOfDirectory(atPath: context.dataDirectory.tmp.path)) ?? []
        for name in strays where !known.contains(name) {
            let from = context.dataDirectory.tmp.appendingPathComponent(name)
            if name.hasPrefix(BackgroundRemoval.prefix) {  // scratch already on its way out
                try? FileManager.default.removeItem(at: from)
                continue
            }
            try? POSIXFile.makePrivateDirectory(context.dataDirectory.failedRoot)
            try? POSIXFile.rename(from, to: context.dataDirectory.failed("orphan-\(name)"))
        }
        pruneFailedFolder()
    }

    /// Moves what a failed job left (work folder, an archive published without success) to `failed/<id>/`.
    public func fileLeftovers(of job: BackupRecord) {
        let fm = FileManager.default
        let target = context.dataDirectory.failed(String(job.id ?? 0))
        let work = context.dataDirectory.work(job.uuid)
        if POSIXFile.exists(work) {
            try? fm.removeItem(at: target)
            try? POSIXFile.rename(work, to: target)
        }
        if let path = job.path, job.status != .succeeded {
            let archive = URL(fileURLWithPath: path)
            for file in [archive, Checksums.sidecarURL(for: archive)] where POSIXFile.exists(file) {
                try? POSIXFile.makePrivateDirectory(target)
                try? POSIXFile.rename(file, to: target.appendingPathComponent(file.lastPathComponent))
            }
        }
        pruneFailedFolder()
    }

    private func pruneFailedFolder() {
        let fm = FileManager.default
        let root = context.dataDirectory.failedRoot
        guard let names = try? fm.contentsOfDirectory(atPath: root.path), names.count > Self.keptFailedJobs else { return }
        let dated = names.map { name -> (String, Date) in
            let url = root.appendingPathComponent(name)
            let date = (try? fm.attributesOfItem(atPath: url.path)[.modificationDate] as? Date) ?? .distantPast
            return (name, date)
        }.sorted { $0.1 > $1.1 }
        for (name, _) in dated.dropFirst(Self.keptFailedJobs) {
            try? fm.removeItem(at: root.appendingPathComponent(name))
        }
    }
}

extension BackupContext {
    /// The one way a job starts, for every kind of job and every caller: take the job lock (failing with
    /// `.busy` when another process holds it), then clean up after any job that died before this one.
    func exclusiveJob<T>(_ body: () throws -> T) throws -> T {
        guard let result = try exclusiveJobIfFree(body) else {
            throw BackupError(.busy, "Another backup or restore is running; try again when it has finished.")
        }
        return result
    }

    /// As `exclusiveJob`, but nil at once when another job holds the lock (the scheduler's skip, R4.4).
    func exclusiveJobIfFree<T>(_ body: () throws -> T) throws -> T? {
        guard let lock = try JobLock.tryAcquire(dataDirectory) else { return nil }
        return try withExtendedLifetime(lock) {
            try JobRecovery(context: self).recoverInterruptedJobs()
            return try body()
        }
    }

    /// Cleans up after a job that died, unless one is running now: for commands that only read, so
    /// that a crashed job shows as failed rather than running.
    public func recoverIfIdle() throws {
        _ = try exclusiveJobIfFree {}
    }
}
