import BackupCore
import Destinations
import Foundation
@testable import Server
import ServiceLifecycle
import Testing

@Suite("Drive uploads in serve's background: drained at start-up and when signalled, never in the job slot")
struct DriveUploadServiceTests {
    @Test("a copy left pending is uploaded at start-up; a backup made later is uploaded on the signal; retention runs after uploads")
    func drainsAtStartAndOnSignal() async throws {
        let store = try TestStore()
        try store.catalog.save(DestinationRecord(name: "memory", kinds: BackupKind.allCases, createdAt: Date()))
        let early = try store.backup()
        let destination = InMemoryDestination(name: "memory")
        let retentionRuns = Locked(0)
        let service = DriveUploadService(context: store.context, destination: { destination },
                                         afterUploads: { _ in retentionRuns.withLock { $0 += 1 } })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await service.run() }
            try await eventually { service.drains.count == 1 }
            #expect(service.drains[0].map(\.jobId) == [early.id!])
            #expect(try store.catalog.offsiteCopies(of: early.id!).first?.status == .uploaded)
            #expect(store.server.coordinator.isBusy == false)

            let later = try store.backup()
            #expect(try store.catalog.offsiteCopies(of: later.id!).first?.status == .pending)
            service.signal()
            try await eventually { service.drains.count == 2 }
            #expect(service.drains[1].map(\.jobId) == [later.id!])
            #expect(try store.catalog.offsiteCopies(of: later.id!).first?.status == .uploaded)
            #expect(retentionRuns.current == 2)
            // Nothing pending: a drain that stores nothing runs no retention.
            service.signal()
            try await eventually { service.drains.count == 3 }
            #expect(service.drains[2].isEmpty && retentionRuns.current == 2)
            group.cancelAll()
        }
    }

    @Test("each copy is on the event stream: upload steps up to its size, then the backup with its copy uploaded; its log keeps the copy")
    func copyProgressOnTheEventStream() async throws {
        let store = try TestStore()
        try store.catalog.save(DestinationRecord(name: "memory", kinds: BackupKind.allCases, createdAt: Date()))
        let job = try store.backup()
        let size = UInt64(try #require(job.size))
        let notCopied = try store.backup()
        try store.catalog.offsiteCopies(of: notCopied.id!).forEach { var c = $0; c.status = .uploaded; try store.catalog.update(c) }
        let progress = UploadProgress(hub: store.server.coordinator.hub, context: store.context)
        // What the Drive status would name as being copied, seen from inside the copy and after it.
        let current = Locked<[Int64?]>([])
        let inner = progress.observer
        let observer = OffsiteCopier.Observer(begin: { job, copy in
            let handler = inner.begin(job, copy)
            current.withLock { $0.append(progress.current) }
            return handler
        }, end: { job, copy in
            inner.end(job, copy)
            current.withLock { $0.append(progress.current) }
        })
        let service = DriveUploadService(context: store.context, destination: { InMemoryDestination(name: "memory") }, observer: observer)
        #expect(await service.drain().map(\.status) == [.uploaded])
        #expect(current.current == [job.id!, nil])

        try await store.run { http in
            let response = try await http.get("/api/v1/backups/\(job.id!)/upload-progress", token: Tokens.admin)
            #expect(response.status == 200 && response.header("Content-Type") == "text/event-stream")
            let log = ProgressTests.EventLog()
            log.feed(Data(response.text.utf8))
            let events = log.snapshot
            let updates = try events.filter { $0.name == "progress" }.map { try Manifest.decoder.decode(ProgressUpdate.self, from: $0.data) }
            #expect(!updates.isEmpty && updates.allSatisfy { $0.phase == .upload && $0.bytesTotal == size })
            #expect(updates.last?.bytesDone == size)
            #expect(events.map(\.name).last == "end" && events.filter { $0.name == "end" }.count == 1)
            let end = try Manifest.decoder.decode(BackupView.self, from: events.last!.data)
            #expect(end.id == job.id && end.offsite?.map(\.status) == [.uploaded])

            // No attempt made here: the backup's state at once, no steps.
            let none = try await http.get("/api/v1/backups/\(notCopied.id!)/upload-progress", token: Tokens.admin)
            #expect(none.status == 200 && !none.text.contains("event: progress") && none.text.contains("event: end"))
            #expect(try await http.get("/api/v1/backups/999999/upload-progress", token: Tokens.admin).status == 404)

            // The backup's own log says when and how its copy was made (kept in the catalog, so after a restart too).
            let lines = try await http.get("/api/v1/backups/\(job.id!)/logs", token: Tokens.admin).json()["items"] as? [[String: Any]] ?? []
            let messages = lines.compactMap { $0["message"] as? String }
            #expect(messages.contains("Off-site copy to memory started (attempt 1)"))
            #expect(messages.contains { $0.hasPrefix("Off-site copy to memory uploaded and verified (attempt 1, ") })
        }
    }

    @Test("not connected: nothing is tried and the copies stay pending")
    func notConnected() async throws {
        let store = try TestStore()
        try store.catalog.save(DestinationRecord(name: "memory", kinds: BackupKind.allCases, createdAt: Date()))
        let job = try store.backup()
        let service = DriveUploadService(context: store.context, destination: { nil })
        #expect(await service.drain().isEmpty)
        #expect(try store.catalog.offsiteCopies(of: job.id!).first?.status == .pending)
    }
}

@Suite("The job coordinator wakes the uploader after each backup that succeeded")
struct AfterBackupSignalTests {
    @Test func signalledAfterASucceededBackup() async throws {
        let store = try TestStore()
        let signals = Locked(0)
        store.server.coordinator.afterBackup.withLock { $0 = { signals.withLock { $0 += 1 } } }
        try await store.run { http in
            let started = try await http.post("/api/v1/backups", token: Tokens.admin, json: #"{"kind":"db-full"}"#)
            #expect(started.status == 202)
            try await eventually { !store.server.coordinator.isBusy }
        }
        #expect(signals.current == 1)
    }
}
