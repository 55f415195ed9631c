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

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let target = "\(request.method) \(request.uri.path.prefix(200))"
        func unauthorized(_ message: String, tokenError: Bool = false) async -> APIError {
            await auditor.refused(action: "auth.unauthorized", target: target, detail: message,
                                  actor: BackupContext.Actor(userId: nil, stationId: nil, client: context.clientAddress))
            return Self.unauthorized(message, tokenError: tokenError)
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

    static func unauthorized(_ message: String, tokenError: Bool = false) -> APIError {
        APIError(.unauthorized, "unauthorized", message,
                 headers: [.wwwAuthenticate: tokenError ? "Bearer error=\"invalid_token\"" : "Bearer"])
    }
}
