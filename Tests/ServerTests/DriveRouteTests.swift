import AsyncHTTPClient
import BackupCore
import Destinations
import FakeGoogle
import Foundation
@testable import Server
import Testing

/// A clock for the fake Google that the injected device-flow sleep moves.
final class DriveTestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current = Date()
    var now: Date { lock.withLock { current } }
    func advance(_ seconds: Double) { lock.withLock { current += seconds } }
}

func driveConfiguration(_ base: URL, client: FakeOAuth.Client) -> GoogleConfig {
    var config = GoogleConfig()
    config.clientId = client.id
    config.clientSecret = client.secret
    config.authEndpoint = base.appendingPathComponent("o/oauth2/v2/auth")
    config.tokenEndpoint = base.appendingPathComponent("token")
    config.deviceEndpoint = base.appendingPathComponent("device/code")
    config.revokeEndpoint = base.appendingPathComponent("revoke")
    config.driveAPIBase = base
    return config
}

@Suite("Drive API: connect by code flow (callback state) and device flow, status, disconnect", .serialized)
struct DriveRouteTests {
    @Test("code flow: the callback connects once, as the admin who started it; a reused or forged state is refused and changes nothing")
    func codeFlowCallback() async throws {
        let google = FakeGoogle()
        let noRedirects = HTTPClient.noRedirects
        try await google.serving { base in
            let google = driveConfiguration(base, client: FakeOAuth.desktopClient)
            let store = try TestStore {
                $0.google = google
                $0.driveDestination = { tokens in GoogleDriveDestination(config: google, storeName: "store-12", tokens: tokens) }
            }
            try await store.run { http in
                let started = try await http.post("/api/v1/drive/connect", token: Tokens.admin, json: #"{"flow":"code"}"#)
                #expect(started.status == 200)
                let url = try #require(try started.json()["authorization_url"] as? String)
                let query = URLComponents(string: url)!.queryItems!
                #expect(query.first { $0.name == "redirect_uri" }?.value == "http://127.0.0.1:\(http.port)/api/v1/drive/callback")

                // Google's consent page sends the browser back to our callback (no bearer token).
                let consent = try await noRedirects.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
                let location = try #require(URLComponents(string: consent.headers.first(name: "location") ?? ""))
                let callback = location.path + "?" + (location.percentEncodedQuery ?? "")
                #expect(location.path == "/api/v1/drive/callback")

                let forged = try await http.get("/api/v1/drive/callback?code=4/0A-x&state=forged")
                #expect(forged.status == 400)
                #expect(forged.text.contains("Nothing was changed"))
                #expect(try await http.get("/api/v1/drive", token: Tokens.admin).json()["tokenState"] as? String == "not connected")

                let done = try await http.get(callback)
                #expect(done.status == 200)
                #expect(done.text.contains("Google Drive is connected. You can close this tab."))

                let reused = try await http.get(callback)
                #expect(reused.status == 400)

                let status = try await http.get("/api/v1/drive", token: Tokens.admin).json()
                #expect(status["account"] as? String == "store.owner@example.com")
                #expect(status["tokenState"] as? String == "ok")
                #expect(status["enabled"] as? Bool == true)
                #expect(!status.keys.contains { $0.lowercased().contains("token") && $0 != "tokenState" })
                let overview = try await http.get("/api/v1/overview", token: Tokens.admin).json()
                #expect((overview["drive"] as? [String: Any])?["account"] as? String == "store.owner@example.com")

                // Connected: a backup's copy is uploaded by the background drain, and the reconcile finds it on Drive.
                let job = try store.backup()
                #expect(try await http.get("/api/v1/drive", token: Tokens.admin).json()["pendingUploads"] as? Int == 1)
                let drained = await store.server.services.drive.uploads.drain()
                #expect(drained.map(\.status) == [.uploaded] && drained.first?.jobId == job.id)
                let after = try await http.get("/api/v1/drive", token: Tokens.admin).json()
                #expect(after["pendingUploads"] as? Int == 0 && after["lastVerifiedUpload"] != nil)
                let remote = try await http.get("/api/v1/drive/remote", token: Tokens.admin)
                #expect(remote.status == 200)
                #expect((try remote.json()["matched"] as? [Any])?.count == 1)
                #expect(try await http.post("/api/v1/drive/sync", token: Tokens.admin).status == 202)
            }
            let audit = try store.auditRows()
            let connect = try #require(audit.first { $0.action == "drive.connect" })
            #expect(connect.userId == "admin" && connect.outcome == "succeeded")
            let reconcile = try #require(audit.first { $0.action == "drive.reconcile" })
            #expect(reconcile.userId == "admin" && reconcile.detail?.hasPrefix("matched 1,") == true)
            #expect(audit.filter { $0.action == "drive.callback" && $0.outcome == "rejected" }.count == 2)
            // No token in any audit row.
            let tokenFile = try String(contentsOf: GoogleTokenStore(dataDirectory: store.context.dataDirectory).tokenFile, encoding: .utf8)
            #expect(!audit.contains { ($0.detail ?? "").contains("1//") || ($0.detail ?? "").contains("ya29") })
            #expect(!tokenFile.contains("1//"))
        }
    }

    @Test("device flow: the connect is polled at Google's interval in the background and ends connected, or denied")
    func deviceFlow() async throws {
        let clock = DriveTestClock()
        let google = FakeGoogle(clock: { clock.now })
        let sleeps = Locked<[Double]>([])
        try await google.serving { base in
            let store = try TestStore {
                $0.google = driveConfiguration(base, client: FakeOAuth.deviceClient)
                $0.driveSleep = { seconds in
                    let count = sleeps.withLock { $0.append(seconds); return $0.count }
                    if count == 2, let code = google.oauth.pendingUserCodes.first { google.oauth.approveDevice(userCode: code) }
                    clock.advance(seconds)
                }
            }
            try await store.run { http in
                let started = try await http.post("/api/v1/drive/connect", token: Tokens.admin, json: #"{"flow":"device"}"#).json()
                #expect(started["verification_url"] as? String == "https://www.google.com/device")
                #expect(started["interval"] as? Int == 5)
                let id = try #require(started["connect_id"] as? String)
                try await eventually { try await http.get("/api/v1/drive/connect/\(id)", token: Tokens.admin).json()["state"] as? String != "pending" }
                let state = try await http.get("/api/v1/drive/connect/\(id)", token: Tokens.admin).json()
                #expect(state["state"] as? String == "connected")
                #expect(state["account"] as? String == "store.owner@example.com")
                #expect(sleeps.current == [5, 5])

                let refused = try await http.post("/api/v1/drive/connect", token: Tokens.admin, json: #"{"flow":"device"}"#).json()
                let refusedId = try #require(refused["connect_id"] as? String)
                google.oauth.denyDevice(userCode: try #require(refused["user_code"] as? String))
                try await eventually { try await http.get("/api/v1/drive/connect/\(refusedId)", token: Tokens.admin).json()["state"] as? String != "pending" }
                #expect(try await http.get("/api/v1/drive/connect/\(refusedId)", token: Tokens.admin).json()["state"] as? String == "denied")

                let bad = try await http.post("/api/v1/drive/connect", token: Tokens.admin, json: #"{"flow":"carrier-pigeon"}"#)
                #expect(bad.status == 422)

                let disconnected = try await http.post("/api/v1/drive/disconnect", token: Tokens.admin)
                #expect(disconnected.status == 200)
                #expect(try disconnected.json()["revokedAtGoogle"] as? Bool == true)
                #expect(google.oauth.liveRefreshTokens == 0)
                #expect(try await http.get("/api/v1/drive", token: Tokens.admin).json()["tokenState"] as? String == "not connected")
            }
        }
    }
}

@Suite("Drive connect state: single-use, 10 minutes, bound to the admin who started it")
struct DriveConnectStateTests {
    @Test func stateIsSingleUseAndExpires() {
        let clock = DriveTestClock()
        let connects = DriveConnects(now: { clock.now })
        let admin = BackupContext.Actor(userId: "admin", stationId: "office-pc", client: "127.0.0.1")
        let first = GoogleOAuth.CodeRequest(redirectURI: "http://127.0.0.1:8080/api/v1/drive/callback")
        connects.addCode(first, actor: admin)
        #expect(connects.takeCode(state: "forged") == nil)
        let taken = connects.takeCode(state: first.state)
        #expect(taken?.actor.userId == "admin" && taken?.request.verifier == first.verifier)
        #expect(connects.takeCode(state: first.state) == nil)

        let late = GoogleOAuth.CodeRequest(redirectURI: first.redirectURI)
        connects.addCode(late, actor: admin)
        clock.advance(DriveConnects.lifetime + 1)
        #expect(connects.takeCode(state: late.state) == nil)
    }
}
