import BackupCore
import Foundation
@testable import Server
import Testing

/// The `heartbeat` section of the settings through the API (issue 15, part 3).
@Suite("API: heartbeat settings", .serialized)
struct HeartbeatSettingsTests {
    @Test func heartbeatURLsAreShownSavedAndValidated() async throws {
        let store = try TestStore()
        try await store.run { http in
            let current = try await http.get("/api/v1/settings", token: Tokens.admin)
            #expect(current.status == 200)
            var settings = try JSONSerialization.jsonObject(with: current.body) as! [String: Any]
            #expect((settings["heartbeat"] as? [String: Any])?.isEmpty == true, "shown, empty by default")
            func put(_ object: Any) async throws -> HTTP.Response {
                try await http.request("PUT", "/api/v1/settings", token: Tokens.admin,
                                       body: .data(try JSONSerialization.data(withJSONObject: object), contentType: "application/json"))
            }

            settings["heartbeat"] = ["databaseURL": "https://hc-ping.com/0e3c4c7e", "filesURL": "https://hc-ping.com/77a1"]
            let saved = try await put(settings)
            #expect(saved.status == 200, "\(saved.text)")
            #expect(try SettingsStore(catalog: store.catalog).load().heartbeat == .init(databaseURL: "https://hc-ping.com/0e3c4c7e",
                                                                                         filesURL: "https://hc-ping.com/77a1"))
            let shown = try JSONSerialization.jsonObject(with: try await http.get("/api/v1/settings", token: Tokens.admin).body) as! [String: Any]
            #expect((shown["heartbeat"] as? [String: String])?["databaseURL"] == "https://hc-ping.com/0e3c4c7e")

            // Not http(s): 422 naming the field, nothing saved.
            settings["heartbeat"] = ["databaseURL": "ftp://hc-ping.com/x", "filesURL": "hc-ping.com/y"]
            let invalid = try await put(settings)
            #expect(invalid.status == 422)
            let fields = ((try invalid.json()["error"] as? [String: Any])?["fields"] as? [[String: Any]])?.compactMap { $0["field"] as? String }
            #expect(Set(fields ?? []) == ["heartbeat.databaseURL", "heartbeat.filesURL"])
            #expect(try SettingsStore(catalog: store.catalog).load().heartbeat.databaseURL == "https://hc-ping.com/0e3c4c7e")

            // Unknown and mistyped fields: 400 naming the field; null clears a URL.
            settings["heartbeat"] = ["databaseURL": "https://hc-ping.com/0e3c4c7e", "failURL": "https://x.test/"]
            let unknown = try await put(settings)
            #expect(unknown.status == 400 && unknown.errorMessage?.contains("heartbeat.failURL") == true)
            settings["heartbeat"] = ["databaseURL": 42]
            let mistyped = try await put(settings)
            #expect(mistyped.status == 400 && mistyped.errorMessage?.contains("heartbeat.databaseURL") == true)
            settings["heartbeat"] = ["databaseURL": NSNull(), "filesURL": "https://hc-ping.com/77a1"]
            #expect(try await put(settings).status == 200)
            #expect(try SettingsStore(catalog: store.catalog).load().heartbeat == .init(filesURL: "https://hc-ping.com/77a1"))
        }
    }
}
