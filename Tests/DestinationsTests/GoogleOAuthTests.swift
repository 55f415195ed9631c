import AsyncHTTPClient
import BackupCore
@testable import Destinations
import FakeGoogle
import Foundation
import Testing

/// A clock that moves only when a test (or an injected sleep) moves it.
final class VirtualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current = Date(timeIntervalSince1970: 1_800_000_000)
    var now: Date { lock.withLock { current } }
    func advance(_ seconds: Double) { lock.withLock { current += seconds } }
}

/// The `[google]` section a store would write, pointed at the fake.
func googleConfig(_ base: URL, client: FakeOAuth.Client) -> GoogleConfig {
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

/// The sleeps a device flow asked for; each may run a step (the user acting) and moves the clock.
final class RecordedSleeps: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var seconds: [Double] = []
    let clock: VirtualClock
    /// Given the number of the sleep (from 1), how far the clock moves (default: as asked) and what the user does.
    let step: @Sendable (Int, Double) -> Double?

    init(clock: VirtualClock, step: @escaping @Sendable (Int, Double) -> Double? = { _, _ in nil }) {
        self.clock = clock
        self.step = step
    }

    func sleep(_ interval: Double) {
        let number = lock.withLock { seconds.append(interval); return seconds.count }
        guard number < 50 else { return }
        clock.advance(step(number, interval) ?? interval)
    }
}

@Suite("Google OAuth: device flow, code + PKCE, tokens at rest, refresh and revocation")
struct GoogleOAuthTests {
    @Test("device flow: authorization_pending is polled at the server's interval, slow_down adds 5 s, then connected")
    func deviceFlow() async throws {
        let clock = VirtualClock()
        let google = FakeGoogle(clock: { clock.now })
        let store = try Store()
        defer { store.remove() }
        try await google.serving { base in
            let connector = GoogleDriveConnector(context: store.context, config: googleConfig(base, client: FakeOAuth.deviceClient))
            let device = try await connector.oauth.startDeviceFlow()
            #expect(device.verificationURL == "https://www.google.com/device")
            #expect(device.interval == 5)
            #expect(device.expiresIn == 1800)
            #expect(google.oauth.pendingUserCodes == [device.userCode])
            // Sleep 2 moves the clock 1 s only (too fast: slow_down); the user approves during sleep 4.
            let sleeps = RecordedSleeps(clock: clock) { number, _ in
                if number == 4 { google.oauth.approveDevice(userCode: device.userCode) }
                return number == 2 ? 1 : nil
            }
            let grant = try await connector.oauth.pollDeviceFlow(device) { sleeps.sleep($0) }
            #expect(sleeps.seconds == [5, 5, 10, 10])
            #expect(google.oauth.devicePolls.count == 4)
            let account = try await connector.complete(grant, actor: .system)
            #expect(account == "store.owner@example.com")
            #expect(try connector.store.connection?.account == account)
            #expect(connector.store.state == .ok)
            let record = try store.context.catalog.destinations().first { $0.name == "google-drive" }
            #expect(record?.enabled == true)
            // A device code is spent by its grant.
            let again = await #expect(throws: GoogleOAuth.Failure.self) {
                try await connector.oauth.pollDeviceFlow(device) { _ in clock.advance(5) }
            }
            #expect(again.map { if case .invalidGrant = $0 { true } else { false } } == true)
        }
    }

    @Test("device flow: the user refuses (access_denied), or never enters the code (expired_token)")
    func deviceFlowEndsWithoutGrant() async throws {
        let clock = VirtualClock()
        let google = FakeGoogle(clock: { clock.now })
        google.oauth.setDeviceCodes(lifetime: 12, interval: 5)
        try await google.serving { base in
            let oauth = GoogleOAuth(config: googleConfig(base, client: FakeOAuth.deviceClient))
            let refused = try await oauth.startDeviceFlow()
            let denied = await #expect(throws: GoogleOAuth.Failure.self) {
                try await oauth.pollDeviceFlow(refused) { _ in
                    google.oauth.denyDevice(userCode: refused.userCode)
                    clock.advance(5)
                }
            }
            #expect(denied == .denied)

            let ignored = try await oauth.startDeviceFlow()
            let sleeps = RecordedSleeps(clock: clock)
            let expired = await #expect(throws: GoogleOAuth.Failure.self) { try await oauth.pollDeviceFlow(ignored) { sleeps.sleep($0) } }
            #expect(expired == .expired)
            #expect(sleeps.seconds == [5, 5, 5])
            #expect(expired?.description.contains("not entered in time") == true)
        }
    }

    @Test("device flow with a Desktop client, or a wrong secret, is refused as invalid_client with what to check")
    func wrongClient() async throws {
        let google = FakeGoogle()
        try await google.serving { base in
            let desktop = GoogleOAuth(config: googleConfig(base, client: FakeOAuth.desktopClient))
            let error = await #expect(throws: GoogleOAuth.Failure.self) { try await desktop.startDeviceFlow() }
            #expect(error?.description.contains("TVs and Limited Input devices") == true)

            var wrongSecret = googleConfig(base, client: FakeOAuth.desktopClient)
            wrongSecret.clientSecret = "GOCSPX-wrong"
            let request = GoogleOAuth.CodeRequest(redirectURI: "http://127.0.0.1:1/")
            let refused = await #expect(throws: GoogleOAuth.Failure.self) {
                try await GoogleOAuth(config: wrongSecret).exchange(code: "4/0A-anything", for: request)
            }
            #expect(refused.map { if case .invalidClient = $0 { true } else { false } } == true)
            #expect(refused?.description.contains("GOCSPX") == false)
        }
    }

    @Test("code flow: PKCE S256 and state on a loopback redirect; a code works once, and only with its verifier")
    func codeFlow() async throws {
        let google = FakeGoogle()
        let store = try Store()
        defer { store.remove() }
        let noRedirects = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
        try await google.serving { base in
            let connector = GoogleDriveConnector(context: store.context, config: googleConfig(base, client: FakeOAuth.desktopClient))
            let request = GoogleOAuth.CodeRequest(redirectURI: "http://127.0.0.1:49152/")
            #expect(request.verifier.count >= 43)
            let url = try connector.oauth.authorizationURL(request)
            let query = URLComponents(url: url, resolvingAgainstBaseURL: false)!.queryItems!
            #expect(query.first { $0.name == "code_challenge_method" }?.value == "S256")
            #expect(query.first { $0.name == "scope" }?.value == GoogleConfig.scope)

            // The user consents: Google sends the browser back to the loopback address with code and state.
            func consent() async throws -> (code: String?, state: String?, error: String?) {
                let response = try await noRedirects.execute(HTTPClientRequest(url: url.absoluteString), timeout: .seconds(10))
                #expect(response.status.code == 302)
                let location = URLComponents(string: response.headers.first(name: "location") ?? "")!
                #expect(location.host == "127.0.0.1" && location.port == 49152)
                func item(_ name: String) -> String? { location.queryItems?.first { $0.name == name }?.value }
                return (item("code"), item("state"), item("error"))
            }
            let back = try await consent()
            #expect(back.state == request.state)
            let code = try #require(back.code)

            // The verifier of another request does not open this code (and spends it).
            let other = GoogleOAuth.CodeRequest(redirectURI: request.redirectURI)
            let stolen = await #expect(throws: GoogleOAuth.Failure.self) { try await connector.oauth.exchange(code: code, for: other) }
            #expect(stolen.map { if case .invalidGrant = $0 { true } else { false } } == true)

            let second = try await consent()
            let grant = try await connector.oauth.exchange(code: try #require(second.code), for: request)
            #expect(grant.refreshToken != nil)
            #expect(try await connector.complete(grant, actor: .system) == "store.owner@example.com")
            let reused = await #expect(throws: GoogleOAuth.Failure.self) { try await connector.oauth.exchange(code: second.code!, for: request) }
            #expect(reused.map { if case .invalidGrant = $0 { true } else { false } } == true)

            google.oauth.consent = .deny
            let refused = try await consent()
            #expect(refused.error == "access_denied")
            #expect(refused.code == nil)
        }
        try await noRedirects.shutdown()
    }

    @Test("tokens at rest: both files 0600, the refresh token sealed (not in the file in any plain form), a damaged key refused")
    func tokensAtRest() throws {
        let store = try Store()
        defer { store.remove() }
        let tokens = GoogleTokenStore(dataDirectory: store.context.dataDirectory)
        let secret = "1//0fake-" + String(repeating: "r", count: 40)
        try tokens.save(refreshToken: secret, account: "a@example.com", clientId: "c", at: Date())
        #expect(try POSIXFile.mode(tokens.tokenFile) & 0o777 == 0o600)
        #expect(try POSIXFile.mode(tokens.keyFile) & 0o777 == 0o600)
        let text = try String(contentsOf: tokens.tokenFile, encoding: .utf8)
        #expect(!text.contains(secret) && !text.contains("rrrrrrrr"))
        #expect(!text.contains(Data(secret.utf8).base64EncodedString().prefix(20)))
        #expect(text.contains("a@example.com"))
        #expect(try tokens.refreshToken() == secret)

        try Data(repeating: 7, count: 32).write(to: tokens.keyFile)
        let error = #expect(throws: BackupError.self) { _ = try tokens.refreshToken() }
        #expect(error?.message.contains("Reconnect Google Drive") == true)
        #expect(error.map { "\($0)" }?.contains(secret) == false)
        try tokens.delete()
        #expect(!POSIXFile.exists(tokens.tokenFile) && !POSIXFile.exists(tokens.keyFile))
        #expect(tokens.state == .notConnected)
    }

    @Test("session: an expired or rejected access token is refreshed once; a revoked grant is .unauthorized and the state becomes revoked")
    func sessionRefreshAndRevocation() async throws {
        let clock = VirtualClock()
        let google = FakeGoogle(clock: { clock.now })
        let store = try Store()
        defer { store.remove() }
        try await google.serving { base in
            let config = googleConfig(base, client: FakeOAuth.deviceClient)
            let connector = GoogleDriveConnector(context: store.context, config: config)
            let device = try await connector.oauth.startDeviceFlow()
            google.oauth.approveDevice(userCode: device.userCode)
            try await connector.complete(try await connector.oauth.pollDeviceFlow(device) { clock.advance($0) }, actor: .system)

            let session = GoogleSession(config: config, store: connector.store, now: { clock.now })
            let first = try await session.accessToken(rejected: nil)
            #expect(try await session.accessToken(rejected: nil) == first)
            #expect(google.oauth.tokenRequests.filter { $0 == "refresh_token" }.count == 1)
            #expect(google.accessTokens.grant(authorization: "Bearer " + first) != nil)

            // An hour passes: the token is renewed before Drive would refuse it.
            clock.advance(3600)
            let second = try await session.accessToken(rejected: nil)
            #expect(second != first)
            // Drive refused it (expired early): renewed again.
            google.oauth.expireAccessTokens()
            let third = try await session.accessToken(rejected: second)
            #expect(third != second)
            #expect(google.oauth.tokenRequests.filter { $0 == "refresh_token" }.count == 3)
            #expect(session.state == .ok)

            // The user removes the app's access in the Google account.
            google.oauth.revokeGrants()
            let error = await #expect(throws: DestinationError.self) { try await session.accessToken(rejected: third) }
            #expect(error?.kind == .unauthorized)
            #expect(error?.message == "Google Drive is disconnected: reconnect it on the dashboard.")
            #expect(session.state == .revoked)
            #expect(GoogleTokenStore(dataDirectory: store.context.dataDirectory).state == .revoked)
            // Not asked again on every retry: the revoked state stops the session before Google.
            let requests = google.oauth.tokenRequests.count
            _ = try? await session.accessToken(rejected: nil)
            #expect(google.oauth.tokenRequests.count == requests)
        }
    }

    @Test("disconnect revokes the grant at Google, deletes both files and disables the destination")
    func disconnect() async throws {
        let google = FakeGoogle()
        let store = try Store()
        defer { store.remove() }
        try await google.serving { base in
            let connector = GoogleDriveConnector(context: store.context, config: googleConfig(base, client: FakeOAuth.deviceClient))
            let device = try await connector.oauth.startDeviceFlow()
            google.oauth.approveDevice(userCode: device.userCode)
            try await connector.complete(try await connector.oauth.pollDeviceFlow(device) { _ in }, actor: .system)
            #expect(google.oauth.liveRefreshTokens == 1)

            let result = try await connector.disconnect(actor: .system)
            #expect(result.revokedAtGoogle)
            #expect(result.account == "store.owner@example.com")
            #expect(google.oauth.liveRefreshTokens == 0)
            #expect(!POSIXFile.exists(connector.store.tokenFile) && !POSIXFile.exists(connector.store.keyFile))
            let record = try store.context.catalog.destinations().first { $0.name == "google-drive" }
            #expect(record?.enabled == false)
            let actions = try store.context.catalog.auditLog().map(\.action)
            #expect(actions.contains("drive.connect") && actions.contains("drive.disconnect"))
        }
    }
}
