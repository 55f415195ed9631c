import Foundation

/// Where the Drive client gets its bearer token: the OAuth session (refresh token exchanged at the token
/// endpoint, kept in memory until it expires). Drive's code asks again with `rejected` set after a 401,
/// so an access token that expired in flight is refreshed and the request repeated once.
/// Throws `DestinationError(.unauthorized)` when the grant is gone (`invalid_grant`: revoked, or expired
/// because the OAuth app is in Google's "Testing" status).
public protocol GoogleAccessTokens: Sendable {
    func accessToken(rejected: String?) async throws -> String
}
