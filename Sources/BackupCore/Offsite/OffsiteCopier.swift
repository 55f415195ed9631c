import Foundation

/// Drains the outbox of one destination: every pending off-site copy (`backup_dest_object`, written in
/// the transaction that made its backup succeed) is uploaded, resuming a session an earlier attempt
/// left, checked (size, and the checksum when the destination reports SHA-256), and recorded with its
/// remote id. A failure never touches the local backup: the copy stays pending for the next run with
/// its attempt counted and its error kept, or becomes `failed` when trying again cannot help.
/// A revoked grant or a full quota stops the run: the destination is disabled with its reason and one
/// alert is raised; its copies stay pending until it is reconnected (which enables it again), so no
/// later run tries, fails and alerts again.
public struct OffsiteCopier: Sendable {
    /// Follows each copy as it runs (the server puts it on the event stream, beside the jobs):
    /// `begin` before the first byte, returning where that copy's progress goes; `end` with the copy as recorded.
    public struct Observer: Sendable {
        public var begin: @Sendable (_ job: BackupRecord, _ copy: BackupDestObject) -> ProgressHandler?
        public var end: @Sendable (_ job: BackupRecord, _ copy: BackupDestObject) -> Void

        public init(begin: @escaping @Sendable (BackupRecord, BackupDestObject) -> ProgressHandler?,
                    end: @escaping @Sendable (BackupRecord, BackupDestObject) -> Void) {
            self.begin = begin
            self.end = end
        }
    }

    public let context: BackupContext
    public let destination: any Destination

    public init(context: BackupContext, destination: any Destination) {
        self.context = context
        self.destination = destination
    }

    /// - Returns: every copy tried, as recorded afterwards.
    public func copyPending(observer: Observer? = nil) async throws -> [BackupDestObject] {
        if let record = try context.catalog.destination(named: destination.name), !record.enabled { return [] }
        var done: [BackupDestObject] = []
        for pending in try context.catalog.pendingCopies(to: destination.name) {
            guard let job = try context.catalog.job(id: pending.jobId), job.status == .succeeded else { continue }
            let progress = observer?.begin(job, pending)
            let (copy, stop) = await self.copy(job, pending, progress: progress)
            observer?.end(job, copy)
            done.append(copy)
            if let stop {
                try disable(because: stop)
                break
            }
        }
        return done
    }

    /// Turns the destination off and raises its one alert (the catalog counts a repeat of the same alert).
    private func disable(because error: DestinationError) throws {
        let event: AlertEvent = error.kind == .unauthorized
            ? .offsiteDisconnected(destination: destination.name, detail: error.message)
            : .offsiteQuotaExceeded(destination: destination.name, detail: error.message)
        if var record = try context.catalog.destination(named: destination.name) {
            record.enabled = false
            record.disabledReason = event.message
            try context.catalog.save(record)
        }
        try context.catalog.raise(event, at: context.now())
    }

    /// - Returns: the copy as recorded, and the error when it means the destination cannot take any copy.
    private func copy(_ job: BackupRecord, _ pending: BackupDestObject, progress: ProgressHandler?) async -> (BackupDestObject, DestinationError?) {
        var stop: DestinationError?
        var copy = pending
        copy.attempts += 1
        copy.lastAttemptAt = context.now()
        context.record { try context.catalog.update(copy) }
        do {
            let request = try UploadRequest.archive(job, store: context.host)
            let catalog = context.catalog
            let session = Locked(copy)
            let object = try await destination.put(request, resuming: copy.uploadSession, onSession: { id in
                let updated = session.withLock { $0.uploadSession = id; return $0 }
                try? catalog.update(updated)
            }, progress: { done in progress?(ProgressEvent(phase: .upload, bytesDone: done, bytesTotal: request.size)) })
            copy.uploadSession = nil
            guard object.size == request.size,
                  object.checksum?.algorithm != .sha256 || object.checksum?.value == job.sha256 else {
                throw DestinationError(.permanent, "The copy on \(destination.name) does not match the archive (\(object.size) bytes).")
            }
            copy.remoteId = object.id
            copy.remoteChecksum = object.checksum
            copy.status = .uploaded
            copy.uploadedAt = context.now()
            copy.verifiedAt = context.now()
            copy.error = nil
        } catch let error as DestinationError {
            copy.error = error.message
            switch error.kind {
            case .transient, .rateLimited: copy.status = .pending
            case .unauthorized, .quotaExceeded:
                copy.status = .pending
                stop = error
            case .notFound, .permanent: copy.status = .failed
            }
        } catch {
            copy.error = BackupError.wrap(error, "The upload failed.").message
            copy.status = .pending
        }
        context.record { try context.catalog.update(copy) }
        return (copy, stop)
    }
}
