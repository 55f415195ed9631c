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
    public var host: String
    public var now: @Sendable () -> Date
    public var availableBytes: @Sendable (URL) throws -> UInt64
    /// Dead-man's-switch pings for the jobs `BackupRunner` runs (none unless the settings name a URL).
    public var heartbeat: HeartbeatPinger

    public init(dataDirectory: DataDirectory, catalog: Catalog, posDatabase: URL?, uploads: URL? = nil, configFiles: [URL] = [],
                host: String = ProcessInfo.processInfo.hostName,
                now: @escaping @Sendable () -> Date = { Date() },
                availableBytes: @escaping @Sendable (URL) throws -> UInt64 = { try POSIXFile.availableBytes(at: $0) },
                heartbeat: HeartbeatPinger? = nil) {
        self.dataDirectory = dataDirectory
        self.catalog = catalog
        self.posDatabase = posDatabase
        self.uploads = uploads
        self.configFiles = configFiles
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
                             uploads: config.uploads, configFiles: config.configFiles)
    }

    public func requirePOSDatabase() throws -> URL {
        guard let posDatabase else {
            throw BackupError(.configuration, "No POS database is configured: pass --pos-db PATH or set [store] pos_db in the config file.")
        }
        return posDatabase
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
