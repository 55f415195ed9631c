import BackupCore
import Foundation
import Hummingbird

/// Alerts (R11): the dashboard's banner, and acknowledging one once it has been dealt with.
struct AlertRoutes {
    let services: APIServices

    func register(on api: RouterGroup<APIRequestContext>) {
        api.get("/alerts") { request, _ in
            let all = try request.queryBool("includeAcknowledged", default: false)
            let alerts = try await Blocking.run { [catalog = services.catalog] in try catalog.alerts(includeAcknowledged: all) }
            return try JSON.response(ItemList(items: alerts))
        }
        // Acknowledging twice is harmless: the first time is kept.
        api.post("/alerts/{id}/acknowledge", use: services.auditor.audited("alert.acknowledge") { _, context, note in
            let id = try context.id()
            note.target = "alert \(id)"
            let alert = try await Blocking.run { [services] in try services.catalog.acknowledgeAlert(id: id, at: services.context.now()) }
            guard let alert else { throw APIError.notFound("There is no alert with id \(id).") }
            note.detail = alert.message
            return try JSON.response(alert)
        })
    }
}
