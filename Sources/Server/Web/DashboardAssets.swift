import BackupCore
import Foundation
import Hummingbird

/// The dashboard's built files (`make web` writes them into `Resources/web/` from `web/src/`): `index.html`
/// and content-hashed `assets/…` files, read once at start-up (a few hundred KB) and served from memory.
struct DashboardAssets: Sendable {
    struct Asset: Sendable {
        let body: ByteBuffer
        let contentType: String
    }

    /// The page every dashboard path answers with; nil when the bundle was not built.
    let index: ByteBuffer?
    /// By URL path: `/assets/app.3f2a….js`.
    let assets: [String: Asset]

    static let directoryName = "web"

    /// - Parameter directory: the built dashboard; by default the Server resources' `web/` folder.
    init(directory: URL? = Self.defaultDirectory()) {
        guard let directory else {
            index = nil
            assets = [:]
            return
        }
        index = (try? Data(contentsOf: directory.appendingPathComponent("index.html"))).map { ByteBuffer(bytes: $0) }
        var assets: [String: Asset] = [:]
        let folder = directory.appendingPathComponent("assets")
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [] {
            guard let type = Self.contentTypes[URL(fileURLWithPath: name).pathExtension],
                  let data = try? Data(contentsOf: folder.appendingPathComponent(name)) else { continue }
            assets["/assets/\(name)"] = Asset(body: ByteBuffer(bytes: data), contentType: type)
        }
        self.assets = assets
    }

    static let contentTypes = [
        "js": "text/javascript; charset=utf-8",
        "css": "text/css; charset=utf-8",
        "svg": "image/svg+xml",
        "png": "image/png",
    ]

    /// Served at / by a binary built without `make web`.
    static let notBuilt = """
        <!doctype html><html lang="en"><head><meta charset="utf-8"><title>caps-backup</title></head><body>
        <h1>The dashboard is not built</h1><p>This caps-backup was built without its dashboard. Build it with
        <code>make build</code> (or <code>make release</code>), which bundles <code>web/</code> before <code>swift build</code>.
        The API at /api/v1 works meanwhile.</p></body></html>
        """

    static func defaultDirectory() -> URL? {
        ServerResources.url(directoryName, withExtension: nil)
    }
}

/// Where SwiftPM's resources of the Server target are: `caps-backup_Server.resources/` next to the
/// executable (an installation copies that folder with the binary, see deploy/), else the build's bundle.
enum ServerResources {
    static func url(_ name: String, withExtension ext: String?) -> URL? {
        let executable = (Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])).resolvingSymlinksInPath()
        let file = ext.map { "\(name).\($0)" } ?? name
        let besideExecutable = executable.deletingLastPathComponent().appendingPathComponent("caps-backup_Server.resources/\(file)")
        if FileManager.default.fileExists(atPath: besideExecutable.path) { return besideExecutable }
        return Bundle.module.url(forResource: name, withExtension: ext)
    }
}
