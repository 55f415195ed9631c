import AsyncHTTPClient
import BackupCore
import Foundation

/// Connecting and disconnecting the store's Google Drive, the same for the command line and the API:
/// a grant becomes a saved (encrypted) refresh token, the account's email, and the enabled destination
/// record `google-drive`; a disconnect revokes the grant at Google, deletes the tokens and disables it.
public struct GoogleDriveConnector: Sendable {
    public static let destinationName = "google-drive"

    public let context: BackupContext
    public let oauth: GoogleOAuth
    public let store: GoogleTokenStore

    public init(context: BackupContext, config: GoogleConfig, httpClient: HTTPClient = .shared) {
        self.context = context
        oauth = GoogleOAuth(config: config, httpClient: httpClient)
        store = GoogleTokenStore(dataDirectory: context.dataDirectory)
    }

    /// Saves what Google granted. - Returns: the connected account's email.
    @discardableResult
    public func complete(_ grant: GoogleOAuth.Grant, actor: BackupContext.Actor) async throws -> String {
        guard let refreshToken = grant.refreshToken else {
            throw BackupError(.invalidInput, "Google sent no refresh token, so the service could not stay connected. Remove the app's access in the Google account (Security, Third-party access) and connect again.")
        }
        let account = try await oauth.accountEmail(accessToken: grant.accessToken)
        try store.save(refreshToken: refreshToken, account: account, clientId: oauth.config.clientId, at: context.now())
        let catalog = context.catalog
        var record = try catalog.destinations().first { $0.name == Self.destinationName }
            ?? DestinationRecord(name: Self.destinationName, kinds: BackupKind.allCases, createdAt: context.now())
        record.enabled = true
        record.disabledReason = nil
        try catalog.save(record)
        try catalog.audit(action: "drive.connect", target: Self.destinationName, outcome: "succeeded",
                          detail: "connected to the Google account \(account)", actor: actor, at: context.now())
        return account
    }

    public struct Disconnected: Sendable {
        /// Whether Google confirmed the revocation (false when it could not be reached; the tokens are deleted anyway).
        public var revokedAtGoogle: Bool
        public var account: String?
    }

    public func disconnect(actor: BackupContext.Actor) async throws -> Disconnected {
        let account = try store.connection?.account
        var revoked = false
        if let token = try? store.refreshToken() {
            do {
                try await oauth.revoke(token)
                revoked = true
            } catch {
                revoked = false
            }
        }
        try store.delete()
        if var record = try context.catalog.destinations().first(where: { $0.name == Self.destinationName }) {
            record.enabled = false
            record.disabledReason = "Disconnected: Google Drive is not connected."
            try context.catalog.save(record)
        }
        try context.catalog.audit(action: "drive.disconnect", target: Self.destinationName, outcome: "succeeded",
                                  detail: revoked ? "access revoked at Google, tokens deleted"
                                      : "tokens deleted; Google could not confirm the revocation (remove the app in the Google account to be sure)",
                                  actor: actor, at: context.now())
        return Disconnected(revokedAtGoogle: revoked, account: account)
    }
}
