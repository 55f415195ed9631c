import BackupCore
import Foundation
import Hummingbird

/// GET and PUT /api/v1/settings: schedules, retention, file excludes, alert webhook, heartbeat pings (R9.4).
/// PUT takes the whole document (the dashboard sends back what it got, edited); it is checked
/// field by field and saved only if every field is valid (422 lists each problem).
struct SettingsRoutes {
    let services: APIServices

    func register(on api: RouterGroup<APIRequestContext>) {
        api.get("/settings") { _, _ in
            try JSON.response(try await Blocking.run { [catalog = services.catalog] in try SettingsStore(catalog: catalog).load() })
        }
        api.put("/settings", use: services.auditor.audited("settings.update") { request, _, note in
            note.target = "settings"
            let settings = try await StrictJSON.decode(BackupSettings.self, from: request, shape: Self.shape)
            let (changed, before) = try await Blocking.run { [services] () throws -> ([String], BackupSettings) in
                let store = SettingsStore(catalog: services.catalog)
                let before = try store.load()
                try store.save(settings, at: services.context.now())
                return (Self.changedSections(before, settings), before)
            }
            note.detail = changed.isEmpty ? "no change" : "changed: \(changed.joined(separator: ", "))"
            if before.alerts.webhookURL != settings.alerts.webhookURL {
                note.detail! += "; webhook now \(Self.webhookHost(settings.alerts.webhookURL))"
            }
            return try JSON.response(settings)
        })
    }

    /// Every field of the settings, optional ones included: what `StrictJSON` accepts.
    static let shape: BackupSettings = {
        var s = BackupSettings()
        s.schedules.timeZone = "UTC"
        s.alerts.webhookURL = "https://example.invalid/"
        s.heartbeat = .init(databaseURL: "https://example.invalid/db", filesURL: "https://example.invalid/files")
        return s
    }()

    /// Where alerts now go, for the audit row: the webhook's host only, since its path or query
    /// may carry a token.
    static func webhookHost(_ url: String?) -> String {
        guard let url else { return "off" }
        guard let components = URLComponents(string: url), let host = components.host, !host.isEmpty else { return "set (no host)" }
        return "to host \(host.prefix(255))" + (components.port.map { ":\($0)" } ?? "")
    }

    static func changedSections(_ a: BackupSettings, _ b: BackupSettings) -> [String] {
        var changed: [String] = []
        if a.schedules != b.schedules { changed.append("schedules") }
        if a.retention != b.retention { changed.append("retention") }
        if a.files != b.files { changed.append("files") }
        if a.alerts != b.alerts { changed.append("alerts") }
        if a.heartbeat != b.heartbeat { changed.append("heartbeat") }
        if a.uploads != b.uploads { changed.append("uploads") }
        return changed
    }
}
