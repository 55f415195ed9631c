import BackupCore
import Foundation
@testable import Server
import Testing

@Suite("API behaviour: lists, settings, errors, monitoring", .serialized)
struct APITests {
    @Test func backupListsArePagedFilteredAndNewestFirst() async throws {
        let store = try TestStore()
        let jobs = try (0..<3).map { _ in try store.backup() }
        _ = try BackupDeletion(context: store.context).delete(jobs[0], reason: "test")
        try await store.run { http in
            let page = try await http.get("/api/v1/backups?limit=2", token: Tokens.admin).json()
            #expect((page["items"] as? [[String: Any]])?.compactMap { $0["id"] as? Int } == [Int(jobs[2].id!), Int(jobs[1].id!)])
            #expect(page["nextOffset"] as? Int == 2)
            let rest = try await http.get("/api/v1/backups?limit=2&offset=2", token: Tokens.admin).json()
            #expect((rest["items"] as? [[String: Any]])?.count == 1 && rest["nextOffset"] == nil)
            let deleted = try await http.get("/api/v1/backups?status=deleted", token: Tokens.admin).json()
            #expect((deleted["items"] as? [[String: Any]])?.compactMap { $0["id"] as? Int } == [Int(jobs[0].id!)])
            // No server paths in the API: a file name, and downloads go through the API.
            let first = (page["items"] as? [[String: Any]])?.first ?? [:]
            #expect(first["path"] == nil && (first["fileName"] as? String)?.hasSuffix(".zip") == true)

            for bad in ["limit=0", "limit=501", "limit=x", "offset=-1", "kind=weekly", "status=lost", "offset=99999999999999999999"] {
                let response = try await http.get("/api/v1/backups?\(bad)", token: Tokens.admin)
                #expect(response.status == 400, "\(bad)")
            }
            let detail = try await http.get("/api/v1/backups/\(jobs[2].id!)", token: Tokens.admin).json()
            let manifest = detail["manifest"] as? [String: Any]
            #expect(manifest?["entryCount"] as? Int == 2)  // the database and the config file
            #expect((manifest?["database"] as? [String: Any])?["imageSha256"] as? String == jobs[2].imageSha256)
            #expect((detail["chain"] as? [[String: Any]])?.count == 1)
            for bad in ["0", "-3", "abc", "1.5", "99999999999999999999"] {
                #expect(try await http.get("/api/v1/backups/\(bad)", token: Tokens.admin).status == 400, "\(bad)")
            }
            #expect(try await http.get("/api/v1/backups/4242", token: Tokens.admin).status == 404)
        }
    }

    @Test func settingsAreValidatedFieldByField() async throws {
        let store = try TestStore()
        try await store.run { http in
            let current = try await http.get("/api/v1/settings", token: Tokens.admin)
            #expect(current.status == 200)
            var settings = try JSONSerialization.jsonObject(with: current.body) as! [String: Any]
            var schedules = settings["schedules"] as! [String: Any]
            var daily = schedules["dbFull"] as! [String: Any]
            daily["hour"] = 22
            schedules["dbFull"] = daily
            schedules["timeZone"] = "America/Chicago"
            settings["schedules"] = schedules
            func put(_ object: Any) async throws -> HTTP.Response {
                try await http.request("PUT", "/api/v1/settings", token: Tokens.admin,
                                       body: .data(try JSONSerialization.data(withJSONObject: object), contentType: "application/json"))
            }
            let saved = try await put(settings)
            #expect(saved.status == 200, "\(saved.text)")
            #expect(try SettingsStore(catalog: store.catalog).load().schedules.dbFull.hour == 22)

            // Out-of-range values: 422, one error per field, nothing saved.
            daily["hour"] = 24
            daily["minute"] = -1
            schedules["dbFull"] = daily
            schedules["timeZone"] = "Mars/Olympus"
            settings["schedules"] = schedules
            let invalid = try await put(settings)
            #expect(invalid.status == 422)
            let fields = ((try invalid.json()["error"] as? [String: Any])?["fields"] as? [[String: Any]])?.compactMap { $0["field"] as? String }
            #expect(Set(fields ?? []) == ["schedules.dbFull.hour", "schedules.dbFull.minute", "schedules.timeZone"])
            #expect(try SettingsStore(catalog: store.catalog).load().schedules.dbFull.hour == 22)

            // Unknown, missing and mistyped fields, malformed JSON: 400 naming the field.
            var unknown = try JSONSerialization.jsonObject(with: current.body) as! [String: Any]
            unknown["retention"] = (unknown["retention"] as! [String: Any]).merging(["keepYearly": 3]) { $1 }
            let unknownResponse = try await put(unknown)
            #expect(unknownResponse.status == 400 && unknownResponse.errorCode == "unknown_field")
            #expect(unknownResponse.errorMessage?.contains("retention.keepYearly") == true)
            var missing = try JSONSerialization.jsonObject(with: current.body) as! [String: Any]
            missing.removeValue(forKey: "files")
            let missingResponse = try await put(missing)
            #expect(missingResponse.status == 400 && missingResponse.errorMessage?.contains("files") == true)
            var mistyped = try JSONSerialization.jsonObject(with: current.body) as! [String: Any]
            mistyped["retention"] = (mistyped["retention"] as! [String: Any]).merging(["keepDaily": "seven"]) { $1 }
            let mistypedResponse = try await put(mistyped)
            #expect(mistypedResponse.status == 400 && mistypedResponse.errorMessage?.contains("retention.keepDaily") == true)
            var nullUploads = try JSONSerialization.jsonObject(with: current.body) as! [String: Any]
            nullUploads["uploads"] = NSNull()  // left out keeps the defaults; null is not an object
            let nullResponse = try await put(nullUploads)
            #expect(nullResponse.status == 400 && nullResponse.errorMessage?.contains("uploads") == true, "\(nullResponse.text)")
            for body in ["{", "[]", "null", "", "{\"schedules\": 1}"] {
                let response = try await http.request("PUT", "/api/v1/settings", token: Tokens.admin, body: .data(Data(body.utf8), contentType: "application/json"))
                #expect(response.status == 400, "\(body)")
            }
            let huge = Data(repeating: 0x20, count: 2 << 20)
            #expect(try await http.request("PUT", "/api/v1/settings", token: Tokens.admin, body: .data(huge, contentType: "application/json")).status == 413)
        }
    }

    @Test func errorsAreJSONAndWrongMethodsAre405() async throws {
        let store = try TestStore()
        try await store.run { http in
            let nothing = try await http.get("/api/v1/nothing-here", token: Tokens.admin)
            #expect(nothing.status == 404 && nothing.errorCode == "not_found")
            let wrongMethod = try await http.request("PATCH", "/api/v1/settings", token: Tokens.admin)
            #expect(wrongMethod.status == 405)
            #expect(wrongMethod.header("Allow") == "GET, PUT")
            // Outside /api/ a GET the router does not know is the dashboard's page (DashboardServingTests).
            let root = try await http.get("/")
            #expect(root.header("Content-Type") == "text/html; charset=utf-8")
            // Archives are never reachable through a static path: that is the dashboard's page too.
            let archives = try await http.get("/archives/db/")
            #expect(archives.header("Content-Type") == "text/html; charset=utf-8" && !archives.text.contains("PK"))
            let ack = try await http.post("/api/v1/alerts/77/acknowledge", token: Tokens.admin)
            #expect(ack.status == 404)
        }
    }

    @Test func healthMetricsAndTheOpenAPIDocument() async throws {
        let store = try TestStore()
        _ = try store.backup()
        try await store.run { http in
            let health = try await http.get("/healthz")
            #expect(health.status == 200 && health.text == #"{"status":"ok"}"#)
            let metrics = try await http.get("/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.header("Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
            #expect(metrics.text.contains("# TYPE caps_backup_last_success_timestamp_seconds gauge"))
            #expect(metrics.text.contains(#"caps_backup_failures_total{kind="db-full"} 0"#))
            #expect(metrics.text.contains("caps_backup_alerts_open 0"))
            #expect(metrics.text.range(of: #"caps_backup_last_size_bytes\{kind="db-full"\} [1-9][0-9]*"#, options: .regularExpression) != nil)
            let document = try await http.get("/api/v1/openapi.json").json()
            #expect(document["openapi"] as? String == "3.1.0")
        }
        let closed = try TestStore { $0.metrics = .off }
        try await closed.run { http in
            let metrics = try await http.get("/metrics")
            #expect(metrics.status == 404)
        }
    }

    @Test func demoLoginMintsTokensForTheTwoDemoUsers() async throws {
        let store = try TestStore { $0.demo = true }
        try await store.run { http in
            let page = try await http.get("/login")
            #expect(page.status == 200 && page.header("Content-Type")?.hasPrefix("text/html") == true)
            let admin = try await http.post("/login", json: #"{"user":"admin"}"#).json()
            let adminToken = try #require(admin["token"] as? String)
            #expect(try await http.get("/api/v1/overview", token: adminToken).status == 200)
            let cashier = try await http.post("/login", json: #"{"user":"cashier"}"#).json()
            #expect(try await http.get("/api/v1/overview", token: try #require(cashier["token"] as? String)).status == 403)
            #expect(try await http.post("/login", json: #"{"user":"root"}"#).status == 401)
        }
        // Not in production mode.
        let production = try TestStore()
        try await production.run { http in
            let response = try await http.post("/login", json: #"{"user":"admin"}"#)
            #expect(response.status == 404)
        }
    }

    /// The OpenAPI document describes exactly the router's routes.
    @Test func theOpenAPIDocumentMatchesTheRouter() throws {
        let store = try TestStore()
        let document = try json(Data(store.server.services.openAPI.readableBytesView))
        let paths = document["paths"] as? [String: [String: Any]] ?? [:]
        let documented = Set(paths.flatMap { path, operations in operations.keys.map { "\($0.uppercased()) \(path)" } })
        let routed = Set(store.server.makeRouter().routes.map { "\($0.method) \($0.path)" })
        #expect(documented == routed, "undocumented: \(routed.subtracting(documented)); not routed: \(documented.subtracting(routed))")
    }

    @Test func overviewSaysWhatTheDashboardShows() async throws {
        let store = try TestStore()
        let job = try store.backup()
        try store.catalog.raiseAlert(.critical, kind: "disk-space", message: "Disk nearly full.")
        try await store.run { http in
            let response = try await http.get("/api/v1/overview", token: Tokens.admin)
            // Decoded into the API's own type, so a renamed or retyped field fails here; absent optionals are
            // checked against the keys actually sent, so a renamed optional cannot pass as "absent".
            let overview = try Manifest.decoder.decode(OverviewRoutes.Overview.self, from: response.body)
            #expect(Set(try response.json().keys) == ["lastDatabaseBackup", "nextRuns", "storage", "destinations", "alerts", "drive"])
            #expect(overview.lastDatabaseBackup?.id == job.id)
            #expect(overview.lastFileBackup == nil && overview.lastFullBackup == nil && overview.running == nil)
            #expect(overview.nextRuns.count == 4)
            #expect(overview.storage.archiveCount == 1 && overview.storage.usedBytes > 0 && (overview.storage.freeBytes ?? 0) > 0)
            #expect(overview.alerts.open == 1 && overview.alerts.newest.first?.message == "Disk nearly full.")
        }
    }

    @Test func nextRunsFollowTheSchedules() {
        var schedules = BackupSettings.Schedules()
        schedules.timeZone = "America/Chicago"
        // Saturday 2026-11-28 12:30 in Chicago (18:30 UTC).
        let now = Date(timeIntervalSince1970: 1_795_890_600)
        let runs = Dictionary(uniqueKeysWithValues: ScheduleEstimate.nextRuns(schedules, after: now).map { ($0.kind, $0.at) })
        #expect(runs[.dbIncremental] == now.addingTimeInterval(30 * 60))
        #expect(runs[.dbFull] == now.addingTimeInterval(11 * 3600 + 29 * 60))
        #expect(runs[.files] == now.addingTimeInterval(14 * 3600 + 30 * 60))       // Sunday 03:00
        #expect(runs[.full].map { Timestamp.iso8601($0) } == "2026-12-01T08:00:00.000Z")  // 02:00 CST on the 1st
    }
}
