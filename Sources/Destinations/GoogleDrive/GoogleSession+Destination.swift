import AsyncHTTPClient
import BackupCore
import Foundation

extension GoogleDriveConnector {
    /// The store's Drive as a destination with retries, over `tokens`; nil while not connected (or revoked).
    public static func destination(context: BackupContext, config: GoogleConfig, tokens: GoogleSession,
                                   httpClient: HTTPClient = .shared) -> (any Destination)? {
        guard tokens.state != .notConnected, tokens.state != .revoked else { return nil }
        return RetryingDestination(GoogleDriveDestination(config: config, storeName: config.storeName ?? context.host,
                                                          tokens: tokens, httpClient: httpClient))
    }
}
