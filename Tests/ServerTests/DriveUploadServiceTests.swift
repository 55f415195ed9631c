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
