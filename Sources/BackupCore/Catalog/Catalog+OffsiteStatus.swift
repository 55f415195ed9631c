import Foundation
import GRDB

extension Catalog {
    /// What the status of one destination shows: copies still to make, and the newest copy checked after upload.
    public struct OffsiteSummary: Sendable, Equatable {
        public var pending: Int
        public var failed: Int
        public var lastVerifiedUpload: Date?
    }

    public func offsiteSummary(of destination: String) throws -> OffsiteSummary {
        try database.read { db in
            let copies = BackupDestObject.filter(Column("destination") == destination)
            return OffsiteSummary(
                pending: try copies.filter(Column("status") == DestObjectStatus.pending).fetchCount(db),
                failed: try copies.filter(Column("status") == DestObjectStatus.failed).fetchCount(db),
                lastVerifiedUpload: try Date.fetchOne(db, copies.filter(Column("status") == DestObjectStatus.uploaded)
                    .select(max(Column("verified_at")))))
        }
    }
}
