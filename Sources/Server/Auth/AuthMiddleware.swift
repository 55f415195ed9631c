import BackupCore
import Hummingbird

/// Every /api/v1 route but the OpenAPI document: a valid POS token (401 otherwise) carrying
/// MANAGE_SETTINGS (403 otherwise). Refusals are logged and audited (`auth.unauthorized`,
/// `auth.forbidden`), at most one row a minute per client address and kind (`Auditor.refused`).
struct AuthMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    let verifier: JWTVerifier
    let requiredPermission: String
    let auditor: Auditor
    /// Single-use download links: GET /backups/{id}/download?ticket=… without a bearer header.
    var tickets: DownloadTickets?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let target = "\(request.method) \(request.uri.path.prefix(200))"
        func unauthorized(_ message: String, tokenError: Bool = false) async -> APIError {
            await auditor.refused(action: "auth.unauthorized", target: target, detail: message,
                                  actor: BackupContext.Actor(userId: nil, stationId: nil, client: context.clientAddress))
            return Self.unauthorized(message, tokenError: tokenError)
        }
        if request.headers[.authorization] == nil, let tickets, let ticket = request.uri.queryParameters["ticket"],
           let backupId = Self.downloadedBackup(request) {
            return try await redeem(String(ticket), backupId: backupId, tickets: tickets, request: request, context: context, next: next)
        }
        guard let header = request.headers[.authorization] else {
            throw await unauthorized("Sign in first: this request needs a bearer token from the POS.")
        }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw await unauthorized("The Authorization header must be: Bearer <token>.")
        }
        let identity: Identity
        do {
            identity = try verifier.verify(String(parts[1]).trimmingCharacters(in: .whitespaces))
        } catch {
            context.logger.notice("token refused", metadata: ["reason": "\(error.reason)", "client": "\(context.clientAddress ?? "-")"])
            throw await unauthorized(error.reason + " Sign in again.", tokenError: true)
        }
        guard identity.permissions.contains(requiredPermission) else {
            context.logger.notice("permission refused", metadata: [
                "user": "\(identity.userId)", "station": "\(identity.stationId ?? "-")", "path": "\(request.uri.path)",
            ])
            let message = "User \(identity.userId) may not manage backups: the \(requiredPermission) permission is required."
            await auditor.refused(action: "auth.forbidden", target: target, detail: message, actor: identity.actor(client: context.clientAddress))
            throw APIError(.forbidden, "forbidden", message)
        }
        var context = context
        context.identity = identity
        return try await next(request, context)
    }

    /// The ticket stands in for the token of the user who asked for it (their download is audited as theirs).
    private func redeem(_ ticket: String, backupId: Int64, tickets: DownloadTickets, request: Request, context: Context,
                        next: (Request, Context) async throws -> Response) async throws -> Response {
        let target = "\(request.method) \(request.uri.path.prefix(200))"  // the path only: the ticket is in the query
        let anonymous = BackupContext.Actor(userId: nil, stationId: nil, client: context.clientAddress)
        let identity: Identity
        do {
            identity = try tickets.redeem(ticket, backupId: backupId)
        } catch DownloadTickets.Refusal.invalid {
            let message = "This download link has expired or was already used (links work once, for \(Int(DownloadTickets.lifetime)) seconds). Start the download again from the dashboard."
            await auditor.refused(action: "auth.unauthorized", target: target, detail: "download ticket refused: unknown, used or expired", actor: anonymous)
            throw APIError(.unauthorized, "ticket_invalid", message, headers: [.wwwAuthenticate: "Bearer"])
        } catch {
            await auditor.refused(action: "auth.forbidden", target: target, detail: "download ticket of another backup", actor: anonymous)
            throw APIError(.forbidden, "ticket_wrong_backup", "This download link is for another backup. Start the download again from the dashboard.")
        }
        var context = context
        context.identity = identity
        return try await next(request, context)
    }

    /// The backup of GET /api/v1/backups/{id}/download, the one route a ticket opens.
    static func downloadedBackup(_ request: Request) -> Int64? {
        guard request.method == .get else { return nil }
        let parts = request.uri.path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0].isEmpty, parts[1] == "api", parts[2] == "v1", parts[3] == "backups", parts[5] == "download",
              let id = Int64(parts[4]), id > 0 else { return nil }
        return id
    }

    static func unauthorized(_ message: String, tokenError: Bool = false) -> APIError {
        APIError(.unauthorized, "unauthorized", message,
                 headers: [.wwwAuthenticate: tokenError ? "Bearer error=\"invalid_token\"" : "Bearer"])
    }
}
