import BackupCore
import Foundation
import Hummingbird
import HummingbirdTesting
@testable import Server
import Testing

/// The dashboard's files as `caps-backup serve` sends them: index.html at / and at the dashboard's own
/// paths, hashed assets with long caching, a strict CSP on every page, and API misses still JSON.
@Suite("Dashboard serving: the bundle at /, with its CSP, cache headers and fallbacks")
struct DashboardServingTests {
    /// A built dashboard in a temporary folder, as `make web` writes it.
    static func builtDashboard(_ dir: TemporaryDirectory) throws -> DashboardAssets {
        let root = dir.path("web")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("assets"), withIntermediateDirectories: true)
        try Data("<!doctype html><title>caps-backup</title><script src=\"/assets/app.abc.js\"></script>".utf8)
            .write(to: root.appendingPathComponent("index.html"))
        try Data("console.log(1)".utf8).write(to: root.appendingPathComponent("assets/app.abc.js"))
        try Data("body{}".utf8).write(to: root.appendingPathComponent("assets/app.abc.css"))
        try Data("secret".utf8).write(to: root.appendingPathComponent("assets/notes.txt"))
        return DashboardAssets(directory: root)
    }

    static func application(_ assets: DashboardAssets) -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: ErrorMiddleware(routes: Locked(RouteTable([("/api/v1/overview", "GET")]))))
        router.add(middleware: DashboardMiddleware(assets: assets))
        router.get("/api/v1/overview") { _, _ in "{}" }
        return Application(router: router)
    }

    @Test func indexAssetsAndFallbacks() async throws {
        let dir = TemporaryDirectory()
        let app = Self.application(try Self.builtDashboard(dir))
        try await app.test(.router) { client in
            for path in ["/", "/index.html", "/backups", "/settings/drive"] {
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .ok, "\(path)")
                    #expect(response.headers[.contentType] == "text/html; charset=utf-8", "\(path)")
                    #expect(response.headers[.cacheControl] == "no-cache", "\(path)")
                    let csp = response.headers[.contentSecurityPolicy] ?? ""
                    #expect(csp.contains("default-src 'none'") && csp.contains("script-src 'self'") && !csp.contains("unsafe"), "\(path)")
                    #expect(String(buffer: response.body).contains("/assets/app.abc.js"))
                }
            }
            try await client.execute(uri: "/assets/app.abc.js", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/javascript; charset=utf-8")
                #expect(response.headers[.cacheControl] == "public, max-age=31536000, immutable")
                #expect(String(buffer: response.body) == "console.log(1)")
            }
            try await client.execute(uri: "/assets/app.abc.css", method: .get) { response in
                #expect(response.headers[.contentType] == "text/css; charset=utf-8")
            }
            // A file of a type the dashboard does not use is not served, nor is a missing asset the page.
            for path in ["/assets/notes.txt", "/assets/app.old.js"] {
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .notFound, "\(path)")
                    #expect(response.headers[.contentType] == "application/json", "\(path)")
                }
            }
            // The API keeps its JSON 404s and its routes.
            try await client.execute(uri: "/api/v1/nothing-here", method: .get) { response in
                #expect(response.status == .notFound && response.headers[.contentType] == "application/json")
            }
            try await client.execute(uri: "/api/v1/overview", method: .get) { response in
                #expect(response.status == .ok && String(buffer: response.body) == "{}")
            }
            // Only GET and HEAD reach the page.
            try await client.execute(uri: "/backups", method: .post) { response in
                #expect(response.status == .notFound && response.headers[.contentType] == "application/json")
            }
            try await client.execute(uri: "/", method: .head) { response in
                #expect(response.status == .ok && response.body.readableBytes == 0)
            }
        }
    }

    @Test func anUnbuiltDashboardSaysHowToBuildIt() async throws {
        let dir = TemporaryDirectory()
        let app = Self.application(DashboardAssets(directory: dir.path("missing")))
        try await app.test(.router) { client in
            try await client.execute(uri: "/", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(String(buffer: response.body).contains("make build"))
            }
        }
    }
}
