import Foundation

/// What a job needs from the outside world, gathered once: paths, the catalog, and the two
/// things tests must control (the clock and the free-space probe).
public struct BackupContext: Sendable {
    public static let toolVersion = "0.1.0"

    public var dataDirectory: DataDirectory
    public var catalog: Catalog
    public var posDatabase: URL?
    public var uploads: URL?
    public var configFiles: [URL]
    /// Keys whose values are left out of the config files in archives (settings `config_redact_keys`).
    public var configRedactKeys: [String]
    public var host: String
    public var now: @Sendable () -> Date
    public var availableBytes: @Sendable (URL) throws -> UInt64
    /// The destinations holding off-site copies, by which a restore fetches an archive gone from this disk.
    public var offsite: [any Destination] = []
    /// Where a job reports what it could not record (an audit row or a status update that failed after
    /// the job's outcome was decided): the service's log, stderr by default.
    public var diagnostics: @Sendable (String) -> Void = { line in FileHandle.standardError.write(Data(("caps-backup: " + line + "\n").utf8)) }
    /// Dead-man's-switch pings for the jobs `BackupRunner` runs (none unless the settings name a URL).
    public var heartbeat: HeartbeatPinger

    public init(dataDirectory: DataDirectory, catalog: Catalog, posDatabase: URL?, uploads: URL? = nil, configFiles: [URL] = [],
                configRedactKeys: [String] = [],
                host: String = ProcessInfo.processInfo.hostName,
                now: @escaping @Sendable () -> Date = { Date() },
                availableBytes: @escaping @Sendable (URL) throws -> UInt64 = { try POSIXFile.availableBytes(at: $0) },
                heartbeat: HeartbeatPinger? = nil) {
        self.dataDirectory = dataDirectory
        self.catalog = catalog
        self.posDatabase = posDatabase
        self.uploads = uploads
        self.configFiles = configFiles
        self.configRedactKeys = configRedactKeys
        self.host = host
        self.now = now
        self.availableBytes = availableBytes
        self.heartbeat = heartbeat ?? HeartbeatPinger(catalog: catalog)
    }

    /// Opens (and creates, 0700) the data directory and its catalog.
    public static func open(_ config: ServiceConfig) throws -> BackupContext {
        let directory = DataDirectory(config.dataDirectory)
        try directory.prepare()
        let catalog = try Catalog(url: directory.catalog)
        return BackupContext(dataDirectory: directory, catalog: catalog, posDatabase: config.posDatabase,
                             uploads: config.uploads, configFiles: config.configFiles, configRedactKeys: config.configRedactKeys)
    }

    public func requirePOSDatabase() throws -> URL {
        guard let posDatabase else {
            throw BackupError(.configuration, "No POS database is configured.", remedy: .configurePOSDatabase)
        }
        return posDatabase
    }

    /// Where jobs open backups' archives.
    public var archiveStore: ArchiveStore { ArchiveStore(context: self) }

    /// Runs a catalog write that must not change a job's outcome; a failure is reported, never swallowed.
    func record(_ write: () throws -> Void) {
        do { try write() } catch { diagnostics("could not record in the catalog: \(error)") }
    }

    /// One row in the audit log for what `actor` did (R10.4).
    func audit(_ action: String, target: String?, outcome: String, detail: String?, actor: Actor) {
        record {
            try catalog.audit(AuditEntry(at: now(), userId: actor.userId, stationId: actor.stationId, client: actor.client,
                                         action: action, target: target, outcome: outcome, detail: detail))
        }
    }

    /// Who asked for a job, for the record and the audit log.
    public struct Actor: Sendable {
        public var userId: String?
        public var stationId: String?
        public var client: String?
        public init(userId: String? = nil, stationId: String? = nil, client: String? = nil) {
            self.userId = userId
            self.stationId = stationId
            self.client = client
        }
        public static let system = Actor(userId: "system", stationId: nil, client: "cli")
    }
}
