import BackupCore
import Foundation
import Hummingbird

/// Serves the dashboard: `/assets/…` (content-hashed, cached for a year), and `index.html` at `/` and at
/// every other GET path the router does not know outside `/api/` (the dashboard's own pages), so a reload
/// on `/backups` works. API misses stay JSON 404s. Not routes of the router: the route table lists the
/// API, and a catch-all route would make every path "known" to the 405 check.
///
/// Every page is sent with a strict Content-Security-Policy: scripts, styles and connections from this
/// server only, no inline script, no frames, no plugins; the bundle loads no CDN and no external font.
struct DashboardMiddleware<Context: RequestContext>: RouterMiddleware {
    let assets: DashboardAssets

    static var contentSecurityPolicy: String {
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            + "font-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method == .get || request.method == .head else { return try await next(request, context) }
        let path = request.uri.path
        if let asset = assets.assets[path] {
            return respond(asset.body, type: asset.contentType, cache: "public, max-age=31536000, immutable", head: request.method == .head)
        }
        if path == "/" || path == "/index.html" { return page(head: request.method == .head) }
        do {
            return try await next(request, context)
        } catch let miss as HTTPError where miss.status == .notFound && miss.body == nil && Self.isDashboardPath(path) {
            return page(head: request.method == .head)
        }
    }

    /// Paths the router's 404 may hand to the dashboard: not the API, not a missing asset.
    static func isDashboardPath(_ path: String) -> Bool {
        !(path == "/api" || path.hasPrefix("/api/") || path.hasPrefix("/assets/"))
    }

    private func page(head: Bool) -> Response {
        guard let index = assets.index else {
            return respond(ByteBuffer(string: DashboardAssets.notBuilt), type: "text/html; charset=utf-8", cache: "no-store", head: head, status: .serviceUnavailable)
        }
        // no-cache: revalidated on every load, so a new version's asset names are picked up at once.
        return respond(index, type: "text/html; charset=utf-8", cache: "no-cache", head: head)
    }

    private func respond(_ body: ByteBuffer, type: String, cache: String, head: Bool, status: HTTPResponse.Status = .ok) -> Response {
        var headers: HTTPFields = [.contentType: type, .cacheControl: cache, .contentLength: String(body.readableBytes)]
        headers[.contentSecurityPolicy] = Self.contentSecurityPolicy
        headers[.init("Referrer-Policy")!] = "no-referrer"
        headers[.init("X-Frame-Options")!] = "DENY"
        return Response(status: status, headers: headers, body: head ? .init() : .init(byteBuffer: body))
    }
}
