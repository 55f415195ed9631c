import Crypto
import Foundation
import Hummingbird

/// Google's OAuth 2.0 endpoints for installed apps ("OAuth 2.0 for Mobile & Desktop Apps": the
/// authorization-code flow with PKCE and a loopback redirect) and for limited-input devices (the device
/// flow), as Google documents them, strict where Google is:
/// - each OAuth client has a type, and only a "TVs and Limited Input devices" client may use the device
///   flow (`invalid_client`, "Invalid client type."), only a Desktop client the loopback redirect;
/// - the one scope granted is `drive.file` (`invalid_scope` otherwise);
/// - authorization codes are single-use, expire after `codeLifetime`, and need the PKCE verifier (S256);
/// - the token endpoint polled for a device code answers `authorization_pending` (428), `slow_down` (403,
///   and the interval it then demands grows by 5 s), `access_denied` (403), `expired_token` (400);
/// - a revoked refresh token (the user removed the app's access, or a "Testing" app's grant passed its
///   7 days) answers `invalid_grant` ("Token has been expired or revoked.").
///
/// Tests act as the user through the switches: `consent`, `approveDevice`, `denyDevice`,
/// `revokeGrants`, `expireAccessTokens`.
public final class FakeOAuth: Sendable {
    public enum ClientType: Sendable { case desktop, limitedInput }

    public struct Client: Sendable, Equatable {
        public var id: String
        public var secret: String
        public var type: ClientType
        public init(id: String, secret: String, type: ClientType) {
            self.id = id
            self.secret = secret
            self.type = type
        }
    }

    /// A Desktop client (code flow) and a "TVs and Limited Input devices" client (device flow), known from the start.
    public static let desktopClient = Client(id: "1000-desktop.apps.googleusercontent.com", secret: "GOCSPX-fake-desktop-secret", type: .desktop)
    public static let deviceClient = Client(id: "1000-tv.apps.googleusercontent.com", secret: "GOCSPX-fake-tv-secret", type: .limitedInput)

    /// What the user answers on the consent screen of the authorization endpoint.
    public enum Consent: Sendable { case approve, deny }

    let accessTokens: FakeAccessTokens
    let clock: @Sendable () -> Date
    private let state = FakeLocked(State())

    struct State {
        var clients: [String: Client] = [desktopClient.id: desktopClient, deviceClient.id: deviceClient]
        var account = "store.owner@example.com"
        var consent = Consent.approve
        var codeLifetime: TimeInterval = 600
        var deviceLifetime: TimeInterval = 1800
        var deviceInterval = 5
        var codes: [String: AuthorizationCode] = [:]
        var refreshTokens: [String: RefreshGrant] = [:]
        var devices: [String: DeviceGrant] = [:]
        var tokenRequests: [String] = []
        var devicePolls: [Date] = []
        var revokedTokens = 0
    }

    struct AuthorizationCode {
        var client: String
        var redirectURI: String
        var challenge: String
        var account: String
        var expiresAt: Date
        var used = false
    }

    struct RefreshGrant {
        var client: String
        var account: String
        var revoked = false
    }

    struct DeviceGrant {
        enum Decision { case pending, approved, denied }
        var client: String
        var userCode: String
        var expiresAt: Date
        var interval: Int
        var lastPoll: Date?
        var decision = Decision.pending
        var consumed = false
    }

    init(accessTokens: FakeAccessTokens, clock: @escaping @Sendable () -> Date) {
        self.accessTokens = accessTokens
        self.clock = clock
    }

    // MARK: Switches for tests

    /// The Google account that signs in and consents.
    public var account: String {
        get { state.withLock { $0.account } }
        set { state.withLock { $0.account = newValue } }
    }

    public var consent: Consent {
        get { state.withLock { $0.consent } }
        set { state.withLock { $0.consent = newValue } }
    }

    /// Seconds a device code lives (Google: 1800) and the polling interval it asks for (Google: 5).
    public func setDeviceCodes(lifetime: TimeInterval, interval: Int) {
        state.withLock { $0.deviceLifetime = lifetime; $0.deviceInterval = interval }
    }

    public func register(_ client: Client) { state.withLock { $0.clients[client.id] = client } }

    /// The user codes shown for device codes that await the user.
    public var pendingUserCodes: [String] {
        state.withLock { $0.devices.values.filter { $0.decision == .pending && !$0.consumed }.map(\.userCode).sorted() }
    }

    /// The user entered `userCode` at the verification URL and allowed access.
    public func approveDevice(userCode: String) { decide(userCode, .approved) }

    /// The user entered `userCode` and refused.
    public func denyDevice(userCode: String) { decide(userCode, .denied) }

    private func decide(_ userCode: String, _ decision: DeviceGrant.Decision) {
        state.withLock { state in
            for (key, grant) in state.devices where grant.userCode == userCode { state.devices[key]!.decision = decision }
        }
    }

    /// Every refresh token of `account` (default: the signed-in one) stops working, and its access tokens
    /// with it: the user removed the app at myaccount.google.com, or a "Testing" app's 7 days ran out.
    public func revokeGrants(account: String? = nil) {
        let account = account ?? self.account
        state.withLock { state in
            for (key, grant) in state.refreshTokens where grant.account == account { state.refreshTokens[key]!.revoked = true }
        }
        accessTokens.revokeAll(account: account)
    }

    /// Every access token issued so far is expired, as an hour passing would make it.
    public func expireAccessTokens() { accessTokens.expireAll() }

    /// The `grant_type` of every token request, in order.
    public var tokenRequests: [String] { state.withLock { $0.tokenRequests } }

    /// When each device-code poll reached the token endpoint (by the injected clock).
    public var devicePolls: [Date] { state.withLock { $0.devicePolls } }

    /// Refresh tokens that a live (unrevoked) grant holds.
    public var liveRefreshTokens: Int { state.withLock { $0.refreshTokens.values.filter { !$0.revoked }.count } }

    // MARK: Routes

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("/o/oauth2/v2/auth") { request, _ in self.authorize(request) }
        router.post("/token") { request, _ in try await self.token(FakeForm(request)) }
        router.post("/device/code") { request, _ in try await self.deviceCode(FakeForm(request)) }
        router.post("/revoke") { request, _ in try await self.revoke(FakeForm(request)) }
        // Drive's `about` (with `fields=user`) is how an app holding only `drive.file` learns whose Drive it is.
        router.get("/drive/v3/about") { request, _ in self.about(request) }
    }

    /// The consent screen: checks the request as Google does, then sends the browser back to the
    /// loopback `redirect_uri` with a code (or `error=access_denied`) and the `state` it was given.
    private func authorize(_ request: Request) -> Response {
        let query = request.uri.queryParameters
        func value(_ name: String) -> String? { query.get(name) }
        guard let clientId = value("client_id"), let client = state.withLock({ $0.clients[clientId] }) else {
            return Self.page(.unauthorized, "Error 401: invalid_client. The OAuth client was not found.")
        }
        guard client.type == .desktop else {
            return Self.page(.badRequest, "Error 400: invalid_request. This client type cannot use a redirect URI.")
        }
        guard let redirect = value("redirect_uri"), let redirectURL = URL(string: redirect),
              redirectURL.scheme == "http", ["127.0.0.1", "[::1]", "::1", "localhost"].contains(redirectURL.host ?? "") else {
            return Self.page(.badRequest, "Error 400: redirect_uri_mismatch. A Desktop client redirects to a loopback address only.")
        }
        guard value("response_type") == "code" else {
            return Self.page(.badRequest, "Error 400: unsupported_response_type.")
        }
        guard value("scope") == Self.driveFile else {
            return Self.page(.badRequest, "Error 400: invalid_scope. Some requested scopes were invalid.")
        }
        guard let challenge = value("code_challenge"), value("code_challenge_method") == "S256", challenge.count >= 43 else {
            return Self.page(.badRequest, "Error 400: invalid_request. code_challenge (S256) is required.")
        }
        var back = URLComponents(url: redirectURL, resolvingAgainstBaseURL: false)!
        var items = back.queryItems ?? []
        if state.withLock({ $0.consent }) == .deny {
            items.append(URLQueryItem(name: "error", value: "access_denied"))
        } else {
            let code = "4/0A-fake-" + Self.random(24)
            state.withLock {
                $0.codes[code] = AuthorizationCode(client: clientId, redirectURI: redirect, challenge: challenge, account: $0.account,
                                                   expiresAt: clock().addingTimeInterval($0.codeLifetime))
            }
            items.append(URLQueryItem(name: "code", value: code))
            items.append(URLQueryItem(name: "scope", value: Self.driveFile))
        }
        if let state = value("state") { items.append(URLQueryItem(name: "state", value: state)) }
        back.queryItems = items
        return Response(status: .found, headers: [.location: back.string!])
    }

    private func token(_ form: FakeForm) throws -> Response {
        let grantType = form["grant_type"] ?? ""
        state.withLock { $0.tokenRequests.append(grantType) }
        guard let clientId = form["client_id"], let client = state.withLock({ $0.clients[clientId] }) else {
            return Self.error(.unauthorized, "invalid_client", "The OAuth client was not found.")
        }
        guard form["client_secret"] == client.secret else { return Self.error(.unauthorized, "invalid_client", "Unauthorized") }
        switch grantType {
        case "authorization_code": return exchangeCode(form, client: client)
        case "refresh_token": return refresh(form, client: client)
        case "urn:ietf:params:oauth:grant-type:device_code": return pollDevice(form, client: client)
        default: return Self.error(.badRequest, "unsupported_grant_type", "Invalid grant_type: \(grantType)")
        }
    }

    private func exchangeCode(_ form: FakeForm, client: Client) -> Response {
        guard let code = form["code"], let redirect = form["redirect_uri"], let verifier = form["code_verifier"] else {
            return Self.error(.badRequest, "invalid_request", "Missing required parameter: code, redirect_uri or code_verifier")
        }
        let now = clock()
        enum Outcome { case grant(String), refused(String) }
        let outcome: Outcome = state.withLock { state in
            guard let grant = state.codes[code], grant.client == client.id else { return .refused("Malformed auth code.") }
            guard !grant.used else { return .refused("Bad Request") }
            state.codes[code]!.used = true   // a code is spent by its first use, right or wrong
            guard grant.expiresAt > now else { return .refused("Bad Request") }
            guard grant.redirectURI == redirect else { return .refused("redirect_uri_mismatch") }
            guard Self.challenge(verifier) == grant.challenge else { return .refused("Invalid code verifier.") }
            return .grant(grant.account)
        }
        switch outcome {
        case .refused(let why): return Self.error(.badRequest, "invalid_grant", why)
        case .grant(let account): return issue(account: account, client: client, withRefreshToken: true)
        }
    }

    private func refresh(_ form: FakeForm, client: Client) -> Response {
        guard let token = form["refresh_token"] else { return Self.error(.badRequest, "invalid_request", "Missing required parameter: refresh_token") }
        guard let grant = state.withLock({ $0.refreshTokens[token] }), grant.client == client.id, !grant.revoked else {
            return Self.error(.badRequest, "invalid_grant", "Token has been expired or revoked.")
        }
        return issue(account: grant.account, client: client, withRefreshToken: false)
    }

    private func pollDevice(_ form: FakeForm, client: Client) -> Response {
        guard client.type == .limitedInput else { return Self.error(.unauthorized, "invalid_client", "Invalid client type.") }
        guard let code = form["device_code"] else { return Self.error(.badRequest, "invalid_request", "Missing required parameter: device_code") }
        let now = clock()
        enum Outcome { case error(HTTPResponse.Status, String, String), grant(String) }
        let outcome: Outcome = state.withLock { state in
            state.devicePolls.append(now)
            guard var grant = state.devices[code], grant.client == client.id, !grant.consumed else {
                return .error(.badRequest, "invalid_grant", "Malformed device code.")
            }
            defer { state.devices[code] = grant }
            if grant.expiresAt <= now { return .error(.badRequest, "expired_token", "The device code has expired.") }
            if let last = grant.lastPoll, now.timeIntervalSince(last) < Double(grant.interval) {
                grant.lastPoll = now
                grant.interval += 5
                return .error(.forbidden, "slow_down", "Polling too frequently.")
            }
            grant.lastPoll = now
            switch grant.decision {
            case .pending: return .error(.init(code: 428, reasonPhrase: "Precondition Required"), "authorization_pending", "Precondition Required")
            case .denied: return .error(.forbidden, "access_denied", "Forbidden")
            case .approved:
                grant.consumed = true
                return .grant(state.account)
            }
        }
        switch outcome {
        case .error(let status, let code, let description): return Self.error(status, code, description)
        case .grant(let account): return issue(account: account, client: client, withRefreshToken: true)
        }
    }

    private func deviceCode(_ form: FakeForm) throws -> Response {
        guard let clientId = form["client_id"], let client = state.withLock({ $0.clients[clientId] }) else {
            return Self.error(.unauthorized, "invalid_client", "The OAuth client was not found.")
        }
        guard client.type == .limitedInput else { return Self.error(.unauthorized, "invalid_client", "Invalid client type.") }
        guard form["scope"] == Self.driveFile else { return Self.error(.badRequest, "invalid_scope", "Some requested scopes were invalid.") }
        let deviceCode = "AH-fake-" + Self.random(32)
        let letters = Array("BCDFGHJKLMNPQRSTVWXZ")
        let userCode = String((0..<4).map { _ in letters.randomElement()! }) + "-" + String((0..<4).map { _ in letters.randomElement()! })
        let (lifetime, interval) = state.withLock { state in
            state.devices[deviceCode] = DeviceGrant(client: clientId, userCode: userCode,
                                                    expiresAt: clock().addingTimeInterval(state.deviceLifetime), interval: state.deviceInterval)
            return (state.deviceLifetime, state.deviceInterval)
        }
        return Self.json(.ok, [
            "device_code": deviceCode, "user_code": userCode, "verification_url": "https://www.google.com/device",
            "expires_in": Int(lifetime), "interval": interval,
        ])
    }

    /// `token=` names an access or a refresh token; revoking a refresh token ends its access tokens too.
    private func revoke(_ form: FakeForm) throws -> Response {
        guard let token = form["token"] else { return Self.error(.badRequest, "invalid_request", "Missing required parameter: token") }
        let account: String? = state.withLock { state in
            guard let grant = state.refreshTokens[token], !grant.revoked else { return nil }
            state.refreshTokens[token]!.revoked = true
            state.revokedTokens += 1
            return grant.account
        }
        if let account {
            accessTokens.revokeAll(account: account)
            return Self.json(.ok, [:])
        }
        if accessTokens.grant(authorization: "Bearer " + token) != nil {
            accessTokens.revoke(token)
            return Self.json(.ok, [:])
        }
        return Self.error(.badRequest, "invalid_token", "Token expired or revoked")
    }

    /// `GET /drive/v3/about?fields=user`: Drive requires `fields` for this method.
    private func about(_ request: Request) -> Response {
        guard let grant = accessTokens.grant(authorization: request.headers[.authorization]) else {
            return Self.driveError(.unauthorized, reason: "authError", "Request had invalid authentication credentials.")
        }
        guard let fields = request.uri.queryParameters.get("fields"), !fields.isEmpty else {
            return Self.driveError(.badRequest, reason: "required", "The 'fields' parameter is required for this method.")
        }
        var body: [String: Any] = [:]
        if fields.split(separator: ",").contains(where: { $0.hasPrefix("user") }) {
            body["user"] = ["kind": "drive#user", "displayName": grant.account.split(separator: "@").first.map(String.init) ?? grant.account,
                            "emailAddress": grant.account, "me": true, "permissionId": "0" + String(abs(grant.account.hashValue) % 1_000_000_000)]
        }
        return Self.json(.ok, body)
    }

    private func issue(account: String, client: Client, withRefreshToken: Bool) -> Response {
        var body: [String: Any] = [
            "access_token": accessTokens.issue(account: account, scope: Self.driveFile),
            "expires_in": 3599, "scope": Self.driveFile, "token_type": "Bearer",
        ]
        if withRefreshToken {
            let refresh = "1//0fake-" + Self.random(40)
            state.withLock { $0.refreshTokens[refresh] = RefreshGrant(client: client.id, account: account) }
            body["refresh_token"] = refresh
        }
        return Self.json(.ok, body)
    }

    // MARK: Wire formats

    static let driveFile = "https://www.googleapis.com/auth/drive.file"

    static func challenge(_ verifier: String) -> String {
        Data(SHA256.hash(data: Data(verifier.utf8))).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func random(_ count: Int) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        return String((0..<count).map { _ in alphabet.randomElement()! })
    }

    static func json(_ status: HTTPResponse.Status, _ object: [String: Any]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// OAuth's error shape: `{"error": "invalid_grant", "error_description": "…"}`.
    static func error(_ status: HTTPResponse.Status, _ code: String, _ description: String) -> Response {
        json(status, ["error": code, "error_description": description])
    }

    /// Drive's error shape: `{"error": {"code", "message", "errors": [{"reason", "message", "domain"}]}}`.
    static func driveError(_ status: HTTPResponse.Status, reason: String, _ message: String) -> Response {
        json(status, ["error": ["code": Int(status.code), "message": message,
                                "errors": [["domain": "global", "reason": reason, "message": message]]] as [String: Any]])
    }

    static func page(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(string: "<!doctype html><title>Google</title><p>\(text)</p>")))
    }
}

/// An `application/x-www-form-urlencoded` request body, as every OAuth endpoint takes.
struct FakeForm {
    private let values: [String: String]

    init(_ request: Request) async throws {
        let buffer = try await request.body.collect(upTo: 64 * 1024)
        values = Self.parse(String(buffer: buffer))
    }

    static func parse(_ text: String) -> [String: String] {
        var values: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String { s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(s) }
            values[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return values
    }

    subscript(name: String) -> String? { values[name] }
}
