import BackupCore
import Foundation

/// The permissions the POS puts in its tokens; only one matters to backups.
public enum Permission {
    /// May see and do everything in the backup API (the spec's Admin).
    public static let manageSettings = "MANAGE_SETTINGS"
}

/// Who is calling: the verified claims of the POS's token.
public struct Identity: Sendable, Equatable {
    /// `sub`: the POS user id.
    public var userId: String
    /// `station_id`: the register or back-office PC the request came from.
    public var stationId: String?
    public var permissions: Set<String>
    public var expiresAt: Date

    public init(userId: String, stationId: String?, permissions: Set<String>, expiresAt: Date) {
        self.userId = userId
        self.stationId = stationId
        self.permissions = permissions
        self.expiresAt = expiresAt
    }

    /// For the job records and the audit log.
    func actor(client: String?) -> BackupContext.Actor {
        BackupContext.Actor(userId: userId, stationId: stationId, client: client)
    }
}
