import BackupCore
import Foundation
import Hummingbird

/// The audit log, newest first (R10.4).
struct AuditRoutes {
    let services: APIServices

    func register(on api: RouterGroup<APIRequestContext>) {
        api.get("/audit") { request, _ in
            let paging = try Paging(request)
            let rows = try await Blocking.run { [catalog = services.catalog] in try catalog.auditLog(limit: paging.limit + 1, offset: paging.offset) }
            return try JSON.response(Page(fetched: rows, limit: paging.limit, offset: paging.offset))
        }
    }
}
