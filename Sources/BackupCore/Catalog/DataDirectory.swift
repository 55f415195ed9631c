import Foundation

/// Where caps-backup keeps its own state. Everything is 0700/0600: archives hold the store's data.
///
///     catalog.sqlite         the catalog
///     archives/{db,files,full}/   published archives and their .sha256 sidecars
///     tmp/<job uuid>/        a job's work in progress (snapshot, partial archive)
///     failed/<job id>/       what a failed job left, for debugging (R1.7), capped
///     pre-restore/           copies of the live database taken before each restore
///     pages/<backup id>.idx  page fingerprints of each database image (for the next incremental)
///     job.lock               flock'd by the one job that may run at a time
///     scratch.lock           flock'd shared by work outside the job lock (verify), exclusive by tmp/'s sweep
public struct DataDirectory: Sendable {
    public let root: URL

    public init(_ root: URL) { self.root = root.standardizedFileURL }

    public var catalog: URL { root.appendingPathComponent("catalog.sqlite") }
    public var archivesRoot: URL { root.appendingPathComponent("archives") }
    public func archives(_ kind: BackupKind) -> URL { archivesRoot.appendingPathComponent(kind.folder) }
    public var tmp: URL { root.appendingPathComponent("tmp") }
    public func work(_ jobUUID: String) -> URL { tmp.appendingPathComponent(jobUUID) }
    public var failedRoot: URL { root.appendingPathComponent("failed") }
    public func failed(_ name: String) -> URL { failedRoot.appendingPathComponent(name) }
    public var preRestore: URL { root.appendingPathComponent("pre-restore") }
    public var lockFile: URL { root.appendingPathComponent("job.lock") }
    public var scratchLockFile: URL { root.appendingPathComponent("scratch.lock") }
    public var pageIndexes: URL { root.appendingPathComponent("pages") }
    public func pageIndex(_ backupUUID: String) -> URL { pageIndexes.appendingPathComponent("\(backupUUID).idx") }
    /// The snapshot image of the newest hourly backup, kept so that the next one can store the pages
    /// the POS changed as XORs against it (docs/incremental.md). As large as the POS database; 0600.
    public func hourlyImage(_ backupUUID: String) -> URL { pageIndexes.appendingPathComponent("\(backupUUID).img") }

    /// Creates the folders (0700) if needed; cheap when they exist.
    public func prepare() throws {
        try POSIXFile.makePrivateDirectory(root)
        for kind in BackupKind.allCases { try POSIXFile.makePrivateDirectory(archives(kind)) }
        try POSIXFile.makePrivateDirectory(archivesRoot)
        try POSIXFile.makePrivateDirectory(tmp)
        try POSIXFile.makePrivateDirectory(failedRoot)
        try POSIXFile.makePrivateDirectory(preRestore)
        try POSIXFile.makePrivateDirectory(pageIndexes)
    }
}
