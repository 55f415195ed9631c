import BackupCore
import Foundation
@testable import Server
import Testing

@Suite("Job logs kept in the catalog (R9.6)", .serialized)
struct JobLogTests {
    @Test func aBackupsLogIsStillThereAfterTheServerRestarts() async throws {
        let store = try TestStore()
        let id: Int64 = try await store.run { http in
            let started = try await http.post("/api/v1/backups", token: Tokens.admin, json: #"{"kind":"db-full"}"#)
            #expect(started.status == 202)
            let id = try #require(try started.json()["id"] as? Int)
            try await eventually { !store.server.coordinator.isBusy }
            return Int64(id)
        }
        // A new server on the same data directory: nothing of the first one's memory is left.
        let again = try CapsServer(configuration: store.server.configuration, context: store.context)
        let (all, errors) = try await again.makeApplication().test(.live) { client in
            let http = HTTP(port: client.port!)
            let all = try await http.get("/api/v1/backups/\(id)/logs", token: Tokens.admin)
            let errors = try await http.get("/api/v1/backups/\(id)/logs?level=error", token: Tokens.admin)
            return (try all.json(), try errors.json())
        }
        let messages = (all["items"] as? [[String: Any]] ?? []).compactMap { $0["message"] as? String }
        #expect(messages.first?.hasPrefix("Backup of kind db-full requested by user admin") == true, "\(messages)")
        #expect(messages.contains("snapshot started"))
        #expect(messages.contains { $0.hasPrefix("snapshot finished in") })
        #expect(messages.last?.hasPrefix("Backup \(id) succeeded") == true, "\(messages)")
        #expect(all["total"] as? Int == messages.count)
        #expect((errors["items"] as? [Any])?.isEmpty == true)
    }

    @Test func theLogIsPagedAndFilteredByLevel() async throws {
        let store = try TestStore()
        let job = try store.backup()
        let at = Date()
        try store.catalog.appendJobLog((0..<30).map { JobLogLine(at: at, level: $0 % 10 == 0 ? "error" : "info", message: "line \($0)") },
                                       owner: .backup, jobId: job.id!)
        try await store.run { http in
            let page = try await http.get("/api/v1/backups/\(job.id!)/logs?limit=10&offset=10", token: Tokens.admin).json()
            #expect((page["items"] as? [[String: Any]])?.first?["message"] as? String == "line 10")
            #expect(page["nextOffset"] as? Int == 20)
            let errors = try await http.get("/api/v1/backups/\(job.id!)/logs?level=warning", token: Tokens.admin).json()
            #expect((errors["items"] as? [[String: Any]])?.compactMap { $0["message"] as? String } == ["line 0", "line 10", "line 20"])
            let bad = try await http.get("/api/v1/backups/\(job.id!)/logs?level=loud", token: Tokens.admin)
            #expect(bad.status == 400)
        }
    }

    @Test func theCapKeepsOneLineThatCountsTheRest() throws {
        let store = try TestStore()
        let at = Date()
        try store.catalog.appendJobLog((0..<1_995).map { JobLogLine(at: at, level: "info", message: "line \($0)") }, owner: .restore, jobId: 7)
        for i in 0..<15 { try store.catalog.appendJobLog([JobLogLine(at: at, level: "info", message: "late \(i)")], owner: .restore, jobId: 7) }
        let (lines, total) = try store.catalog.jobLog(owner: .restore, jobId: 7, limit: 5_000)
        #expect(total == Catalog.jobLogCap + 1)
        #expect(lines[Catalog.jobLogCap - 1].message == "late 4")
        #expect(lines.last?.message == "… 10 more lines not kept")
        #expect(lines.last?.level == "warning")
        // Another job's log is its own.
        #expect(try store.catalog.jobLog(owner: .backup, jobId: 7).total == 0)
    }

    @Test func logsOlderThanTheAgeLimitArePrunedAtStartUp() throws {
        let clock = MovingClock()
        let store = try TestStore(clock: clock)
        let now = clock.now()
        try store.catalog.appendJobLog([JobLogLine(at: now.addingTimeInterval(-91 * 86_400), level: "info", message: "old")], owner: .backup, jobId: 1)
        try store.catalog.appendJobLog([JobLogLine(at: now.addingTimeInterval(-89 * 86_400), level: "info", message: "recent")], owner: .backup, jobId: 2)
        _ = try CapsServer(configuration: store.server.configuration, context: store.context)
        #expect(try store.catalog.jobLog(owner: .backup, jobId: 1).total == 0)
        #expect(try store.catalog.jobLog(owner: .backup, jobId: 2).lines.map(\.message) == ["recent"])
        clock.advance(2 * 86_400)
        _ = try CapsServer(configuration: store.server.configuration, context: store.context)
        #expect(try store.catalog.jobLog(owner: .backup, jobId: 2).total == 0)
    }
}

@Suite("Verify, download tickets, deletion preview, the backup list's off-site and chain state", .serialized)
struct BackupActionTests {
    @Test func verifyReportsAGoodAndADamagedArchiveAndAuditsBoth() async throws {
        let store = try TestStore()
        let good = try store.backup()
        let bad = try store.backup()
        // One byte flipped in the middle of the second archive.
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: bad.path!))
        let size = try handle.seekToEnd()
        try handle.seek(toOffset: size / 2)
        let byte = try handle.read(upToCount: 1)![0]
        try handle.seek(toOffset: size / 2)
        handle.write(Data([byte ^ 0xFF]))
        try handle.close()
        try await store.run { http in
            let ok = try await http.post("/api/v1/backups/\(good.id!)/verify", token: Tokens.admin)
            #expect(ok.status == 200)
            #expect(try ok.json()["status"] as? String == "ok")
            #expect(try ok.json()["integrity"] as? String == "ok")
            #expect(ok.text.contains(store.dir.url.path) == false, "no server path in the answer")
            let damaged = try await http.post("/api/v1/backups/\(bad.id!)/verify", token: Tokens.admin)
            #expect(damaged.status == 200)
            #expect(try damaged.json()["status"] as? String == "failed")
            #expect((try damaged.json()["error"] as? String)?.isEmpty == false)
            #expect(try await http.post("/api/v1/backups/999/verify", token: Tokens.admin).status == 404)
        }
        let rows = try store.auditRows().filter { $0.action == "backup.verify" }
        #expect(rows.map(\.outcome).sorted() == ["failed", "rejected", "succeeded"])
        #expect(rows.allSatisfy { $0.userId == "admin" })
    }

    @Test func aDownloadTicketWorksOnceForItsBackupAndUser() async throws {
        let clock = MovingClock()
        let store = try TestStore(clock: clock)
        let backup = try store.backup()
        let other = try store.backup()
        let archive = try Data(contentsOf: URL(fileURLWithPath: backup.path!))
        @Sendable func ticket(_ http: HTTP, _ id: Int64) async throws -> String {
            let response = try await http.post("/api/v1/backups/\(id)/download-ticket", token: Tokens.admin)
            #expect(response.status == 201)
            #expect(try response.json()["expires_in"] as? Int == 60)
            return try #require(try response.json()["url"] as? String)
        }
        let secrets: [String] = try await store.run { http in
            var secrets: [String] = []
            let url = try await ticket(http, backup.id!)
            #expect(url.hasPrefix("/api/v1/backups/\(backup.id!)/download?ticket="))
            secrets.append(String(url.split(separator: "=").last!))
            let download = try await http.get(url)
            #expect(download.status == 200)
            #expect(sha256Hex(download.body) == sha256Hex(archive))
            // Used up.
            let again = try await http.get(url)
            #expect(again.status == 401)
            #expect(again.errorCode == "ticket_invalid")
            #expect(again.errorMessage?.contains("expired or was already used") == true)
            // For another backup.
            let misused = try await ticket(http, other.id!)
            secrets.append(String(misused.split(separator: "=").last!))
            let wrong = try await http.get(misused.replacingOccurrences(of: "/backups/\(other.id!)/", with: "/backups/\(backup.id!)/"))
            #expect(wrong.status == 403)
            #expect(wrong.errorCode == "ticket_wrong_backup")
            // Expired.
            let late = try await ticket(http, backup.id!)
            secrets.append(String(late.split(separator: "=").last!))
            clock.advance(61)
            let expired = try await http.get(late)
            #expect(expired.status == 401)
            #expect(expired.errorCode == "ticket_invalid")
            // A made-up ticket, and a ticket on another route, are no token at all.
            #expect(try await http.get("/api/v1/backups/\(backup.id!)/download?ticket=made-up").status == 401)
            #expect(try await http.get("/api/v1/overview?ticket=\(secrets[0])").status == 401)
            // The progress stream answers a bearer header (the dashboard reads it with fetch).
            let progress = try await http.get("/api/v1/backups/\(backup.id!)/progress", token: Tokens.admin)
            #expect(progress.status == 200)
            #expect(progress.text.contains("event: end"))
            return secrets
        }
        try await eventually { try store.auditRows().contains { $0.action == "backup.download" } }
        let rows = try store.auditRows()
        let downloads = rows.filter { $0.action == "backup.download" }
        #expect(downloads.count == 1)
        #expect(downloads.first?.userId == "admin")
        #expect(downloads.first?.stationId == "office-pc")
        #expect(rows.filter { $0.action == "backup.download-ticket" }.count == 3)
        for row in rows {
            for secret in secrets {
                #expect(!(row.target ?? "").contains(secret) && !(row.detail ?? "").contains(secret), "the ticket is in an audit row: \(row)")
            }
        }
    }

    @Test func theListShowsOffsiteStateAndChainsAndThePreviewSaysWhatGoes() async throws {
        let store = try TestStore()
        try store.catalog.save(DestinationRecord(name: "google-drive", kinds: [.dbFull, .dbIncremental], createdAt: Date()))
        var settings = try SettingsStore(catalog: store.catalog).load()
        settings.uploads.dbIncremental = true  // hourlies stay on this server unless the settings send them
        try SettingsStore(catalog: store.catalog).save(settings)
        let base = try DatabaseBackupJob(context: store.context, kind: .dbIncremental).run(trigger: .manual)
        let next = try DatabaseBackupJob(context: store.context, kind: .dbIncremental).run(trigger: .manual)
        let full = try store.backup()
        var copy = try #require(try store.catalog.offsiteCopies(of: full.id!).first)
        copy.status = .uploaded
        copy.uploadedAt = Date()
        try store.catalog.update(copy)
        try await store.run { http in
            let list = try await http.get("/api/v1/backups", token: Tokens.admin).json()
            let rows = try #require(list["items"] as? [[String: Any]])
            func row(_ id: Int64) -> [String: Any] { rows.first { ($0["id"] as? Int).map(Int64.init) == id } ?? [:] }
            #expect((row(full.id!)["offsite"] as? [[String: Any]])?.first?["status"] as? String == "uploaded")
            #expect((row(next.id!)["offsite"] as? [[String: Any]])?.first?["status"] as? String == "pending")
            #expect((row(base.id!)["chain"] as? [String: Any])?["position"] as? Int == 0)
            #expect((row(next.id!)["chain"] as? [String: Any])?["baseId"] as? Int == Int(base.id!))
            #expect((row(next.id!)["chain"] as? [String: Any])?["position"] as? Int == 1)
            #expect(row(full.id!)["chain"] == nil)

            let preview = try await http.get("/api/v1/backups/\(base.id!)/deletion-preview", token: Tokens.admin).json()
            #expect((preview["local"] as? [String: Any])?["exists"] as? Bool == true)
            #expect((preview["local"] as? [String: Any])?["fileName"] as? String == URL(fileURLWithPath: base.path!).lastPathComponent)
            #expect((preview["remote"] as? [[String: Any]])?.first?["destination"] as? String == "google-drive")
            #expect(preview["dependents"] as? [Int] == [Int(next.id!)])
            let kept = (preview["keptAfter"] as? [[String: Any]]) ?? []
            #expect(kept.first { $0["kind"] as? String == "db-incremental" } == nil, "both hourlies go: \(kept)")
            #expect(kept.first { $0["kind"] as? String == "db-full" }?["count"] as? Int == 1)
            #expect((preview["retention"] as? [String: Any])?["keep"] as? Bool == true)
            // The preview changes nothing.
            #expect(try store.catalog.job(id: base.id!)?.status == .succeeded)
        }
    }
}
