import AsyncHTTPClient
import BackupCore
import Foundation

/// The bearer tokens Drive's calls carry: an access token kept in memory until a minute before it
/// expires (or until Drive rejects it), then refreshed with the stored refresh token. `invalid_grant`
/// marks the connection `revoked` on disk and throws `DestinationError(.unauthorized)`, which disables
/// the destination (`OffsiteCopier`) until the store reconnects.
public final class GoogleSession: GoogleAccessTokens {
    public let store: GoogleTokenStore
    let oauth: GoogleOAuth
    let now: @Sendable () -> Date
    private let cached = Locked<(token: String, expiresAt: Date)?>(nil)
    private let lastState = Locked<GoogleTokenState?>(nil)
    /// One refresh at a time: parallel calls that all found the token expired share one token request.
    private let refreshing = Locked<Task<String, any Error>?>(nil)

    public init(config: GoogleConfig, store: GoogleTokenStore, httpClient: HTTPClient = .shared, now: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        oauth = GoogleOAuth(config: config, httpClient: httpClient)
        self.now = now
    }

    /// ok / expired / revoked / not connected, as the status command and the dashboard show it.
    public var state: GoogleTokenState {
        let stored = store.state
        guard stored == .ok else { return stored }
        return lastState.current ?? .ok
    }

    public func accessToken(rejected: String?) async throws -> String {
        let fresh: String? = cached.withLock { cached in
            guard let current = cached else { return nil }
            if current.token == rejected || current.expiresAt <= now() {
                cached = nil
                return nil
            }
            return current.token
        }
        if let fresh { return fresh }
        let task: Task<String, any Error> = refreshing.withLock { running in
            if let running { return running }
            let task = Task { try await self.refresh() }
            running = task
            return task
        }
        defer { refreshing.withLock { if $0 == task { $0 = nil } } }
        return try await task.value
    }

    private func refresh() async throws -> String {
        let refreshToken: String?
        do { refreshToken = try store.refreshToken() } catch {
            throw DestinationError(.unauthorized, "The saved Google Drive connection cannot be read: reconnect Google Drive.")
        }
        guard let refreshToken, store.state != .revoked else {
            throw DestinationError(.unauthorized, "Google Drive is not connected: connect it on the dashboard or with caps-backup drive connect.")
        }
        do {
            let grant = try await oauth.refresh(refreshToken)
            cached.withLock { $0 = (grant.accessToken, now().addingTimeInterval(max(0, grant.expiresIn - 60))) }
            lastState.withLock { $0 = .ok }
            return grant.accessToken
        } catch let failure as GoogleOAuth.Failure {
            switch failure {
            case .invalidClient:
                throw DestinationError(.unauthorized, failure.description)
            case .invalidGrant:
                try? store.markState(.revoked)
                lastState.withLock { $0 = .revoked }
                throw DestinationError(.unauthorized, "Google Drive is disconnected: reconnect it on the dashboard.")
            case .unreachable(let why):
                lastState.withLock { $0 = .expired }
                throw DestinationError(.transient(retryAfter: nil), "Google could not be reached to renew the access token (\(why)).")
            default:
                lastState.withLock { $0 = .expired }
                throw DestinationError(.permanent, failure.description)
            }
        }
    }
}
