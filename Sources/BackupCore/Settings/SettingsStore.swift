import Foundation
import GRDB

/// Reads and writes `BackupSettings` in the catalog. Each section is one row of `backup_settings`
/// (`schedules`, `retention`, `files`, `alerts`, `heartbeat`, `uploads`); a missing row means that section's defaults, so a
/// new catalog needs no seeding. Reading is five small rows: cheap enough for every scheduler tick.
public struct SettingsStore: Sendable {
    public let catalog: Catalog
    public init(catalog: Catalog) { self.catalog = catalog }

    public func load() throws -> BackupSettings {
        try catalog.database.read { db in
            var settings = BackupSettings()
            let rows = try BackupSetting.fetchAll(db)
            for row in rows {
                let data = Data(row.value.utf8)
                switch row.key {
                case "schedules": settings.schedules = try Self.decoder.decode(BackupSettings.Schedules.self, from: data)
                case "retention": settings.retention = try Self.decoder.decode(BackupSettings.RetentionSettings.self, from: data)
                case "files": settings.files = try Self.decoder.decode(BackupSettings.FileBackupSettings.self, from: data)
                case "alerts": settings.alerts = try Self.decoder.decode(BackupSettings.AlertSettings.self, from: data)
                case "heartbeat": settings.heartbeat = try Self.decoder.decode(BackupSettings.HeartbeatSettings.self, from: data)
                case "uploads": settings.uploads = try Self.decoder.decode(BackupSettings.UploadSettings.self, from: data)
                default: continue
                }
            }
            return settings
        }
    }

    /// Validates and saves; on invalid input nothing is written and every problem is reported.
    public func save(_ settings: BackupSettings, at now: Date = Date()) throws {
        let errors = settings.validationErrors()
        guard errors.isEmpty else { throw SettingsValidationError(errors: errors) }
        let sections: [(String, any Encodable)] = [
            ("schedules", settings.schedules), ("retention", settings.retention), ("files", settings.files), ("alerts", settings.alerts),
            ("heartbeat", settings.heartbeat), ("uploads", settings.uploads),
        ]
        try catalog.database.write { db in
            for (key, value) in sections {
                var row = BackupSetting(key: key, value: String(decoding: try Self.encoder.encode(value), as: UTF8.self), updatedAt: now)
                try row.upsert(db)
            }
        }
    }

    /// The `uploads` section, read inside a transaction the caller holds (the outbox is written in the one
    /// that marks a backup succeeded).
    static func uploads(_ db: GRDB.Database) throws -> BackupSettings.UploadSettings {
        guard let row = try BackupSetting.fetchOne(db, key: "uploads") else { return BackupSettings.UploadSettings() }
        return try decoder.decode(BackupSettings.UploadSettings.self, from: Data(row.value.utf8))
    }

    static let decoder = JSONDecoder()
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()
}

public struct SettingsValidationError: Error, Sendable {
    public var errors: [FieldError]
}
