import BackupCore
import FakeGoogle
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// `caps-backup drive connect --device --json` as a script on a store server runs it, against the fake
/// Google in this process (loopback): the first line is there before the user acts, the last says how it ended.
@Suite("CLI: drive connect --device --json, status, disconnect", .serialized)
struct DriveConnectCLITests {
    final class Lines: @unchecked Sendable {
        private let lock = NSLock()
        private var all: [String] = []
        private let reader = LineReader()
        func feed(_ data: Data) { lock.withLock { reader.feed(data) { all.append($0) } } }
        var current: [String] { lock.withLock { all } }
    }

    func writeConfig(_ base: URL, in root: URL, client: FakeOAuth.Client) throws -> URL {
        let url = root.appendingPathComponent("caps.toml")
        try """
            [service]
            data_dir = "\(root.appendingPathComponent("data").path)"

            [google]
            client_id = "\(client.id)"
            client_secret = "\(client.secret)"
            auth_endpoint = "\(base.absoluteString)/o/oauth2/v2/auth"
            token_endpoint = "\(base.absoluteString)/token"
            device_endpoint = "\(base.absoluteString)/device/code"
            revoke_endpoint = "\(base.absoluteString)/revoke"
            drive_api_base = "\(base.absoluteString)"
            store_name = "store-12"
            """.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// One test's world: a fake Google on loopback (device codes polled every second) and a store folder
    /// whose config file points at it, removed afterwards.
    func withGoogle(client: FakeOAuth.Client, _ body: @Sendable (FakeGoogle, _ root: URL, _ config: URL) async throws -> Void) async throws {
        let google = FakeGoogle()
        google.oauth.setDeviceCodes(lifetime: 600, interval: 1)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("caps-e2e-drive-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        try await google.serving { base in try await body(google, root, try writeConfig(base, in: root, client: client)) }
    }

    /// Runs `drive connect --device --json`; `onFirstLine` acts as the user once the code is printed.
    func connect(_ config: URL, device: Bool = true, onFirstLine: @escaping @Sendable ([String: Any]) -> Void) throws -> (status: Int32, lines: [String], stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.binary)
        process.arguments = ["drive", "connect"] + (device ? ["--device"] : []) + ["--json", "--config", config.path]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let lines = Lines()
        let acted = Locked(false)
        out.fileHandleForReading.readabilityHandler = { handle in
            lines.feed(handle.availableData)
            if let first = lines.current.first, !acted.withLock({ let was = $0; $0 = true; return was }),
               let object = try? JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any] {
                onFirstLine(object)
            }
        }
        try process.run()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        out.fileHandleForReading.readabilityHandler = nil
        lines.feed(out.fileHandleForReading.readDataToEndOfFile())
        return (process.terminationStatus, lines.current, String(decoding: errData, as: UTF8.self))
    }

    @Test("connected: a first JSON line with the URL and code, a last one with the account; status shows it; no token printed")
    func connected() async throws {
        try await withGoogle(client: FakeOAuth.deviceClient) { google, root, config in
            let result = try await offPool {
                try connect(config) { first in
                    if let code = first["user_code"] as? String { google.oauth.approveDevice(userCode: code) }
                }
            }
            #expect(result.status == 0, "\(result.stderr)")
            let first = try #require(result.lines.first.flatMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] })
            #expect(Set(first.keys) == ["verification_url", "user_code", "expires_in"])
            #expect(first["verification_url"] as? String == "https://www.google.com/device")
            let last = try #require(result.lines.last.flatMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] })
            #expect(last["state"] as? String == "connected")
            #expect(last["account"] as? String == "store.owner@example.com")
            #expect(result.stderr.contains("Google Drive is connected"))

            let status = try CLI.run(["drive", "status", "--json", "--config", config.path])
            #expect(status.status == 0)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
            #expect(object["account"] as? String == "store.owner@example.com")
            #expect(object["tokenState"] as? String == "ok")
            #expect(object["folder"] as? String == "CAPS Backups/store-12")

            // Neither a refresh token (1//…) nor an access token (ya29.…) reached the terminal.
            for text in [result.lines.joined(separator: "\n"), result.stderr, status.stdout, status.stderr] {
                #expect(!text.contains("1//") && !text.contains("ya29"))
            }

            let disconnect = try CLI.run(["drive", "disconnect", "--config", config.path])
            #expect(disconnect.status == 0)
            #expect(disconnect.stdout.contains("access revoked at Google"))
            #expect(google.oauth.liveRefreshTokens == 0)
        }
    }

    @Test("denied: exit code 3, a last JSON line saying so, nothing saved")
    func denied() async throws {
        try await withGoogle(client: FakeOAuth.deviceClient) { google, root, config in
            let result = try await offPool {
                try connect(config) { first in
                    if let code = first["user_code"] as? String { google.oauth.denyDevice(userCode: code) }
                }
            }
            #expect(result.status == 3)
            #expect(result.lines.last?.contains(#""state":"denied""#) == true)
            #expect(result.stderr.contains("Access was refused"))
            #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent("data/google-drive.json").path))
        }
    }

    @Test("code flow: the browser comes back to the command's loopback address with the state it sent; connected")
    func codeFlow() async throws {
        try await withGoogle(client: FakeOAuth.desktopClient) { google, root, config in
            let result = try await offPool {
                try connect(config, device: false) { first in
                    guard let url = (first["authorization_url"] as? String).flatMap(URL.init(string:)) else { return }
                    // The "browser": Google's page redirects to the loopback listener, which answers a page.
                    URLSession.shared.dataTask(with: url) { _, _, _ in }.resume()
                }
            }
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.lines.last?.contains(#""state":"connected""#) == true)
            let first = try #require(result.lines.first.flatMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String] })
            let query = try #require(URLComponents(string: first["authorization_url"] ?? "")?.queryItems)
            #expect(query.first { $0.name == "code_challenge_method" }?.value == "S256")
            #expect(query.first { $0.name == "redirect_uri" }?.value?.hasPrefix("http://127.0.0.1:") == true)
            #expect(try String(contentsOf: root.appendingPathComponent("data/google-drive.json"), encoding: .utf8).contains("store.owner@example.com"))
        }
    }

    @Test("sync uploads the pending copy (one JSON record per object), list matches it, download fetches it byte-identical, restore takes it from Drive when the local archive is gone")
    func syncListDownloadRestore() async throws {
        try await withGoogle(client: FakeOAuth.deviceClient) { google, root, config in
            let pos = root.appendingPathComponent("pos.db")
            try SQLiteConnection(path: pos.path, mode: .create)
                .execute("PRAGMA journal_mode=WAL; CREATE TABLE sale(id INTEGER PRIMARY KEY, note TEXT); INSERT INTO sale(note) VALUES ('first'), ('second');")
            let store = ["--config", config.path, "--pos-db", pos.path]
            let connected = try await offPool {
                try connect(config) { first in
                    if let code = first["user_code"] as? String { google.oauth.approveDevice(userCode: code) }
                }
            }
            #expect(connected.status == 0, "\(connected.stderr)")

            let backup = try await offPool { try CLI.run(["backup", "--kind", "db-full", "--json"] + store) }
            #expect(backup.status == 0, "\(backup.stderr)")
            let job = try #require(try JSONSerialization.jsonObject(with: Data(backup.stdout.utf8)) as? [String: Any])
            let id = try #require(job["id"] as? Int)
            let archive = try #require(job["path"] as? String)

            let sync = try await offPool { try CLI.run(["drive", "sync", "--json"] + store) }
            #expect(sync.status == 0, "\(sync.stderr)")
            let record = try #require(try JSONSerialization.jsonObject(with: Data(sync.stdout.utf8)) as? [String: Any])
            #expect(record["backupId"] as? Int == id && record["status"] as? String == "uploaded")

            let list = try await offPool { try CLI.run(["drive", "list", "--json"] + store) }
            #expect(list.status == 0, "\(list.stderr)")
            let report = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any])
            #expect((report["matched"] as? [Any])?.count == 1)

            let out = root.appendingPathComponent("fetched.zip")
            let download = try await offPool { try CLI.run(["drive", "download", String(id), "--out", out.path] + store) }
            #expect(download.status == 0, "\(download.stderr)")
            #expect(try Data(contentsOf: out) == Data(contentsOf: URL(fileURLWithPath: archive)))

            // The local archive is lost: the restore fetches the Drive copy.
            try FileManager.default.removeItem(atPath: archive)
            try SQLiteConnection(path: pos.path, mode: .readWrite).execute("UPDATE sale SET note = 'changed'")
            let restore = try await offPool { try CLI.run(["restore", String(id), "--yes", "--no-pre-restore-snapshot", "--json"] + store) }
            #expect(restore.status == 0, "\(restore.stderr)")
            let notes: String? = try SQLiteConnection(path: pos.path, mode: .readOnly).scalar("SELECT group_concat(note) FROM sale")
            #expect(notes == "first,second")

            // Deleting the backup removes its Drive copy too, and says so.
            #expect(google.drive.storedFiles().contains { $0.appProperties["catalogId"] == String(id) })
            let deleted = try await offPool { try CLI.run(["delete", String(id), "--yes", "--json"] + store) }
            #expect(deleted.status == 0, "\(deleted.stderr)")
            let answer = try #require(try JSONSerialization.jsonObject(with: Data(deleted.stdout.utf8)) as? [String: Any])
            let remote = answer["offsiteDeletions"] as? [[String: Any]] ?? []
            #expect(remote.count == 1 && remote.first?["deleted"] as? Bool == true)
            #expect((answer["summary"] as? String)?.contains("Google Drive") == true)
            #expect(!google.drive.storedFiles().contains { $0.appProperties["catalogId"] == String(id) })
            let unconfirmed = try await offPool { try CLI.run(["delete", String(id)] + store) }
            #expect(unconfirmed.status == 2)
        }
    }
}

/// Runs blocking work (a child process waited for) on a dispatch thread: the cooperative pool (two threads
/// here) serves the in-process fake Google that the child talks to, and other tests' servers.
private func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
}
