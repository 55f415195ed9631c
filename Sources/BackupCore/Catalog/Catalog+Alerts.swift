import Foundation
import GRDB

extension Catalog {
    /// Records `event` as an alert (counted again if the same one is still unacknowledged).
    @discardableResult
    public func raise(_ event: AlertEvent, at now: Date) throws -> Alert {
        try raiseAlert(event.severity, kind: event.kind, message: event.message, detail: event.detail, at: now)
    }
}

extension Catalog {
    /// Unacknowledged alerts the webhook has not yet accepted, oldest first.
    func alertsAwaitingWebhook() throws -> [Alert] {
        try database.read { db in
            try Alert.filter(Column("notified_at") == nil && Column("acknowledged_at") == nil).order(Column("id")).fetchAll(db)
        }
    }

    func markWebhookSent(_ id: Int64, at now: Date) throws {
        try database.write { db in
            try db.execute(sql: "UPDATE alert SET notified_at = ? WHERE id = ?", arguments: [now, id])
        }
    }
}
