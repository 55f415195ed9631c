import BackupCore
import Foundation
@testable import Server
import Testing

@Suite("Fresh install: setup mode, the one-time setup code and the wizard's restore (R8)", .serialized)
struct SetupTests {
    static func code(_ store: TestStore) throws -> String {
        try String(contentsOf: store.context.dataDirectory.root.appendingPathComponent(SetupGate.fileName), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func anEmptyStoreIsRestoredWithTheSetupCodeAndThenLeavesSetupMode() async throws {
        let source = try TestStore(name: "source")
        try source.setMarker("from the old server")
        let archive = try Data(contentsOf: URL(fileURLWithPath: try source.backup().path!))

        let store = try TestStore(empty: true)
        let codeFile = store.context.dataDirectory.root.appendingPathComponent(SetupGate.fileName)
        #expect(try POSIXFile.mode(codeFile) & 0o777 == 0o600)
        let code = try Self.code(store)
        #expect(SetupGate.normalise(code).count == 32)  // 160 bits of base32
        #expect(code.split(separator: "-").count == 8)
        let waited = Task { await store.server.services.setup.waitUntilSetUp() }

        try await store.run { http in
            let status = try await http.get("/api/v1/setup")
            #expect(status.status == 200)
            #expect(try status.json()["setup_required"] as? Bool == true)
            #expect(try status.json()["store_name"] as? String != nil)
            #expect(!status.text.contains(code))

            // A wrong code, then the right one in either header and any spelling.
            let wrong = try await http.request("POST", "/api/v1/setup/verify-code", headers: ["Authorization": "Setup AAAA-BBBB"])
            #expect(wrong.status == 401)
            #expect(wrong.errorCode == "setup_code_invalid")
            #expect(try await http.request("POST", "/api/v1/setup/verify-code", headers: ["Authorization": "Setup \(code)"]).status == 204)
            #expect(try await http.request("POST", "/api/v1/setup/verify-code",
                                           headers: ["X-Setup-Code": SetupGate.normalise(code).lowercased()]).status == 204)
            // The code opens the wizard's routes only.
            #expect(try await http.request("GET", "/api/v1/overview", headers: ["Authorization": "Setup \(code)"]).status == 401)
            #expect(try await http.request("GET", "/api/v1/backups", headers: ["X-Setup-Code": code]).status == 401)
            // No backups of an empty store.
            #expect(try await http.post("/api/v1/backups", token: Tokens.admin, json: #"{"kind":"db-full"}"#).status == 409)

            // A damaged archive is refused and changes nothing.
            var damaged = archive
            damaged[damaged.count / 2] ^= 0xFF
            let refused = try await http.request("POST", "/api/v1/setup/restore?confirm=true", headers: ["X-Setup-Code": code],
                                                 body: .data(damaged, contentType: "application/zip"))
            #expect(refused.status == 422, "\(refused.text)")
            #expect(refused.errorCode == "archive_refused")
            let foreign = try await http.request("POST", "/api/v1/setup/restore?confirm=true", headers: ["X-Setup-Code": code],
                                                 body: .data(Data("PK\u{3}\u{4} not an archive of ours".utf8), contentType: "application/zip"))
            #expect(foreign.status == 422)
            #expect(!POSIXFile.exists(store.database))
            #expect(try store.catalog.restoreJobs().isEmpty)

            // The valid archive is restored into the configured place.
            let started = try await http.request("POST", "/api/v1/setup/restore?confirm=true", headers: ["Authorization": "Setup \(code)"],
                                                 body: .data(archive, contentType: "application/zip"))
            #expect(started.status == 202, "\(started.text)")
            let id = try #require(try started.json()["id"] as? Int)
            let progress = try await http.request("GET", "/api/v1/setup/restore/\(id)/progress", headers: ["X-Setup-Code": code])
            #expect(progress.status == 200)
            #expect(progress.text.contains("event: end"))
            try await eventually { store.server.services.setup.setupRequired == false }
            let restored = try await http.get("/api/v1/setup/restore/\(id)", token: Tokens.admin)
            #expect(try restored.json()["status"] as? String == "succeeded", "\(restored.text)")
            #expect(try store.marker() == "from the old server")

            // Set up: the code is gone, the overview answers.
            #expect(try await http.get("/api/v1/setup").json()["setup_required"] as? Bool == false)
            let after = try await http.request("POST", "/api/v1/setup/verify-code", headers: ["X-Setup-Code": code])
            #expect(after.status == 401)
            #expect(after.errorCode == "setup_done")
            #expect(try await http.get("/api/v1/overview", token: Tokens.admin).status == 200)
            let again = try await http.request("POST", "/api/v1/setup/restore?confirm=true", token: Tokens.admin,
                                               body: .data(archive, contentType: "application/zip"))
            #expect(again.status == 409)
            #expect(again.errorCode == "setup_not_required")
        }
        #expect(!POSIXFile.exists(codeFile))
        await waited.value  // the scheduler's wait is over
        let audit = try store.auditRows()
        #expect(audit.contains { $0.action == "setup.code" && $0.userId == "setup" && $0.client == "127.0.0.1" })
        #expect(audit.contains { $0.action == "setup.unauthorized" && $0.outcome == "rejected" })
        #expect(audit.contains { $0.action == "restore" && $0.userId == "setup" && $0.outcome == "succeeded" })
        #expect(audit.filter { $0.action == "setup.restore" }.map(\.outcome).contains("rejected"))
        #expect(!audit.contains { ($0.detail ?? "").contains(SetupGate.normalise(code)) || ($0.detail ?? "").contains(code) })
    }

    @Test func whatCountsAsEmpty() throws {
        let dir = TemporaryDirectory()
        let missing = dir.path("missing.db")
        #expect(FreshInstall.isEmpty(posDatabase: missing))
        #expect(!FreshInstall.isEmpty(posDatabase: nil))
        let zero = dir.path("zero.db")
        FileManager.default.createFile(atPath: zero.path, contents: Data())
        #expect(FreshInstall.isEmpty(posDatabase: zero))
        let noTables = dir.path("no-tables.db")
        try SQLiteConnection(path: noTables.path, mode: .create).execute("PRAGMA user_version = 1")
        #expect(FreshInstall.isEmpty(posDatabase: noTables))
        let store = dir.path("store.db")
        try makeStoreDatabase(store, rows: 10)
        #expect(!FreshInstall.isEmpty(posDatabase: store))
        let garbage = dir.path("garbage.db")
        try Data(repeating: 0x42, count: 8192).write(to: garbage)
        #expect(!FreshInstall.isEmpty(posDatabase: garbage), "a damaged store is not a fresh one")
    }

    @Test func aStoreWithDataIsNotInSetupModeAndHasNoCode() async throws {
        let store = try TestStore()
        #expect(!POSIXFile.exists(store.context.dataDirectory.root.appendingPathComponent(SetupGate.fileName)))
        try await store.run { http in
            #expect(try await http.get("/api/v1/setup").json()["setup_required"] as? Bool == false)
            let response = try await http.request("POST", "/api/v1/setup/verify-code", headers: ["X-Setup-Code": "AAAA-BBBB"])
            #expect(response.status == 401)
            // A code given is checked even beside a valid token.
            let beside = try await http.request("POST", "/api/v1/setup/verify-code", token: Tokens.admin, headers: ["X-Setup-Code": ""])
            #expect(beside.status == 401)
            #expect(try await http.request("POST", "/api/v1/setup/verify-code", token: Tokens.admin).status == 204)
        }
    }

    @Test func theCodeSurvivesARestartInSetupMode() throws {
        let store = try TestStore(empty: true)
        let code = try Self.code(store)
        _ = try CapsServer(configuration: store.server.configuration, context: store.context)
        #expect(try Self.code(store) == code)
        #expect(SetupGate.makeCode() != SetupGate.makeCode())
    }
}
