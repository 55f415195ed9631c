import ArgumentParser
import BackupCore
import Destinations
import Foundation

/// The options every store-facing command shares: the config file and the flags that override it.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "TOML config file ([store], [service], [auth]).")
    var config: String?

    @Option(name: .customLong("pos-db"), help: "The POS SQLite database.")
    var posDB: String?

    @Option(name: .long, help: "The POS uploads folder.")
    var uploads: String?

    @Option(name: .customLong("config-files"), help: "Comma-separated config files to include in database backups.")
    var configFiles: String?

    @Option(name: .customLong("config-redact-keys"),
            help: "Comma-separated keys whose values are left out of the config files in backups (e.g. jwt_hs256_secret).")
    var configRedactKeys: String?

    @Option(name: .customLong("data-dir"), help: "Where caps-backup keeps its catalog, archives and secrets (default \(ServiceConfig.defaultDataDirectory)).")
    var dataDir: String?

    func resolve() throws -> ServiceConfig {
        var config = ServiceConfig()
        if let file = self.config { config = try ServiceConfig.load(URL(fileURLWithPath: file)) }
        if let posDB { config.posDatabase = URL(fileURLWithPath: posDB) }
        if let uploads { config.uploads = URL(fileURLWithPath: uploads) }
        if let configFiles {
            config.configFiles = configFiles.split(separator: ",").map { URL(fileURLWithPath: String($0).trimmingCharacters(in: .whitespaces)) }
        }
        if let configRedactKeys {
            config.configRedactKeys = configRedactKeys.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
            try config.checkRedactKeys()
        }
        if let dataDir { config.dataDirectory = URL(fileURLWithPath: dataDir) }
        return config
    }

    /// Opens the data directory and catalog. Everything this process creates is private to its user.
    /// - Parameter recovering: clean up after any job that died mid-way (unless a job is running now);
    ///   commands that run a job pass false, since every job does that first (`exclusiveJob`).
    func context(recovering: Bool = true) throws -> BackupContext {
        umask(0o077)
        let config = try resolve()
        var context = try BackupContext.open(config)
        // A restore whose archive is gone from this disk fetches the Drive copy.
        let session = GoogleSession(config: config.google, store: GoogleTokenStore(dataDirectory: context.dataDirectory), now: context.now)
        if let drive = GoogleDriveConnector.destination(context: context, config: config.google, tokens: session) { context.offsite = [drive] }
        if recovering { try context.recoverIfIdle() }
        return context
    }
}

/// Output conventions: with `--json`, exactly one JSON document on stdout; without, text for people.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print one JSON document on stdout.")
    var json = false

    @Option(name: .long, help: "Progress on stderr: auto (a bar on a terminal), json (one object per line), none.")
    var progress: TerminalProgress.Style = .auto
}

enum Output {
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(Timestamp.iso8601(date))
        }
        return e
    }()

    static func json<T: Encodable>(_ value: T) throws {
        let data = try encoder.encode(value)
        FileHandle.standardOutput.write(data)
        FileHandle.standardOutput.write(Data("\n".utf8))
    }

    static func error(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// A local time as a store manager reads it: 2026-11-26 14:05.
    static func localTime(_ date: Date?) -> String {
        guard let date else { return "-" }
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        f.timeZone = .current
        return f.string(from: date)
    }
}

/// Resolves the `ID|ARCHIVE` argument: a catalog id, a backup uuid, or a file path.
enum BackupReference {
    case job(BackupRecord)
    case file(URL)

    static func resolve(_ text: String, in context: BackupContext) throws -> BackupReference {
        if let id = Int64(text) {
            guard let job = try context.catalog.job(id: id) else {
                throw BackupError(.notFound, "There is no backup with id \(id). See: caps-backup list")
            }
            return .job(job)
        }
        if let job = try context.catalog.job(uuid: text) { return .job(job) }
        let url = URL(fileURLWithPath: text)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw BackupError(.notFound, "\(text) is neither a backup id nor an existing file.")
        }
        return .file(url)
    }
}
