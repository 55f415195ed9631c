import AsyncHTTPClient
import BackupCore
import Crypto
import Foundation
import NIOCore

/// The OAuth 2.0 calls of an installed app, as Google documents them: the device flow ("OAuth 2.0 for TV
/// and Limited-Input Device Applications"), the authorization-code flow with PKCE and a loopback redirect
/// ("OAuth 2.0 for Mobile & Desktop Apps"), refresh, revoke, and the account's email (Drive's
/// `about?fields=user`, which the `drive.file` scope may read). Only `drive.file` is ever asked for.
///
/// No token appears in an error or a log line: errors carry Google's error code and description only.
public struct GoogleOAuth: Sendable {
    public let config: GoogleConfig
    let httpClient: HTTPClient
    let timeout: TimeAmount = .seconds(30)

    public init(config: GoogleConfig, httpClient: HTTPClient = .shared) {
        self.config = config
        self.httpClient = httpClient
    }

    /// What the token endpoint granted.
    public struct Grant: Sendable {
        public var accessToken: String
        public var expiresIn: TimeInterval
        public var refreshToken: String?
        public var scope: String?
    }

    /// The answer of `/device/code`: what the user types where, and how often to ask.
    public struct DeviceAuthorization: Sendable, Codable, Equatable {
        public var deviceCode: String
        public var userCode: String
        public var verificationURL: String
        public var expiresIn: Int
        public var interval: Int
    }

    /// Why a flow ended without a grant.
    public enum Failure: Error, Equatable, CustomStringConvertible {
        /// The user refused on Google's page (`access_denied`).
        case denied
        /// The device code or the authorization request ran out of time (`expired_token`).
        case expired
        /// The grant or the code is no longer valid (`invalid_grant`: revoked, expired, reused).
        case invalidGrant(String)
        /// The client id or secret is wrong, or the client's type cannot use this flow (`invalid_client`).
        case invalidClient(String)
        /// Google could not be reached or answered something unexpected: worth another try later.
        case unreachable(String)
        /// Any other OAuth error (`invalid_scope`, `invalid_request`, …).
        case refused(String, String)

        public var description: String {
            switch self {
            case .denied: "Access was refused on Google's page, so Google Drive is not connected."
            case .expired: "The code was not entered in time, so Google Drive is not connected. Start the connection again."
            case .invalidGrant(let why): "Google no longer accepts this app's access (\(why)): reconnect Google Drive."
            case .invalidClient(let why):
                "Google refused the OAuth client in [google] client_id and client_secret (\(why)). Check both values; "
                    + "the device flow needs a client of type \"TVs and Limited Input devices\", the browser flow one of type \"Desktop app\"."
            case .unreachable(let why): "Google could not be reached (\(why)). Try again in a moment."
            case .refused(let code, let why): "Google refused the request: \(code) (\(why))."
            }
        }

        /// As the product reports it.
        public var backupError: BackupError {
            switch self {
            case .invalidClient: BackupError(.configuration, description)
            case .unreachable: BackupError(.io, description)
            default: BackupError(.invalidInput, description)
            }
        }
    }

    // MARK: Device flow

    public func startDeviceFlow() async throws -> DeviceAuthorization {
        let reply = try await post(config.deviceEndpoint, ["client_id": try clientId(), "scope": GoogleConfig.scope])
        guard reply.status == 200 else { throw Self.failure(reply) }
        guard let json = reply.json, let deviceCode = json["device_code"] as? String, let userCode = json["user_code"] as? String,
              let url = (json["verification_url"] ?? json["verification_uri"]) as? String else {
            throw Failure.unreachable("the device code answer is incomplete")
        }
        return DeviceAuthorization(deviceCode: deviceCode, userCode: userCode, verificationURL: url,
                                   expiresIn: (json["expires_in"] as? Int) ?? 1800, interval: max(1, (json["interval"] as? Int) ?? 5))
    }

    /// Polls the token endpoint at the server's interval (5 s more after each `slow_down`) until the user
    /// allows or refuses, or the code expires. `sleep` is injected so that tests never wait.
    public func pollDeviceFlow(_ device: DeviceAuthorization, sleep: @Sendable (Double) async throws -> Void) async throws -> Grant {
        var interval = Double(device.interval)
        while true {
            try await sleep(interval)
            let reply = try await post(config.tokenEndpoint, [
                "client_id": try clientId(), "client_secret": config.clientSecret ?? "",
                "device_code": device.deviceCode, "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            ])
            if reply.status == 200 { return try Self.grant(reply) }
            switch reply.json?["error"] as? String {
            case "authorization_pending": continue
            case "slow_down": interval += 5
            default: throw Self.failure(reply)
            }
        }
    }

    // MARK: Authorization-code flow with PKCE

    /// A PKCE pair (RFC 7636, S256) and the `state` that ties the redirect to this request.
    public struct CodeRequest: Sendable {
        public var verifier: String
        public var challenge: String
        public var state: String
        public var redirectURI: String

        public init(redirectURI: String) {
            verifier = Self.random(32)
            challenge = Self.challenge(verifier)
            state = Self.random(24)
            self.redirectURI = redirectURI
        }

        static func random(_ bytes: Int) -> String {
            var generator = SystemRandomNumberGenerator()
            return Base64URL.encode((0..<bytes).map { _ in UInt8.random(in: 0...255, using: &generator) })
        }

        public static func challenge(_ verifier: String) -> String { Base64URL.encode(Array(SHA256.hash(data: Data(verifier.utf8)))) }
    }

    /// The URL to open in a browser.
    public func authorizationURL(_ request: CodeRequest) throws -> URL {
        var components = URLComponents(url: config.authEndpoint, resolvingAgainstBaseURL: false)!
        components.queryItems = (components.queryItems ?? []) + [
            URLQueryItem(name: "client_id", value: try clientId()),
            URLQueryItem(name: "redirect_uri", value: request.redirectURI),
            URLQueryItem(name: "response_type", value: "code"),
            URLQueryItem(name: "scope", value: GoogleConfig.scope),
            URLQueryItem(name: "code_challenge", value: request.challenge),
            URLQueryItem(name: "code_challenge_method", value: "S256"),
            URLQueryItem(name: "state", value: request.state),
            // A refresh token, and asked for again on a reconnect (Google sends one only at first consent otherwise).
            URLQueryItem(name: "access_type", value: "offline"),
            URLQueryItem(name: "prompt", value: "consent"),
        ]
        // `+` in a query means a space to Google's parser.
        components.percentEncodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        return components.url!
    }

    public func exchange(code: String, for request: CodeRequest) async throws -> Grant {
        let reply = try await post(config.tokenEndpoint, [
            "client_id": try clientId(), "client_secret": config.clientSecret ?? "", "code": code,
            "code_verifier": request.verifier, "redirect_uri": request.redirectURI, "grant_type": "authorization_code",
        ])
        guard reply.status == 200 else { throw Self.failure(reply) }
        return try Self.grant(reply)
    }

    // MARK: Refresh, revoke, account

    public func refresh(_ refreshToken: String) async throws -> Grant {
        let reply = try await post(config.tokenEndpoint, [
            "client_id": try clientId(), "client_secret": config.clientSecret ?? "",
            "refresh_token": refreshToken, "grant_type": "refresh_token",
        ])
        guard reply.status == 200 else { throw Self.failure(reply) }
        return try Self.grant(reply)
    }

    /// Revokes a refresh token (and the access tokens it issued). A token Google no longer knows counts as revoked.
    public func revoke(_ token: String) async throws {
        let reply = try await post(config.revokeEndpoint, ["token": token])
        if reply.status == 200 { return }
        if reply.status == 400, reply.json?["error"] as? String == "invalid_token" { return }
        throw Self.failure(reply)
    }

    /// The email of the account whose Drive the token opens.
    public func accountEmail(accessToken: String) async throws -> String {
        var base = config.driveAPIBase.absoluteString
        while base.hasSuffix("/") { base.removeLast() }
        var request = HTTPClientRequest(url: base + "/drive/v3/about?fields=user")
        request.headers.add(name: "Authorization", value: "Bearer " + accessToken)
        let reply = try await send(request)
        guard reply.status == 200, let user = reply.json?["user"] as? [String: Any], let email = user["emailAddress"] as? String else {
            throw Failure.unreachable("Drive did not say whose account this is (HTTP \(reply.status))")
        }
        return email
    }

    // MARK: Wire

    struct Reply {
        var status: UInt
        var json: [String: Any]?
    }

    private func clientId() throws -> String {
        guard let id = config.clientId, !id.isEmpty else {
            throw BackupError(.configuration, "Google Drive is not set up: [google] client_id and client_secret are missing from the config file. See the README, section \"Google Drive\".")
        }
        return id
    }

    private func post(_ url: URL, _ form: [String: String]) async throws -> Reply {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: Self.formEncode(form)))
        return try await send(request)
    }

    private func send(_ request: HTTPClientRequest) async throws -> Reply {
        do {
            let response = try await httpClient.execute(request, timeout: timeout)
            let body = try await response.body.collect(upTo: 1 << 20)
            let json = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any]
            return Reply(status: response.status.code, json: json)
        } catch let error as BackupError {
            throw error
        } catch {
            // The error names the host and the failure, never the request's form (which holds tokens).
            throw Failure.unreachable("\(request.url.split(separator: "?").first ?? ""): \(type(of: error))")
        }
    }

    static func formEncode(_ form: [String: String]) -> String {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        return form.sorted { $0.key < $1.key }
            .map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: allowed)!)" }.joined(separator: "&")
    }

    static func grant(_ reply: Reply) throws -> Grant {
        guard let json = reply.json, let token = json["access_token"] as? String else {
            throw Failure.unreachable("the token answer holds no access token")
        }
        if let scope = json["scope"] as? String, !scope.split(separator: " ").contains(where: { $0 == GoogleConfig.scope }) {
            throw Failure.refused("invalid_scope", "Google granted \(scope), not \(GoogleConfig.scope)")
        }
        return Grant(accessToken: token, expiresIn: (json["expires_in"] as? Double) ?? 3599,
                     refreshToken: json["refresh_token"] as? String, scope: json["scope"] as? String)
    }

    static func failure(_ reply: Reply) -> Failure {
        let code = reply.json?["error"] as? String
        let description = (reply.json?["error_description"] as? String).map { String($0.prefix(200)) } ?? "HTTP \(reply.status)"
        switch code {
        case "access_denied": return .denied
        case "expired_token": return .expired
        case "invalid_grant": return .invalidGrant(description)
        case "invalid_client", "unauthorized_client": return .invalidClient(description)
        case let code?: return reply.status >= 500 ? .unreachable("\(code), HTTP \(reply.status)") : .refused(code, description)
        case nil: return .unreachable("HTTP \(reply.status)")
        }
    }
}

/// Base64url without padding (RFC 4648 §5), as PKCE and `state` use.
enum Base64URL {
    static func encode(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}
