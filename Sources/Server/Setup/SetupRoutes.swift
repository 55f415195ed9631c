import BackupCore
import Foundation
import Hummingbird
import HTTPTypes

/// The fresh-install wizard's routes (R8): the setup state (no token), then, with the one-time setup
/// code (or a POS token), checking the code, uploading and restoring an archive, and following that
/// restore. The upload and restore are /restores/upload's (`RestoreRoutes.receiveAndRestore`); the way
/// to a backup on Google Drive is `SetupDriveRoutes`.
struct SetupRoutes {
    let services: APIServices

    static let setupRequired = APIError(.conflict, "setup_required",
                                        "This store has no data yet: restore a backup with the setup wizard first (GET /api/v1/setup).")
    static let notRequired = APIError(.conflict, "setup_not_required",
                                      "This store is already set up; the setup wizard is only for a new, empty store. Restore from the Backups page instead.")

    struct Status: Codable, Sendable {
        var setupRequired: Bool
        var storeName: String
        enum CodingKeys: String, CodingKey { case setupRequired = "setup_required", storeName = "store_name" }
    }

    /// - Parameters:
    ///   - open: a group without authentication, for GET /api/v1/setup.
    ///   - guarded: /api/v1/setup behind `SetupAuthMiddleware`.
    func register(open: RouterGroup<APIRequestContext>, guarded: RouterGroup<APIRequestContext>) {
        let gate = services.setup
        open.get("/setup") { _, _ in
            try JSON.response(Status(setupRequired: gate.setupRequired, storeName: gate.storeName))
        }

        // The middleware has checked the code (or token) and audited its use: nothing more to say.
        guarded.post("/verify-code") { _, _ in Response(status: .noContent) }

        guarded.post("/restore", use: services.auditor.audited("setup.restore") { request, context, note in
            guard gate.setupRequired else { throw Self.notRequired }
            let (restore, response) = try await RestoreRoutes(services: services).receiveAndRestore(request, context: context, note: note)
            watch(restore)
            return response
        })

        guarded.get("/restore/{id}") { _, context in
            let id = try context.id()
            let restore = try await Blocking.run { [catalog = services.catalog] in try catalog.restoreJob(id: id) }
            guard let restore else { throw RestoreRoutes.noSuchRestore(id) }
            return try JSON.response(RestoreRoutes(services: services).restoreView(restore))
        }

        guarded.get("/restore/{id}/progress") { _, context in
            try await ProgressRoutes(services: services).restoreProgress(try context.id())
        }

        SetupDriveRoutes(services: services).register(on: guarded)
    }

    /// When the wizard's restore has succeeded, the store leaves setup mode: the code stops working
    /// and the scheduler starts on the restored data.
    func watch(_ restore: RestoreRecord) {
        guard let id = restore.id else { return }
        let monitor = services.hub.monitor(for: .restore(id))
        Task { [services] in
            await monitor?.waitUntilFinished()
            guard let final = try? await Blocking.run({ try services.catalog.restoreJob(id: id) }), final.status == .succeeded else { return }
            _ = try? await Blocking.run { services.setup.restoreSucceeded(context: services.context, logger: services.logger) }
        }
    }
}

/// /api/v1/setup's routes but GET /setup: the one-time setup code, as `Authorization: Setup <code>` or
/// `X-Setup-Code: <code>`, while the store is empty; or else a POS token with MANAGE_SETTINGS (as
/// every /api/v1 route). Every use of the code is audited as user "setup"; a wrong code, or any
/// code once the store is set up, is a 401, audited at most once a minute per address like other refusals.
/// One exception: for ten minutes after its restore set the store up, the spent code still reads that
/// restore's status and progress (`GET /setup/restore/…`), since the wizard may ask only after it ended.
struct SetupAuthMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    let gate: SetupGate
    let bearer: AuthMiddleware
    let auditor: Auditor

    static let user = "setup"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let code = Self.code(in: request) else { return try await bearer.handle(request, context: context, next: next) }
        let target = "\(request.method) \(request.uri.path.prefix(200))"
        let actor = BackupContext.Actor(userId: Self.user, stationId: nil, client: context.clientAddress)
        switch gate.check(code) {
        case .accepted:
            await auditor.write(action: "setup.code", target: target, outcome: "succeeded", detail: "setup code accepted", actor: actor)
            var context = context
            context.identity = Identity(userId: Self.user, stationId: nil, permissions: [], expiresAt: .distantFuture)
            return try await next(request, context)
        case .wrong:
            await auditor.refused(action: "setup.unauthorized", target: target, detail: "wrong setup code", actor: actor)
            throw APIError(.unauthorized, "setup_code_invalid",
                           "That setup code is not right. It is in the service log and in the file setup-code in the backup data folder.",
                           headers: [.wwwAuthenticate: "Bearer, Setup"])
        case .spent where request.method == .get && request.uri.path.hasPrefix("/api/v1/setup/restore/"):
            // How the wizard's own restore ended, read just after it set the store up.
            await auditor.write(action: "setup.code", target: target, outcome: "succeeded", detail: "spent setup code: restore status", actor: actor)
            var context = context
            context.identity = Identity(userId: Self.user, stationId: nil, permissions: [], expiresAt: .distantFuture)
            return try await next(request, context)
        case .setUp, .spent:
            await auditor.refused(action: "setup.unauthorized", target: target, detail: "setup code used after setup", actor: actor)
            throw APIError(.unauthorized, "setup_done",
                           "This store is already set up, so the setup code no longer works. Open the dashboard from the POS to sign in.",
                           headers: [.wwwAuthenticate: "Bearer"])
        }
    }

    /// The code from `X-Setup-Code` (present but empty counts: a wrong code) or `Authorization: Setup <code>`;
    /// nil when neither is there. A code given is always checked, even beside a bearer token.
    static func code(in request: Request) -> String? {
        if let code = request.headers[HTTPField.Name("X-Setup-Code")!] { return code }
        guard let header = request.headers[.authorization] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.first?.lowercased() == "setup" else { return nil }
        return parts.count == 2 ? String(parts[1]) : ""
    }
}
