import BackupCore
import Foundation
import Hummingbird

/// Demo mode only (`serve --demo`): a login page standing in for the POS, minting tokens for two
/// demo users as the POS would, but signed with the demo's own random secret (never the POS's):
/// `admin` (MANAGE_SETTINGS) and `cashier` (no permissions, so the API answers 403).
/// Every token minted is audited (`demo.login`), and so are refusals (rate-limited).
struct DemoLoginRoutes {
    let services: APIServices
    static let lifetime: TimeInterval = 8 * 3600
    static let station = "demo-station"
    static let users: [String: [String]] = ["admin": [Permission.manageSettings], "cashier": []]

    func register(on router: Router<APIRequestContext>) {
        router.get("/login") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                     body: .init(byteBuffer: ByteBuffer(string: Self.page)))
        }
        router.post("/login") { request, context in
            let body = try await StrictJSON.decode(Login.self, from: request, shape: Login(user: "admin"))
            guard let permissions = Self.users[body.user], let secret = services.configuration.jwtSecret else {
                let message = "Unknown demo user \(body.user.prefix(100)); use admin or cashier."
                await services.auditor.refused(action: "demo.login", target: "user \(body.user.prefix(100))", detail: message,
                                               actor: BackupContext.Actor(userId: nil, stationId: nil, client: context.clientAddress))
                throw APIError(.unauthorized, "unauthorized", message)
            }
            let expires = services.configuration.now().addingTimeInterval(Self.lifetime)
            let token = JWTSigner(hs256Secret: secret).sign(userId: body.user, stationId: Self.station, permissions: permissions, expiresAt: expires)
            await services.auditor.write(action: "demo.login", target: "user \(body.user)", outcome: "succeeded",
                                         detail: "demo token with [\(permissions.joined(separator: ", "))] until \(Timestamp.iso8601(expires))",
                                         actor: BackupContext.Actor(userId: body.user, stationId: Self.station, client: context.clientAddress))
            return try JSON.response(Token(token: token, user: body.user, stationId: Self.station, permissions: permissions, expiresAt: expires))
        }
    }

    struct Login: Codable { var user: String }
    struct Token: Codable {
        var token: String
        var user: String
        var stationId: String
        var permissions: [String]
        var expiresAt: Date
    }

    /// The page hands the token to the dashboard as the POS does, in the address's fragment
    /// (`/#token=…`: never sent to a server, never in an access log); the dashboard moves it to
    /// sessionStorage and out of the address bar.
    static let page = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>caps-backup demo sign-in</title>
        <style>body{font:16px system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}
        button{font-size:1rem;padding:.5rem 1rem;margin-right:.5rem}</style></head>
        <body>
        <h1>caps-backup demo</h1>
        <p>In a store the POS signs users in and opens the dashboard. Here, pick a demo user:</p>
        <p><button data-user="admin">admin (MANAGE_SETTINGS)</button><button data-user="cashier">cashier (no permission)</button></p>
        <p id="who" role="status"></p>
        <p>For curl, <code>POST /login</code> with <code>{"user":"admin"}</code> answers the token as JSON.</p>
        <script>
        for (const b of document.querySelectorAll("button")) b.onclick = async () => {
          const r = await fetch("/login", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({user: b.dataset.user})});
          const j = await r.json();
          if (!r.ok) { document.getElementById("who").textContent = j.error.message; return; }
          location.assign("/#token=" + encodeURIComponent(j.token));
        };
        </script>
        </body></html>
        """
}
