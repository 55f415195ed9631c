import BackupCore
import Foundation
@testable import Server
import Testing

/// Run now → Server-Sent Events in order → the job's final state → the job in the list.
@Suite("Run now and live progress", .serialized)
struct ProgressTests {
    /// Collects SSE events as they arrive.
    final class EventLog: @unchecked Sendable {
        struct Event { var name: String; var id: String?; var data: Data; var receivedAt: Date }
        private let lock = NSLock()
        private var text = ""
        private(set) var events: [Event] = []

        func feed(_ data: Data) {
            lock.lock(); defer { lock.unlock() }
            text += String(decoding: data, as: UTF8.self)
            while let end = text.range(of: "\n\n") {
                let block = text[..<end.lowerBound]
                text = String(text[end.upperBound...])
                var name = "message", id: String?, payload = ""
                for line in block.split(separator: "\n") {
                    if line.hasPrefix(":") { continue }
                    if line.hasPrefix("event: ") { name = String(line.dropFirst(7)) }
                    if line.hasPrefix("id: ") { id = String(line.dropFirst(4)) }
                    if line.hasPrefix("data: ") { payload += line.dropFirst(6) }
                }
                if !payload.isEmpty { events.append(Event(name: name, id: id, data: Data(payload.utf8), receivedAt: Date())) }
            }
        }
        var snapshot: [Event] { lock.withLock { events } }
    }

    @Test func runNowStreamsProgressInOrderAndEndsWithTheFinalState() async throws {
        let store = try TestStore(rows: 20_000)
        try await store.run { http in
            // Hold the job at its free-space check so the stream is watched from the very start.
            store.gate.close()
            async let started = http.post("/api/v1/backups", token: Tokens.admin, json: #"{"kind":"db-full"}"#)
            try await eventually { store.gate.waiting }

            // Busy: a second run now is refused at once, and so is a restore.
            let second = try await http.post("/api/v1/backups", token: Tokens.admin, json: #"{"kind":"db-full"}"#)
            #expect(second.status == 409)
            #expect(second.errorCode == "busy")

            let running = try store.catalog.runningJobs()
            #expect(running.count == 1)
            let id = running[0].id!
            store.gate.open()
            let response = try await started
            #expect(response.status == 202)
            #expect(response.header("Location") == "/api/v1/backups/\(id)")
            let job = try response.json()
            #expect(job["id"] as? Int == Int(id))
            #expect(["running", "succeeded"].contains(job["status"] as? String))

            let log = EventLog()
            let stream = try await http.request("GET", "/api/v1/backups/\(id)/progress", token: Tokens.admin) { log.feed($0) }
            #expect(stream.status == 200)
            #expect(stream.header("Content-Type") == "text/event-stream")

            let events = log.snapshot
            let progress = events.filter { $0.name == "progress" }
            #expect(!progress.isEmpty)
            // In order: seq strictly increasing, each phase in one run, the phases in the job's order.
            let updates = try progress.map { try Manifest.decoder.decode(ProgressUpdate.self, from: $0.data) }
            #expect(updates.map(\.seq) == updates.map(\.seq).sorted() && Set(updates.map(\.seq)).count == updates.count)
            #expect(progress.map(\.id) == updates.map { String($0.seq) })
            // Phases in the job's order (a phase may come back: "verify" brackets the verifier's
            // "checksum"), and within each run of a phase, bytesDone never goes back.
            var runs: [[ProgressUpdate]] = []
            for update in updates {
                if runs.last?.last?.phase == update.phase { runs[runs.count - 1].append(update) } else { runs.append([update]) }
            }
            for run in runs { #expect(run.map(\.bytesDone) == run.map(\.bytesDone).sorted(), "bytesDone went backwards in \(run[0].phase)") }
            let phases = runs.map { $0[0].phase }
            let milestones: [ProgressPhase] = [.snapshot, .compress, .checksum, .publish, .integrityCheck, .done]
            let firstSeen = milestones.map { phases.firstIndex(of: $0) }
            #expect(firstSeen.allSatisfy { $0 != nil }, "missing phases in \(phases)")
            #expect(firstSeen.compactMap { $0 } == firstSeen.compactMap { $0 }.sorted(), "phases out of order: \(phases)")
            #expect(phases.first == .snapshot && phases.last == .done, "\(phases)")
            // Exactly one end event, last, carrying the final record.
            #expect(events.last?.name == "end")
            #expect(events.filter { $0.name == "end" }.count == 1)
            let final = try Manifest.decoder.decode(BackupView.self, from: events.last!.data)
            #expect(final.id == id && final.status == .succeeded && final.sha256?.count == 64)

            // The job is in the list, newest first, with the same final state.
            let list = try await http.get("/api/v1/backups?kind=db-full&status=succeeded", token: Tokens.admin).json()
            let first = (list["items"] as? [[String: Any]])?.first
            #expect(first?["id"] as? Int == Int(id))
            #expect(first?["status"] as? String == "succeeded")
            #expect(first?["userId"] as? String == "admin" && first?["stationId"] as? String == "office-pc")

            // Its log: started, every phase, the outcome.
            let lines = try await http.get("/api/v1/backups/\(id)/logs", token: Tokens.admin).json()["items"] as? [[String: Any]] ?? []
            let messages = lines.compactMap { $0["message"] as? String }
            #expect(messages.first?.contains("requested by user admin") == true)
            #expect(messages.contains("snapshot started"))
            #expect(messages.last(where: { $0.contains("succeeded") }) != nil)

            // A second subscriber after the end gets the final state at once.
            let late = try await http.get("/api/v1/backups/\(id)/progress", token: Tokens.admin)
            #expect(late.text.contains("event: end"))
        }
    }

    /// A backup run by another process (the CLI): the stream polls the catalog and ends with the final state.
    @Test func aJobOfAnotherProcessIsFollowedThroughTheCatalog() async throws {
        let store = try TestStore()
        let running = try store.catalog.insert(BackupRecord(kind: .dbFull, trigger: .manual, startedAt: Date()))
        try await store.run { http in
            let log = EventLog()
            async let stream = http.request("GET", "/api/v1/backups/\(running.id!)/progress", token: Tokens.admin) { log.feed($0) }
            try await eventually { log.snapshot.contains { $0.name == "progress" } }
            var finished = running
            finished.status = .failed
            finished.finishedAt = Date()
            finished.error = "Interrupted."
            try store.catalog.update(finished)
            #expect(try await stream.status == 200)
            let events = log.snapshot
            #expect(events.first.map { String(decoding: $0.data, as: UTF8.self).contains("\"phase\":\"running\"") } == true)
            #expect(events.last?.name == "end")
            #expect(try Manifest.decoder.decode(BackupView.self, from: events.last!.data).status == .failed)
        }
    }

    @Test func aJobLockHeldByAnotherProcessIsBusyNotAnError() async throws {
        let store = try TestStore()
        // flock is per open file: a second descriptor in this process stands in for the CLI.
        let lock = try JobLock.tryAcquire(store.context.dataDirectory)
        try await store.run { http in
            let response = try await http.post("/api/v1/backups", token: Tokens.admin, json: #"{"kind":"db-full"}"#)
            #expect(response.status == 409)
            #expect(response.errorMessage?.contains("another backup or restore is running") == true)
            #expect(try store.catalog.jobs().isEmpty)
        }
        withExtendedLifetime(lock) {}
    }

    @Test func fileKindsWithoutUploadsFolderAreRefusedClearly() async throws {
        let store = try TestStore()
        try await store.run { http in
            // This store has no uploads folder configured: the file kinds are refused with a clear message.
            var refused = 0
            for kind in ["files", "full"] {
                let response = try await http.post("/api/v1/backups", token: Tokens.admin, json: #"{"kind":"\#(kind)"}"#)
                try await eventually { !store.server.coordinator.isBusy }
                guard response.status != 202 else { continue }
                refused += 1
                #expect(response.status == 422, "\(kind): \(response.text)")
                #expect(response.errorCode == "not_configured")
                #expect(response.errorMessage?.contains("uploads") == true, "\(response.errorMessage ?? "")")
            }
            if refused == 2 { #expect(try store.catalog.alerts().isEmpty) }
            let bad = try await http.post("/api/v1/backups", token: Tokens.admin, json: #"{"kind":"weekly"}"#)
            #expect(bad.status == 400)
        }
    }

    @Test func aRestoreStreamsToItsEndWithRecoveryDetails() async throws {
        let store = try TestStore()
        let job = try store.backup()
        try store.setMarker("changed after the backup")
        try await store.run { http in
            let response = try await http.post("/api/v1/backups/\(job.id!)/restore?confirm=true", token: Tokens.admin)
            #expect(response.status == 202, "\(response.text)")
            let id = try #require(try response.json()["id"] as? Int)
            let stream = try await http.get("/api/v1/restores/\(id)/progress", token: Tokens.admin)
            let endBlock = try #require(stream.text.components(separatedBy: "\n\n").last { $0.hasPrefix("event: end") })
            let data = try #require(endBlock.components(separatedBy: "\n").first { $0.hasPrefix("data: ") }?.dropFirst(6))
            let restore = try Manifest.decoder.decode(RestoreView.self, from: Data(data.utf8))
            #expect(restore.status == .succeeded)
            #expect(restore.preRestorePath != nil)
            #expect(try store.marker() == "original")
        }
    }
}
