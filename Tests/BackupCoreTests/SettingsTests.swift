import BackupCore
import Foundation
import Testing

@Suite("Settings")
struct SettingsTests {
    @Test("Defaults are the spec's schedules and retention")
    func defaults() throws {
        let dir = TemporaryDirectory()
        let store = SettingsStore(catalog: try makeContext(dir, posDatabase: nil).catalog)
        let settings = try store.load()
        #expect(settings.schedules.dbIncremental.minute == 0)
        #expect(settings.schedules.dbFull.hour == 23 && settings.schedules.dbFull.minute == 59)
        #expect(settings.schedules.files.weekday == 7 && settings.schedules.files.hour == 3)
        #expect(settings.schedules.full.day == 1 && settings.schedules.full.hour == 2)
        #expect(settings.retention.keepDaily == 7 && settings.retention.keepWeekly == 4 && settings.retention.keepMonthly == 12)
        #expect(settings.retention.keepFileBackups == 2 && settings.retention.remoteKeep == 10)
    }

    @Test("A saved change is what the next load sees, from another catalog connection too")
    func roundTrip() throws {
        let dir = TemporaryDirectory()
        let context = try makeContext(dir, posDatabase: nil)
        var settings = BackupSettings()
        settings.schedules.dbFull = .init(enabled: false, hour: 22, minute: 30)
        settings.retention.keepDaily = 10
        settings.alerts.webhookURL = "https://hooks.example.test/caps"
        try SettingsStore(catalog: context.catalog).save(settings)
        let other = try Catalog(url: context.dataDirectory.catalog)
        #expect(try SettingsStore(catalog: other).load() == settings)
    }

    @Test("Invalid values are refused field by field and nothing is saved")
    func invalid() throws {
        let dir = TemporaryDirectory()
        let store = SettingsStore(catalog: try makeContext(dir, posDatabase: nil).catalog)
        var settings = BackupSettings()
        settings.schedules.dbFull.hour = 24
        settings.schedules.files.weekday = 0
        settings.schedules.timeZone = "Mars/Olympus"
        settings.retention.keepFileBackups = 0
        settings.files.excludes = ["../etc"]
        settings.alerts.webhookURL = "ftp://x"
        let error = #expect(throws: SettingsValidationError.self) { try store.save(settings) }
        #expect(Set(error?.errors.map(\.field) ?? []) == [
            "schedules.dbFull.hour", "schedules.files.weekday", "schedules.timeZone", "retention.keepFileBackups",
            "files.excludes[0]", "alerts.webhookURL",
        ])
        #expect(try store.load() == BackupSettings())
    }
}

@Suite("Settings: heartbeat URLs")
struct HeartbeatSettingsTests {
    @Test("Heartbeat URLs are saved and read back, from another catalog connection too")
    func roundTrip() throws {
        let dir = TemporaryDirectory()
        let context = try makeContext(dir, posDatabase: nil)
        #expect(try SettingsStore(catalog: context.catalog).load().heartbeat == .init(), "none by default")
        var settings = BackupSettings()
        settings.heartbeat = .init(databaseURL: "https://hc-ping.com/1f0c", filesURL: "http://monitor.example.test/ping/files")
        try SettingsStore(catalog: context.catalog).save(settings)
        #expect(try SettingsStore(catalog: try Catalog(url: context.dataDirectory.catalog)).load() == settings)
    }

    @Test("A heartbeat URL that is not http(s) is refused, field by field, with the webhook's rule, and nothing is saved",
          arguments: ["ftp://hc.example.test/x", "hc-ping.com/abc", "", "javascript:alert(1)", "http//missing-colon"])
    func invalid(_ url: String) throws {
        let dir = TemporaryDirectory()
        let store = SettingsStore(catalog: try makeContext(dir, posDatabase: nil).catalog)
        var good = BackupSettings()
        good.heartbeat.databaseURL = "https://hc-ping.com/keep"
        try store.save(good)
        for field in ["heartbeat.databaseURL", "heartbeat.filesURL"] {
            var settings = good
            if field == "heartbeat.databaseURL" { settings.heartbeat.databaseURL = url } else { settings.heartbeat.filesURL = url }
            settings.retention.keepDaily = 3  // a valid change that must not be saved either
            let error = #expect(throws: SettingsValidationError.self) { try store.save(settings) }
            #expect(error?.errors.map(\.field) == [field])
            #expect(error?.errors.first?.message == "The heartbeat URL must be an http:// or https:// URL.")
            #expect(try store.load() == good)
        }
    }
}
