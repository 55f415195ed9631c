import Foundation
import GRDB
import GRDBSQLite

/// The catalog: caps-backup's own SQLite file (`catalog.sqlite` in the data directory), never tables
/// inside the POS database, so restoring the POS never rolls back the backup history.
/// WAL mode, so the server, the scheduler and a CLI run can use it at the same time.
public final class Catalog: Sendable {
    /// Internal: other modules use the named queries below and in `Catalog+*.swift`, never SQL.
    let database: DatabasePool

    public init(url: URL) throws {
        if !POSIXFile.exists(url) {
            // Created 0600 before SQLite opens it; the -wal and -shm files inherit the mode.
            close(try POSIXFile.createPrivate(url))
        }
        var config = Configuration()
        config.busyMode = .timeout(15)
        config.foreignKeysEnabled = true
        do {
            database = try DatabasePool(path: url.path, configuration: config)
            try CatalogSchema.migrator.migrate(database)
        } catch {
            throw BackupError(.database, "The backup catalog could not be opened.", detail: "\(url.path): \(error)")
        }
    }

    // MARK: Backup jobs

    public func insert(_ job: BackupRecord) throws -> BackupRecord {
        try database.write { db in
            var job = job
            try job.insert(db)
            return job
        }
    }

    public func update(_ job: BackupRecord) throws {
        try database.write { db in try job.update(db) }
    }

    /// "A backup succeeded", in one transaction: the job's final record, its manifest, and a pending
    /// off-site copy for every enabled destination that takes this kind (the outbox an uploader drains).
    /// - Returns: the outbox rows written.
    @discardableResult
    public func complete(_ job: BackupRecord, manifest: CatalogManifest) throws -> [BackupDestObject] {
        if case .streamed(_, _, _, let size, _) = manifest, size > UInt64(Int32.max) {
            throw BackupError(.invalidInput, "The manifest is too large for the catalog.", detail: "\(size) bytes")
        }
        return try database.write { db in
            try job.update(db)
            switch manifest {
            case .document(let document, let bytes):
                var record = BackupManifestRecord(jobId: job.id!, format: document.format, entryCount: document.entries.count,
                                                  manifestJson: String(decoding: bytes, as: UTF8.self), createdAt: document.createdAt)
                try record.upsert(db)
            case .streamed(let format, let entryCount, let createdAt, let size, let write):
                try Self.storeStreamed(db, jobId: job.id!, format: format, entryCount: entryCount, createdAt: createdAt, size: size, write: write)
            }
            return try Self.enqueueOffsiteCopies(db, of: job)
        }
    }

    /// A manifest too large to hold in memory (a file backup's: ~42 MB at 200,000 files) is handed over
    /// a piece at a time, and the pieces go straight into the row through SQLite's incremental blob I/O.
    /// A plain `INSERT` needs the whole text in memory at least twice (the bound value and the record
    /// SQLite builds). Incremental I/O writes into a `zeroblob`, so the column then holds the JSON's UTF-8
    /// with SQLite type BLOB instead of TEXT; readers do not see a difference (SQLite, and GRDB's `String`
    /// decoding, convert a BLOB to text as it is). The zeroblob is never expanded in memory because
    /// `manifest_json` is the table's last column (migration v3).
    private static func storeStreamed(_ db: GRDB.Database, jobId: Int64, format: String, entryCount: Int, createdAt: Date, size manifestSize: UInt64,
                                      write: (_ piece: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        var record = BackupManifestRecord(jobId: jobId, format: format, entryCount: entryCount, manifestJson: "", createdAt: createdAt)
        try record.upsert(db)
        try db.execute(sql: "UPDATE backup_manifest SET manifest_json = zeroblob(?) WHERE job_id = ?",
                       arguments: [Int64(manifestSize), jobId])
        var blob: OpaquePointer?
        let opened = sqlite3_blob_open(db.sqliteConnection, "main", BackupManifestRecord.databaseTableName, "manifest_json", jobId, 1, &blob)
        guard opened == SQLITE_OK, let blob else {
            if blob != nil { sqlite3_blob_close(blob) }
            throw BackupError(.database, "The manifest could not be stored in the catalog.", detail: "sqlite3_blob_open: \(opened)")
        }
        var offset: UInt64 = 0
        var failure: Int32 = SQLITE_OK
        do {
            try write { piece in
                guard failure == SQLITE_OK, piece.count > 0 else { return }
                guard offset + UInt64(piece.count) <= manifestSize else {
                    throw BackupError(.database, "The manifest could not be stored in the catalog.", detail: "longer than announced")
                }
                failure = sqlite3_blob_write(blob, piece.baseAddress, Int32(piece.count), Int32(offset))
                offset += UInt64(piece.count)
            }
        } catch {
            sqlite3_blob_close(blob)
            throw error
        }
        let closed = sqlite3_blob_close(blob)
        guard failure == SQLITE_OK, closed == SQLITE_OK, offset == manifestSize else {
            throw BackupError(.database, "The manifest could not be stored in the catalog.",
                              detail: "sqlite3_blob_write: \(failure), close: \(closed), \(offset) of \(manifestSize) bytes")
        }
    }

    public func job(id: Int64) throws -> BackupRecord? {
        try database.read { db in try BackupRecord.fetchOne(db, key: id) }
    }

    public func job(uuid: String) throws -> BackupRecord? {
        try database.read { db in try BackupRecord.filter(Column("uuid") == uuid.lowercased()).fetchOne(db) }
    }

    public func jobs(kind: BackupKind? = nil, status: JobStatus? = nil, limit: Int = 100, offset: Int = 0) throws -> [BackupRecord] {
        try database.read { db in
            var request = BackupRecord.all()
            if let kind { request = request.filter(Column("kind") == kind) }
            if let status { request = request.filter(Column("status") == status) }
            return try request.order(Column("started_at").desc, Column("id").desc).limit(limit, offset: offset).fetchAll(db)
        }
    }

    public func runningJobs() throws -> [BackupRecord] {
        try database.read { db in try BackupRecord.filter(Column("status") == JobStatus.running).fetchAll(db) }
    }

    public func manifest(jobId: Int64) throws -> Manifest? {
        try database.read { db in
            guard let record = try BackupManifestRecord.fetchOne(db, key: jobId) else { return nil }
            return try Manifest.decode(Array(record.manifestJson.utf8))
        }
    }

    // MARK: Restore jobs

    public func insert(_ restore: RestoreRecord) throws -> RestoreRecord {
        try database.write { db in
            var restore = restore
            try restore.insert(db)
            return restore
        }
    }

    public func update(_ restore: RestoreRecord) throws {
        try database.write { db in try restore.update(db) }
    }

    public func runningRestores() throws -> [RestoreRecord] {
        try database.read { db in try RestoreRecord.filter(Column("status") == RestoreStatus.running).fetchAll(db) }
    }

    // MARK: Alerts and audit

    /// Raises an alert; an unacknowledged alert of the same kind and message is counted again
    /// instead of repeated, so a failing hourly job does not flood the dashboard.
    @discardableResult
    public func raiseAlert(_ severity: AlertSeverity, kind: String, message: String, detail: String? = nil, at now: Date = Date()) throws -> Alert {
        try database.write { db in
            if var existing = try Alert
                .filter(Column("kind") == kind && Column("message") == message && Column("acknowledged_at") == nil)
                .fetchOne(db) {
                existing.count += 1
                existing.lastSeenAt = now
                existing.detail = detail ?? existing.detail
                try existing.update(db)
                return existing
            }
            var alert = Alert(severity: severity, kind: kind, message: message, detail: detail, createdAt: now, lastSeenAt: now, count: 1)
            try alert.insert(db)
            return alert
        }
    }

    public func alerts(includeAcknowledged: Bool = false) throws -> [Alert] {
        try database.read { db in
            var request = Alert.order(Column("last_seen_at").desc)
            if !includeAcknowledged { request = request.filter(Column("acknowledged_at") == nil) }
            return try request.fetchAll(db)
        }
    }

    /// Marks an alert as dealt with; acknowledging again keeps the first time. Nil when there is no such alert.
    public func acknowledgeAlert(id: Int64, at now: Date = Date()) throws -> Alert? {
        try database.write { db in
            guard var alert = try Alert.fetchOne(db, key: id) else { return nil }
            if alert.acknowledgedAt == nil {
                alert.acknowledgedAt = now
                try alert.update(db)
            }
            return alert
        }
    }

    /// Records what `actor` did (for callers outside BackupCore, which cannot build an `AuditEntry`).
    public func audit(action: String, target: String?, outcome: String, detail: String?, actor: BackupContext.Actor, at now: Date) throws {
        try audit(AuditEntry(at: now, userId: actor.userId, stationId: actor.stationId, client: actor.client,
                             action: action, target: target, outcome: outcome, detail: detail))
    }

    public func audit(_ entry: AuditEntry) throws {
        try database.write { db in
            var entry = entry
            try entry.insert(db)
        }
    }
}
