import BackupCore
import Foundation
@testable import Server
import Testing

/// Every audited action leaves exactly one audit row, with the user and station of the token and
/// the client's address; the jobs' own rows are not doubled by the server's.
@Suite("Audit trail", .serialized)
struct AuditTests {
    /// Runs one action and returns the rows it added for alice, once there are any: a job writes its
    /// row when it ends, a download when its last byte has gone (the client may have it a moment earlier).
    func added(_ store: TestStore, expectingRows: Bool = true, _ action: @Sendable () async throws -> Void) async throws -> [AuditEntry] {
        let before = Set(try store.auditRows().map(\.id))
        @Sendable func new() throws -> [AuditEntry] { try store.auditRows().filter { !before.contains($0.id) && $0.userId == "alice" } }
        try await action()
        try await eventually { !store.server.coordinator.isBusy }
        if expectingRows { try await eventually { try !new().isEmpty } }
        return try new()
    }

    @Test func everyActionLeavesExactlyOneRowWithTheRightUserAndStation() async throws {
        let store = try TestStore()
        let alice = Tokens.make("alice", station: "till-7", permissions: [Permission.manageSettings])
        let first = try store.backup()
        let second = try store.backup()
        let alert = try store.catalog.raiseAlert(.warning, kind: "test", message: "Check the printer.")
        let archive = try Data(contentsOf: URL(fileURLWithPath: first.path!))

        try await store.run { http in
            func expectOne(_ added: [AuditEntry], action: String, outcome: String, _ comment: Comment) {
                #expect(added.count == 1, comment)
                #expect(added.first?.action == action, comment)
                #expect(added.first?.outcome == outcome, comment)
                #expect(added.first?.stationId == "till-7" && added.first?.client == "127.0.0.1", comment)
            }
            expectOne(try await added(store) { _ = try await http.get("/api/v1/backups/\(first.id!)/download", token: alice) },
                      action: "backup.download", outcome: "succeeded", "download")
            expectOne(try await added(store) { _ = try await http.request("DELETE", "/api/v1/backups/\(second.id!)?confirm=true", token: alice) },
                      action: "backup.delete", outcome: "succeeded", "delete")
            expectOne(try await added(store) { _ = try await http.request("DELETE", "/api/v1/backups/\(second.id!)", token: alice) },
                      action: "backup.delete", outcome: "rejected", "delete without confirmation")
            expectOne(try await added(store) { _ = try await http.post("/api/v1/alerts/\(alert.id!)/acknowledge", token: alice) },
                      action: "alert.acknowledge", outcome: "succeeded", "acknowledge")
            let settings = String(decoding: try JSON.encoder.encode(BackupSettings()), as: UTF8.self)
            expectOne(try await added(store) { _ = try await http.request("PUT", "/api/v1/settings", token: alice, body: .data(Data(settings.utf8), contentType: "application/json")) },
                      action: "settings.update", outcome: "succeeded", "settings")
            expectOne(try await added(store) { _ = try await http.request("PUT", "/api/v1/settings", token: alice, body: .data(Data("{}".utf8), contentType: "application/json")) },
                      action: "settings.update", outcome: "rejected", "invalid settings")
            expectOne(try await added(store) { _ = try await http.post("/api/v1/backups/\(first.id!)/restore?confirm=true", token: alice) },
                      action: "restore", outcome: "succeeded", "restore")
            expectOne(try await added(store) { _ = try await http.request("POST", "/api/v1/restores/upload?confirm=true", token: alice, body: .data(archive.prefix(500), contentType: "application/zip")) },
                      action: "restore.upload", outcome: "rejected", "corrupt upload")
            expectOne(try await added(store) { _ = try await http.request("POST", "/api/v1/restores/upload?confirm=true", token: alice, body: .data(archive, contentType: "application/zip")) },
                      action: "restore", outcome: "succeeded", "upload and restore")
            // Last: its retention run deletes the other backups of today (as user "retention").
            expectOne(try await added(store) { _ = try await http.post("/api/v1/backups", token: alice, json: #"{"kind":"db-full"}"#) },
                      action: "backup.db-full", outcome: "succeeded", "run now")

            // Reading changes nothing and is not audited.
            let quiet = try await added(store, expectingRows: false) {
                for path in ["/api/v1/overview", "/api/v1/backups", "/api/v1/settings", "/api/v1/audit", "/api/v1/alerts"] {
                    _ = try await http.get(path, token: alice)
                }
            }
            #expect(quiet.isEmpty)

            // The audit log as the API lists it, newest first.
            let page = try await http.get("/api/v1/audit?limit=3", token: alice).json()
            let items = page["items"] as? [[String: Any]] ?? []
            #expect(items.count == 3)
            #expect(page["nextOffset"] as? Int == 3)
        }
        // Refusals (wrong permission, no token) write a row each (rate-limited: see AuditGapTests).
        let before = try store.auditRows().count
        try await store.run { http in
            _ = try await http.request("DELETE", "/api/v1/backups/\(first.id!)?confirm=true", token: Tokens.cashier)
            _ = try await http.request("DELETE", "/api/v1/backups/\(first.id!)?confirm=true")
        }
        let refusals = try store.auditRows().prefix(try store.auditRows().count - before)
        #expect(refusals.map(\.action) == ["auth.unauthorized", "auth.forbidden"])
        #expect(refusals.allSatisfy { $0.outcome == "rejected" && $0.client == "127.0.0.1" })
    }
}
