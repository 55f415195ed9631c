import BackupCore
import Foundation

/// What the API says about a backup. Server paths stay on the server: a client gets the archive's
/// file name and downloads it through the API, never from a path or a static URL (R10.5).
struct BackupView: Codable, Sendable {
    var id: Int64
    var uuid: String
    var kind: BackupKind
    var trigger: String
    var status: JobStatus
    var startedAt: Date
    var finishedAt: Date?
    var durationSeconds: Double?
    var size: Int64?
    var sha256: String?
    var fileName: String?
    var parentId: Int64?
    var error: String?
    var errorDetail: String?
    var userId: String?
    var stationId: String?
    var snapshotStartedAt: Date?
    var snapshotFinishedAt: Date?
    var imageSha256: String?
    var integrityCheck: String?
    var deletedAt: Date?
    var deletedBy: String?
    /// In the list and the detail: the copy at each destination ("local ok, off-site pending", R11.3).
    var offsite: [OffsiteCopyView]?
    /// In the list and the detail, for a backup in an hourly chain: the chain's base and its place in it.
    var chain: ChainMembership?

    struct OffsiteCopyView: Codable, Sendable, Equatable {
        var destination: String
        var status: DestObjectStatus
        var uploadedAt: Date?
        var verifiedAt: Date?
        var attempts: Int
        var error: String?

        init(_ copy: BackupDestObject) {
            destination = copy.destination
            status = copy.status
            uploadedAt = copy.uploadedAt
            verifiedAt = copy.verifiedAt
            attempts = copy.attempts
            error = copy.error
        }
    }

    struct ChainMembership: Codable, Sendable, Equatable {
        var baseId: Int64
        var position: Int
    }

    /// Rows with their off-site copies and chain places, in two queries for the whole page.
    static func decorated(_ jobs: [BackupRecord], catalog: Catalog) throws -> [BackupView] {
        let ids = jobs.compactMap(\.id)
        let copies = try catalog.offsiteCopies(ofJobs: ids)
        let chains = try catalog.chainMembership(of: jobs.filter { $0.kind == .dbIncremental }.compactMap(\.id))
        return jobs.map { job in
            var view = BackupView(job)
            view.offsite = (copies[view.id] ?? []).map(OffsiteCopyView.init)
            view.chain = chains[view.id].map { ChainMembership(baseId: $0.baseId, position: $0.position) }
            return view
        }
    }

    init(_ job: BackupRecord) {
        id = job.id ?? 0
        uuid = job.uuid
        kind = job.kind
        trigger = job.trigger.rawValue
        status = job.status
        startedAt = job.startedAt
        finishedAt = job.finishedAt
        durationSeconds = job.finishedAt.map { ($0.timeIntervalSince(job.startedAt)).rounded(toPlaces: 3) }
        size = job.size
        sha256 = job.sha256
        fileName = job.path.map { URL(fileURLWithPath: $0).lastPathComponent }
        parentId = job.parentId
        error = job.error
        errorDetail = job.errorDetail
        userId = job.userId
        stationId = job.stationId
        snapshotStartedAt = job.snapshotStartedAt
        snapshotFinishedAt = job.snapshotFinishedAt
        imageSha256 = job.imageSha256
        integrityCheck = job.integrityCheck
        deletedAt = job.deletedAt
        deletedBy = job.deletedBy
    }
}

/// One backup in full: its record, what its manifest says, and the chain it depends on.
struct BackupDetailView: Codable, Sendable {
    var backup: BackupView
    var manifest: ManifestSummary?
    /// This backup and the ones it depends on, newest first, down to its full backup
    /// (one element for a full backup).
    var chain: [ChainLink]

    struct ManifestSummary: Codable, Sendable {
        var format: String
        var backupId: String
        var kind: BackupKind
        var createdAt: Date
        var host: String
        var toolVersion: String
        var parentId: String?
        var entryCount: Int
        var totalBytes: UInt64
        /// The first entries (all of them for a database backup; a file backup lists ~52,000).
        var entries: [Manifest.Entry]
        var entriesTruncated: Bool
        var database: DatabaseSummary?
    }

    struct DatabaseSummary: Codable, Sendable {
        var entry: String
        var sourcePath: String
        var pageSize: Int
        var pageCount: Int
        var imageSize: UInt64
        var imageSha256: String
        var journalMode: String
        var snapshotStartedAt: Date
        var snapshotFinishedAt: Date
    }

    struct ChainLink: Codable, Sendable {
        var id: Int64
        var kind: BackupKind
        var status: JobStatus
        var startedAt: Date
        var parentId: Int64?
    }

    static let listedEntries = 200

    static func summary(_ overview: ManifestOverview) -> ManifestSummary {
        let manifest = overview.manifest
        return ManifestSummary(
            format: manifest.format, backupId: manifest.backupId, kind: manifest.kind, createdAt: manifest.createdAt,
            host: manifest.host, toolVersion: manifest.toolVersion, parentId: manifest.parentId,
            entryCount: overview.entryCount, totalBytes: overview.totalBytes,
            entries: manifest.entries, entriesTruncated: overview.entryCount > manifest.entries.count,
            database: manifest.database.map {
                DatabaseSummary(entry: $0.entry, sourcePath: $0.sourcePath, pageSize: $0.pageSize, pageCount: $0.pageCount,
                                imageSize: $0.imageSize, imageSha256: $0.imageSha256, journalMode: $0.journalMode,
                                snapshotStartedAt: $0.snapshotStartedAt, snapshotFinishedAt: $0.snapshotFinishedAt)
            })
    }
}

/// What the API says about a restore.
struct RestoreView: Codable, Sendable {
    var id: Int64
    var status: RestoreStatus
    var sourceJobId: Int64?
    var sourceBackupId: String?
    /// The archive's (or database file's) name.
    var sourceName: String
    /// The live database that was (or was to be) replaced; for a restore of files alone (a files backup,
    /// or `scope=files`), the uploads folder.
    var targetPath: String
    var startedAt: Date
    var finishedAt: Date?
    var durationSeconds: Double?
    /// The copy of the database taken just before it was replaced: the way back.
    var preRestorePath: String?
    var restoredImageSha256: String?
    var error: String?
    var errorDetail: String?
    /// For a failed restore started by this server: what the store manager can do now.
    var recoverySteps: [String]?
    /// For a restore started by this server that has ended and put back files or config files: what it did.
    var files: RestoredFiles?
    var userId: String?
    var stationId: String?

    /// What a restore put back besides the database (the CLI's `files` in `restore --json`).
    struct RestoredFiles: Codable, Sendable, Equatable {
        /// The uploads folder the files went into; absent when only config files were restored.
        var root: String?
        var restored: Int
        var bytes: UInt64
        /// Files not in the backup that were removed (`deleteExtra=true`).
        var removed: Int
        /// The config files restored, by path.
        var configFiles: [String]

        init(_ outcome: FileRestoreOutcome) {
            root = outcome.root.isEmpty ? nil : outcome.root
            restored = outcome.restored
            bytes = outcome.bytes
            removed = outcome.removed
            configFiles = outcome.configFiles
        }
    }

    init(_ restore: RestoreRecord, recoverySteps: [String]? = nil, files: FileRestoreOutcome? = nil) {
        id = restore.id ?? 0
        status = restore.status
        sourceJobId = restore.sourceJobId
        sourceBackupId = restore.sourceBackupId
        sourceName = URL(fileURLWithPath: restore.sourcePath).lastPathComponent
        targetPath = restore.targetPath
        startedAt = restore.startedAt
        finishedAt = restore.finishedAt
        durationSeconds = restore.finishedAt.map { ($0.timeIntervalSince(restore.startedAt)).rounded(toPlaces: 3) }
        preRestorePath = restore.preRestorePath
        restoredImageSha256 = restore.restoredImageSha256
        error = restore.error
        errorDetail = restore.errorDetail
        self.recoverySteps = recoverySteps
        self.files = files.map(RestoredFiles.init)
        userId = restore.userId
        stationId = restore.stationId
    }
}

/// A page of a list, newest first. `nextOffset` is absent on the last page.
struct Page<Item: Codable & Sendable>: Codable, Sendable {
    var items: [Item]
    var limit: Int
    var offset: Int
    var nextOffset: Int?

    /// - Parameter fetched: up to `limit + 1` rows; the extra one only tells that there is more.
    init(fetched: [Item], limit: Int, offset: Int) {
        items = Array(fetched.prefix(limit))
        self.limit = limit
        self.offset = offset
        nextOffset = fetched.count > limit ? offset + limit : nil
    }
}

struct ItemList<Item: Codable & Sendable>: Codable, Sendable {
    var items: [Item]
}

/// The answer to DELETE /backups/{id}: the record (as `BackupView`, at the top level), and what happened to
/// its off-site copies, with one sentence for the store manager.
struct DeletedBackupView: Encodable, Sendable {
    var backup: BackupView
    var offsiteDeletions: [RemoteDeletion]
    var summary: String

    private enum CodingKeys: String, CodingKey { case offsiteDeletions, summary }

    func encode(to encoder: any Encoder) throws {
        try backup.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(offsiteDeletions, forKey: .offsiteDeletions)
        try container.encode(summary, forKey: .summary)
    }
}
