import Foundation

/// Everything a store manager can change from the dashboard, stored in the catalog's
/// `backup_settings` table (one row per section, JSON values) so that a change made by the
/// server, the CLI or another process is seen by the scheduler without a restart.
public struct BackupSettings: Codable, Sendable, Equatable {
    public var schedules = Schedules()
    public var retention = RetentionSettings()
    public var files = FileBackupSettings()
    public var alerts = AlertSettings()
    public var heartbeat = HeartbeatSettings()
    public var uploads = UploadSettings()

    public init() {}

    enum CodingKeys: String, CodingKey { case schedules, retention, files, alerts, heartbeat, uploads }

    /// `uploads` came with off-site copies: settings saved or sent without it keep its defaults.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        schedules = try container.decode(Schedules.self, forKey: .schedules)
        retention = try container.decode(RetentionSettings.self, forKey: .retention)
        files = try container.decode(FileBackupSettings.self, forKey: .files)
        alerts = try container.decode(AlertSettings.self, forKey: .alerts)
        heartbeat = try container.decode(HeartbeatSettings.self, forKey: .heartbeat)
        // Left out: the defaults. Given as null: refused, like any other section (the API document says an object).
        if container.contains(.uploads), try container.decodeNil(forKey: .uploads) {
            throw DecodingError.valueNotFound(UploadSettings.self, .init(codingPath: [CodingKeys.uploads], debugDescription: "uploads is null"))
        }
        uploads = try container.decodeIfPresent(UploadSettings.self, forKey: .uploads) ?? UploadSettings()
    }

    /// When each kind of backup runs, in the store's local time zone (R4.1, R4.2).
    public struct Schedules: Codable, Sendable, Equatable {
        /// IANA zone name, e.g. "America/Chicago"; nil means the server's zone.
        public var timeZone: String?
        /// Hourly database incremental at `minute` past every hour (spec: :00).
        public var dbIncremental = Hourly(enabled: true, minute: 0)
        /// Daily full database backup (spec: 23:59).
        public var dbFull = Daily(enabled: true, hour: 23, minute: 59)
        /// Weekly file backup; weekday 1 = Monday … 7 = Sunday (spec: Sunday 03:00).
        public var files = Weekly(enabled: true, weekday: 7, hour: 3, minute: 0)
        /// Monthly combined archive on `day` of the month (spec: the 1st at 02:00).
        public var full = Monthly(enabled: true, day: 1, hour: 2, minute: 0)

        public init() {}

        public struct Hourly: Codable, Sendable, Equatable {
            public var enabled: Bool
            public var minute: Int
            public init(enabled: Bool, minute: Int) { self.enabled = enabled; self.minute = minute }
        }
        public struct Daily: Codable, Sendable, Equatable {
            public var enabled: Bool
            public var hour: Int
            public var minute: Int
            public init(enabled: Bool, hour: Int, minute: Int) { self.enabled = enabled; self.hour = hour; self.minute = minute }
        }
        public struct Weekly: Codable, Sendable, Equatable {
            public var enabled: Bool
            public var weekday: Int
            public var hour: Int
            public var minute: Int
            public init(enabled: Bool, weekday: Int, hour: Int, minute: Int) {
                self.enabled = enabled; self.weekday = weekday; self.hour = hour; self.minute = minute
            }
        }
        public struct Monthly: Codable, Sendable, Equatable {
            public var enabled: Bool
            public var day: Int
            public var hour: Int
            public var minute: Int
            public init(enabled: Bool, day: Int, hour: Int, minute: Int) {
                self.enabled = enabled; self.day = day; self.hour = hour; self.minute = minute
            }
        }
    }

    /// How many backups of each kind are kept (R6), restic-style calendar buckets for the database.
    public struct RetentionSettings: Codable, Sendable, Equatable {
        public var keepHourly = 24
        public var keepDaily = 7
        public var keepWeekly = 4
        public var keepMonthly = 12
        public var keepFileBackups = 2
        public var keepFullArchives = 12
        /// Newest N per kind kept on a remote destination (R6.4).
        public var remoteKeep = 10
        public init() {}
    }

    /// The weekly file backup (R2).
    public struct FileBackupSettings: Codable, Sendable, Equatable {
        /// Glob patterns relative to the uploads folder that are never backed up.
        public var excludes = ["paint-swatches/**"]
        public init() {}
    }

    /// Where alerts go besides the dashboard.
    public struct AlertSettings: Codable, Sendable, Equatable {
        /// JSON POST for each new alert; nil for none.
        public var webhookURL: String?
        public init() {}
    }

    /// Dead-man's-switch pings in the healthchecks.io convention (see `HeartbeatPinger`): `GET URL` after
    /// each successful backup, `URL/start` when one starts, `URL/fail` when it fails. A service that
    /// stops backing up, or stops running at all, stops pinging, and the monitoring service notices.
    public struct HeartbeatSettings: Codable, Sendable, Equatable {
        /// For every database backup (hourly and daily) and the monthly full archive; nil for none.
        public var databaseURL: String?
        /// For every file backup; nil for none.
        public var filesURL: String?
        public init(databaseURL: String? = nil, filesURL: String? = nil) {
            self.databaseURL = databaseURL
            self.filesURL = filesURL
        }
    }

    /// Which kinds of backup are copied off-site (R5.1): the one place that decides it, read by the outbox
    /// (`Catalog.enqueueOffsiteCopies`) when a backup succeeds. How many remote copies are kept is
    /// `retention.remoteKeep`. Hourly incrementals stay on this server by default: 24 uploads a day of
    /// a chain that is useless without its base.
    public struct UploadSettings: Codable, Sendable, Equatable {
        public var dbIncremental = false
        public var dbFull = true
        public var files = true
        public var full = true
        public init() {}

        public func copies(_ kind: BackupKind) -> Bool {
            switch kind {
            case .dbIncremental: dbIncremental
            case .dbFull: dbFull
            case .files: files
            case .full: full
            }
        }
    }

    /// Problems with a proposed settings value, one per field, in words for the dashboard form.
    public func validationErrors() -> [FieldError] {
        var errors: [FieldError] = []
        func check(_ ok: Bool, _ field: String, _ message: String) {
            if !ok { errors.append(FieldError(field: field, message: message)) }
        }
        let s = schedules
        if let zone = s.timeZone { check(TimeZone(identifier: zone) != nil, "schedules.timeZone", "Unknown time zone \(zone).") }
        check((0...59).contains(s.dbIncremental.minute), "schedules.dbIncremental.minute", "Minute must be 0–59.")
        check((0...23).contains(s.dbFull.hour), "schedules.dbFull.hour", "Hour must be 0–23.")
        check((0...59).contains(s.dbFull.minute), "schedules.dbFull.minute", "Minute must be 0–59.")
        check((1...7).contains(s.files.weekday), "schedules.files.weekday", "Weekday must be 1 (Monday) to 7 (Sunday).")
        check((0...23).contains(s.files.hour), "schedules.files.hour", "Hour must be 0–23.")
        check((0...59).contains(s.files.minute), "schedules.files.minute", "Minute must be 0–59.")
        check((1...28).contains(s.full.day), "schedules.full.day", "Day must be 1–28, so that every month has it.")
        check((0...23).contains(s.full.hour), "schedules.full.hour", "Hour must be 0–23.")
        check((0...59).contains(s.full.minute), "schedules.full.minute", "Minute must be 0–59.")
        let r = retention
        for (name, value, range) in [("keepHourly", r.keepHourly, 0...1000), ("keepDaily", r.keepDaily, 0...1000),
                                     ("keepWeekly", r.keepWeekly, 0...520), ("keepMonthly", r.keepMonthly, 0...240),
                                     ("keepFileBackups", r.keepFileBackups, 1...100), ("keepFullArchives", r.keepFullArchives, 1...240),
                                     ("remoteKeep", r.remoteKeep, 1...1000)] {
            check(range.contains(value), "retention.\(name)", "Must be between \(range.lowerBound) and \(range.upperBound).")
        }
        for (i, pattern) in files.excludes.enumerated() {
            check(!pattern.isEmpty && !pattern.hasPrefix("/") && !pattern.contains(".."), "files.excludes[\(i)]",
                  "Exclude patterns are relative to the uploads folder and may not contain '..'.")
        }
        if let url = alerts.webhookURL {
            check(Self.isWebURL(url), "alerts.webhookURL", "The webhook must be an http:// or https:// URL.")
        }
        if let url = heartbeat.databaseURL {
            check(Self.isWebURL(url), "heartbeat.databaseURL", "The heartbeat URL must be an http:// or https:// URL.")
        }
        if let url = heartbeat.filesURL {
            check(Self.isWebURL(url), "heartbeat.filesURL", "The heartbeat URL must be an http:// or https:// URL.")
        }
        return errors
    }
}

extension BackupSettings {
    /// The rule for every URL the service calls out to (the webhook, the heartbeats).
    static func isWebURL(_ text: String) -> Bool {
        let parsed = URL(string: text)
        return parsed?.scheme == "http" || parsed?.scheme == "https"
    }
}

public struct FieldError: Codable, Sendable, Equatable {
    public var field: String
    public var message: String
}
