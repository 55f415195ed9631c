import Foundation

/// What a destination holds against what the catalog says it holds (R5.9). Remote objects are matched
/// by their id, or by the `backupId` label the upload gave them, never by name: Drive keeps several
/// files under one name.
public struct ReconcileReport: Codable, Sendable, Equatable {
    /// Recorded, present, same size (and checksum when both sides have one of the same algorithm).
    public var matched: [Entry] = []
    /// On the destination with no copy recorded here: restorable on a fresh install, or a duplicate.
    public var remoteOnly: [Entry] = []
    /// Recorded here, not on the destination: still pending, or lost remotely (put back in the outbox).
    public var localOnly: [Entry] = []
    /// Present on both sides but different in size or checksum: put back in the outbox.
    public var mismatched: [Entry] = []

    public init() {}

    public struct Entry: Codable, Sendable, Equatable {
        /// The backup's UUID (its `backupId` label), when known.
        public var backupId: String?
        /// The catalog's id of the backup, when it is in this catalog.
        public var catalogId: Int64?
        public var kind: String?
        public var remoteId: String?
        public var name: String?
        /// The remote object's size, when there is one.
        public var size: UInt64?
        /// The local archive's size as recorded, when there is one.
        public var localSize: Int64?
        public var reason: String?
    }
}

/// Pages through a destination and sets `backup_dest_object` straight: a copy recorded as uploaded but
/// gone remotely goes back to `pending` when its archive is still on this disk (the next run uploads it
/// again) and becomes `lost` when it is not; a copy whose remote object differs goes back to `pending`;
/// a pending copy whose object is found by its `backupId` label (an upload finished but not recorded)
/// is recorded as uploaded.
public struct Reconciler: Sendable {
    public let context: BackupContext
    public let destination: any Destination

    public init(context: BackupContext, destination: any Destination) {
        self.context = context
        self.destination = destination
    }

    public func reconcile() async throws -> ReconcileReport {
        let remote = try await destination.list(prefix: "")
        var unclaimed = Dictionary(remote.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var report = ReconcileReport()
        let copies = try context.catalog.offsiteCopies(on: destination.name)

        // First the copies whose remote id is recorded, so that a label match below never takes an object
        // that a recorded copy owns.
        var unresolved: [(BackupDestObject, BackupRecord)] = []
        for copy in copies where copy.status != .deleted {
            guard let job = try context.catalog.job(id: copy.jobId) else { continue }
            guard let remoteId = copy.remoteId, copy.status == .uploaded else {
                unresolved.append((copy, job))
                continue
            }
            if let object = unclaimed.removeValue(forKey: remoteId) {
                if let difference = Self.difference(object, copy, job) {
                    report.mismatched.append(entry(job, object, reason: difference))
                    putBack(copy, job, error: "The copy on \(destination.name) differs from the archive: \(difference).")
                } else {
                    report.matched.append(entry(job, object))
                }
            } else {
                unresolved.append((copy, job))
            }
        }

        for (copy, job) in unresolved {
            if let object = unclaimed.values.first(where: { $0.metadata["backupId"] == job.uuid && Self.difference($0, copy, job) == nil }) {
                unclaimed[object.id] = nil
                var adopted = copy
                adopted.remoteId = object.id
                adopted.remoteChecksum = object.checksum
                adopted.status = .uploaded
                adopted.uploadedAt = adopted.uploadedAt ?? object.modifiedAt ?? context.now()
                adopted.verifiedAt = context.now()
                adopted.uploadSession = nil
                adopted.error = nil
                context.record { try context.catalog.update(adopted) }
                report.matched.append(entry(job, object, reason: "found by its backupId label"))
            } else if copy.status == .uploaded {
                let lost = putBack(copy, job, error: "The copy on \(destination.name) is gone.")
                report.localOnly.append(entry(job, nil, remoteId: copy.remoteId,
                                              reason: lost ? "gone remotely, and the archive is no longer on this server" : "gone remotely; uploading it again"))
            } else {
                report.localOnly.append(entry(job, nil, reason: copy.status.rawValue))
            }
        }

        for object in unclaimed.values.sorted(by: { ($0.name, $0.id) < ($1.name, $1.id) }) {
            let job = try object.metadata["backupId"].flatMap { try context.catalog.job(uuid: $0) }
            let reason = job == nil ? "not in this catalog" : "another copy of backup \(job!.id!)"
            var entry = ReconcileReport.Entry(backupId: object.metadata["backupId"], catalogId: job?.id,
                                              kind: object.metadata["kind"], remoteId: object.id, name: object.name,
                                              size: object.size, localSize: job?.size, reason: reason)
            if job == nil { entry.catalogId = object.metadata["catalogId"].flatMap { Int64($0) } }
            report.remoteOnly.append(entry)
        }
        return report
    }

    /// Why `object` is not a good copy of `job`'s archive, or nil.
    static func difference(_ object: RemoteObject, _ copy: BackupDestObject, _ job: BackupRecord) -> String? {
        if let size = job.size, UInt64(size) != object.size { return "\(object.size) bytes remotely, \(size) here" }
        if let recorded = copy.remoteChecksum, let remote = object.checksum, recorded.algorithm == remote.algorithm,
           recorded.value != remote.value {
            return "\(remote.algorithm.rawValue) \(remote.value) remotely, \(recorded.value) recorded"
        }
        if let remote = object.checksum, remote.algorithm == .sha256, let sha256 = job.sha256, remote.value != sha256 {
            return "sha256 \(remote.value) remotely, \(sha256) here"
        }
        return nil
    }

    /// Back in the outbox when the archive is still here, else `lost`. - Returns: whether it is lost.
    @discardableResult
    private func putBack(_ copy: BackupDestObject, _ job: BackupRecord, error: String) -> Bool {
        var updated = copy
        let lost = job.status != .succeeded || !(job.path.map { POSIXFile.exists(URL(fileURLWithPath: $0)) } ?? false)
        updated.status = lost ? .lost : .pending
        updated.remoteId = nil
        updated.remoteChecksum = nil
        updated.uploadSession = nil
        updated.verifiedAt = nil
        updated.error = error
        context.record { try context.catalog.update(updated) }
        return lost
    }

    private func entry(_ job: BackupRecord, _ object: RemoteObject?, remoteId: String? = nil, reason: String? = nil) -> ReconcileReport.Entry {
        ReconcileReport.Entry(backupId: job.uuid, catalogId: job.id, kind: job.kind.rawValue, remoteId: object?.id ?? remoteId,
                              name: object?.name, size: object?.size, localSize: job.size, reason: reason)
    }
}
