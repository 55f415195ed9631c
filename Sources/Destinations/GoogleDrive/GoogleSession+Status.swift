import BackupCore
import Foundation

/// What `caps-backup drive status`, `GET /api/v1/drive` and the overview show about the Drive copy.
/// Holds no secret: the account's email is the most it says about the grant.
public struct GoogleDriveStatus: Codable, Sendable, Equatable {
    public var account: String?
    public var folder: String
    public var tokenState: GoogleTokenState
    public var connectedAt: Date?
    /// Whether backups are being copied (false after a disconnect, a revoked grant or a full quota).
    public var enabled: Bool
    public var disabledReason: String?
    public var lastVerifiedUpload: Date?
    public var pendingUploads: Int
    public var failedUploads: Int
    /// The backup whose copy `serve`'s uploader is making now (its progress: `GET /api/v1/backups/{id}/upload-progress`);
    /// known to the server only, so nil from the CLI.
    public var uploadingBackupId: Int64?

    /// - Parameter state: the live session's state when there is one (it knows of an expired token), else the stored one.
    public static func load(context: BackupContext, config: GoogleConfig, state: GoogleTokenState? = nil) throws -> GoogleDriveStatus {
        let store = GoogleTokenStore(dataDirectory: context.dataDirectory)
        let connection = try? store.connection
        let record = try context.catalog.destinations().first { $0.name == GoogleDriveConnector.destinationName }
        let summary = try context.catalog.offsiteSummary(of: GoogleDriveConnector.destinationName)
        let storeName = config.storeName ?? context.host
        return GoogleDriveStatus(account: connection?.account, folder: "\(config.folder)/\(storeName)",
                                 tokenState: connection == nil ? .notConnected : (state ?? store.state),
                                 connectedAt: connection?.connectedAt, enabled: record?.enabled ?? false,
                                 disabledReason: record?.enabled == false ? record?.disabledReason : nil,
                                 lastVerifiedUpload: summary.lastVerifiedUpload, pendingUploads: summary.pending, failedUploads: summary.failed)
    }
}
