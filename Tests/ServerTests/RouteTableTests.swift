import BackupCore
import Destinations
import Foundation
import Hummingbird
@testable import Server
import Testing

/// Every route of the router, each asked three times: without a token (401), with the cashier's
/// token (403), with the admin's (the documented success). A route added without a row here fails
/// the completeness check, so the table stays the list of what needs a token.
@Suite("Route table: 401 without a token, 403 for the cashier, success for the admin", .serialized)
struct RouteTableTests {
    struct Row: Sendable {
        var method: String
        /// The route as the router spells it.
        var route: String
        /// The request for it (ids filled in).
        var path: String
        var body: HTTP.Body = .none
        var success: Int
        /// Wait for the job this request starts before the next row.
        var startsJob = false
    }

    @Test func everyRouteIsGuardedAndWorks() async throws {
        // An OAuth client whose endpoints refuse connections: the code flow needs none, a disconnect goes on without Google.
        let store = try TestStore { configuration in
            configuration.google.clientId = "1000-desktop.apps.googleusercontent.com"
            configuration.google.clientSecret = "GOCSPX-route-table"
            configuration.google.revokeEndpoint = URL(string: "http://127.0.0.1:1/revoke")!
        }
        try GoogleTokenStore(dataDirectory: store.context.dataDirectory)
            .save(refreshToken: "1//0route-table", account: "owner@example.com", clientId: nil, at: Date())
        let kept = try store.backup()            // downloaded, restored from, inspected
        let doomed = try store.backup()          // deleted
        let alert = try store.catalog.raiseAlert(.warning, kind: "test", message: "A test alert.")
        let archive = try Data(contentsOf: URL(fileURLWithPath: kept.path!))
        let settings = String(decoding: try JSON.encoder.encode(BackupSettings()), as: UTF8.self)

        let rows: [Row] = [
            Row(method: "GET", route: "/api/v1/overview", path: "/api/v1/overview", success: 200),
            Row(method: "GET", route: "/api/v1/backups", path: "/api/v1/backups?limit=5", success: 200),
            Row(method: "GET", route: "/api/v1/backups/{id}", path: "/api/v1/backups/\(kept.id!)", success: 200),
            Row(method: "GET", route: "/api/v1/backups/{id}/logs", path: "/api/v1/backups/\(kept.id!)/logs", success: 200),
            Row(method: "GET", route: "/api/v1/backups/{id}/progress", path: "/api/v1/backups/\(kept.id!)/progress", success: 200),
            Row(method: "GET", route: "/api/v1/backups/{id}/upload-progress", path: "/api/v1/backups/\(kept.id!)/upload-progress", success: 200),
            Row(method: "GET", route: "/api/v1/backups/{id}/download", path: "/api/v1/backups/\(kept.id!)/download", success: 200),
            Row(method: "POST", route: "/api/v1/backups/{id}/download-ticket", path: "/api/v1/backups/\(kept.id!)/download-ticket", success: 201),
            Row(method: "POST", route: "/api/v1/backups/{id}/verify", path: "/api/v1/backups/\(kept.id!)/verify", success: 200),
            Row(method: "GET", route: "/api/v1/backups/{id}/deletion-preview", path: "/api/v1/backups/\(doomed.id!)/deletion-preview", success: 200),
            Row(method: "DELETE", route: "/api/v1/backups/{id}", path: "/api/v1/backups/\(doomed.id!)?confirm=true", success: 200),
            Row(method: "POST", route: "/api/v1/backups/{id}/restore", path: "/api/v1/backups/\(kept.id!)/restore?confirm=true",
                success: 202, startsJob: true),
            Row(method: "POST", route: "/api/v1/restores/upload", path: "/api/v1/restores/upload?confirm=true",
                body: .data(archive, contentType: "application/zip"), success: 202, startsJob: true),
            Row(method: "GET", route: "/api/v1/restores", path: "/api/v1/restores", success: 200),
            Row(method: "GET", route: "/api/v1/restores/{id}", path: "/api/v1/restores/1", success: 200),
            Row(method: "GET", route: "/api/v1/restores/{id}/logs", path: "/api/v1/restores/1/logs", success: 200),
            Row(method: "GET", route: "/api/v1/restores/{id}/progress", path: "/api/v1/restores/1/progress", success: 200),
            // The wizard's routes also take a POS token; this store is not empty, so its restore is a 409.
            Row(method: "POST", route: "/api/v1/setup/verify-code", path: "/api/v1/setup/verify-code", success: 204),
            Row(method: "POST", route: "/api/v1/setup/restore", path: "/api/v1/setup/restore?confirm=true",
                body: .data(archive, contentType: "application/zip"), success: 409),
            Row(method: "GET", route: "/api/v1/setup/restore/{id}", path: "/api/v1/setup/restore/1", success: 200),
            Row(method: "GET", route: "/api/v1/setup/restore/{id}/progress", path: "/api/v1/setup/restore/1/progress", success: 200),
            Row(method: "GET", route: "/api/v1/setup/drive", path: "/api/v1/setup/drive", success: 200),
            Row(method: "POST", route: "/api/v1/setup/drive/connect", path: "/api/v1/setup/drive/connect",
                body: .data(Data(#"{"flow":"code"}"#.utf8), contentType: "application/json"), success: 200),
            Row(method: "GET", route: "/api/v1/setup/drive/connect/{connect_id}", path: "/api/v1/setup/drive/connect/unknown", success: 404),
            // No Drive destination in this test server: nothing to list; and the store is not empty.
            Row(method: "GET", route: "/api/v1/setup/drive/backups", path: "/api/v1/setup/drive/backups", success: 409),
            Row(method: "POST", route: "/api/v1/setup/drive/restore", path: "/api/v1/setup/drive/restore?confirm=true&remoteId=x", success: 409),
            Row(method: "GET", route: "/api/v1/settings", path: "/api/v1/settings", success: 200),
            Row(method: "PUT", route: "/api/v1/settings", path: "/api/v1/settings", body: .data(Data(settings.utf8), contentType: "application/json"), success: 200),
            Row(method: "GET", route: "/api/v1/alerts", path: "/api/v1/alerts", success: 200),
            Row(method: "POST", route: "/api/v1/alerts/{id}/acknowledge", path: "/api/v1/alerts/\(alert.id!)/acknowledge", success: 200),
            Row(method: "GET", route: "/api/v1/audit", path: "/api/v1/audit", success: 200),
            Row(method: "GET", route: "/api/v1/drive", path: "/api/v1/drive", success: 200),
            Row(method: "POST", route: "/api/v1/drive/connect", path: "/api/v1/drive/connect",
                body: .data(Data(#"{"flow":"code"}"#.utf8), contentType: "application/json"), success: 200),
            Row(method: "GET", route: "/api/v1/drive/connect/{connect_id}", path: "/api/v1/drive/connect/unknown", success: 404),
            // No Drive destination in this test server: the reconcile says it is not connected.
            Row(method: "GET", route: "/api/v1/drive/remote", path: "/api/v1/drive/remote", success: 409),
            Row(method: "POST", route: "/api/v1/drive/sync", path: "/api/v1/drive/sync", success: 202),
            Row(method: "POST", route: "/api/v1/drive/disconnect", path: "/api/v1/drive/disconnect", success: 200),
            // Last: its retention run deletes the other backups of today.
            Row(method: "POST", route: "/api/v1/backups", path: "/api/v1/backups",
                body: .data(Data(#"{"kind":"db-full"}"#.utf8), contentType: "application/json"), success: 202, startsJob: true),
        ]
        let open: Set<String> = ["GET /healthz", "GET /metrics", "GET /api/v1/openapi.json", "GET /api/v1/setup", "GET /api/v1/drive/callback"]

        // The table covers the router exactly.
        let routes = Set(store.server.makeRouter().routes.map { "\($0.method) \($0.path)" })
        let tabled = Set(rows.map { "\($0.method) \($0.route)" })
        #expect(routes.subtracting(open) == tabled, "routes without a row: \(routes.subtracting(open).subtracting(tabled)); rows without a route: \(tabled.subtracting(routes))")

        try await store.run { http in
            for route in open.sorted() {
                let response = try await http.get(String(route.split(separator: " ")[1]))
                // The OAuth callback takes no token, and nothing without a live `state`.
                #expect(response.status == (route.hasSuffix("/drive/callback") ? 400 : 200), "\(route) without a token")
            }
            for row in rows {
                let anonymous = try await http.request(row.method, row.path, body: row.body)
                #expect(anonymous.status == 401, "\(row.method) \(row.path) without a token")
                #expect(anonymous.errorCode == "unauthorized")
                #expect(anonymous.header("WWW-Authenticate")?.hasPrefix("Bearer") == true)

                let forged = try await http.request(row.method, row.path, token: String(Tokens.admin.dropLast(2)) + "xx", body: row.body)
                #expect(forged.status == 401, "\(row.method) \(row.path) with a forged token")

                let cashier = try await http.request(row.method, row.path, token: Tokens.cashier, body: row.body)
                #expect(cashier.status == 403, "\(row.method) \(row.path) as cashier")
                #expect(cashier.errorCode == "forbidden")

                let admin = try await http.request(row.method, row.path, token: Tokens.admin, body: row.body)
                #expect(admin.status == row.success, "\(row.method) \(row.path) as admin: \(admin.status) \(admin.text.prefix(300))")
                if row.startsJob {
                    try await eventually { !store.server.coordinator.isBusy }
                }
            }
        }
        // The refused requests changed nothing: only the admin's changes are in the audit log, beside the
        // refusals themselves (one row per kind: they all came from one address within a minute).
        let audit: [AuditEntry] = try store.auditRows()
        let refusals = audit.filter { $0.action.hasPrefix("auth.") }
        #expect(refusals.map { $0.action }.sorted() == ["auth.forbidden", "auth.unauthorized"])
        #expect(refusals.allSatisfy { $0.outcome == "rejected" })
        // The callback without a state was refused, audited without a user (it carries no token).
        #expect(audit.filter { $0.action == "drive.callback" }.map(\.outcome) == ["rejected"])
        let changes = audit.filter { !$0.action.hasPrefix("auth.") && $0.action != "drive.callback" }
        #expect(changes.allSatisfy { ["admin", "system", "retention"].contains($0.userId ?? "") })
    }
}
