import Foundation
import GRDB

/// How a manifest reaches the catalog: a document already in memory (a database backup's, a few KB),
/// or one too large for memory, handed over a piece at a time (a file backup's: 42 MB at 200,000 files).
public enum CatalogManifest {
    case document(Manifest, bytes: [UInt8])
    case streamed(format: String, entryCount: Int, createdAt: Date, size: UInt64,
                  write: (_ piece: (UnsafeRawBufferPointer) throws -> Void) throws -> Void)
}

/// Destinations and the outbox of off-site copies (`backup_dest_object`).
extension Catalog {
    /// Adds or replaces a destination (a connected Google Drive, say).
    public func save(_ destination: DestinationRecord) throws {
        try database.write { db in
            var destination = destination
            try destination.save(db)
        }
    }

    public func destinations() throws -> [DestinationRecord] {
        try database.read { db in try DestinationRecord.order(Column("name")).fetchAll(db) }
    }

    /// The off-site copies of one backup, one per destination.
    public func offsiteCopies(of jobId: Int64) throws -> [BackupDestObject] {
        try database.read { db in try BackupDestObject.filter(Column("job_id") == jobId).order(Column("destination")).fetchAll(db) }
    }

    /// The outbox of one destination: copies still to make, oldest backup first.
    public func pendingCopies(to destination: String) throws -> [BackupDestObject] {
        try database.read { db in
            try BackupDestObject.filter(Column("destination") == destination && Column("status") == DestObjectStatus.pending)
                .order(Column("job_id")).fetchAll(db)
        }
    }

    public func update(_ copy: BackupDestObject) throws {
        try database.write { db in try copy.update(db) }
    }

    /// Every copy on one destination, whatever its state, oldest backup first (for reconciling).
    public func offsiteCopies(on destination: String) throws -> [BackupDestObject] {
        try database.read { db in try BackupDestObject.filter(Column("destination") == destination).order(Column("job_id")).fetchAll(db) }
    }

    public func destination(named name: String) throws -> DestinationRecord? {
        try database.read { db in try DestinationRecord.filter(Column("name") == name).fetchOne(db) }
    }

    /// One pending row per enabled destination that takes `job`'s kind, when the settings' `uploads` name
    /// that kind (they decide what goes off-site; a destination's `kinds` can only narrow it). Called inside
    /// `complete`, so a backup that counts as succeeded always has its outbox rows, and one that does not has none.
    static func enqueueOffsiteCopies(_ db: GRDB.Database, of job: BackupRecord) throws -> [BackupDestObject] {
        var queued: [BackupDestObject] = []
        guard try SettingsStore.uploads(db).copies(job.kind) else { return [] }
        for destination in try DestinationRecord.filter(Column("enabled") == true).fetchAll(db)
        where destination.backupKinds.contains(job.kind) {
            var copy = BackupDestObject(jobId: job.id!, destination: destination.name, createdAt: job.finishedAt ?? job.startedAt)
            copy.size = job.size
            try copy.insert(db, onConflict: .ignore)
            if copy.id != nil { queued.append(copy) }
        }
        return queued
    }
}
