import BackupCore
import Foundation
import Testing

@Suite("Config file")
struct ServiceConfigTests {
    @Test("Keys are read, and relative paths resolve against the config file's folder")
    func parse() throws {
        let config = try ServiceConfig.parse("""
            [store]
            pos_db = "pos.db"
            uploads = "/srv/pos/uploads"
            config_files = ["config/pos.toml", "/etc/pos/printers.json"]

            [service]
            data_dir = "/var/lib/caps-backup-test"
            listen = "0.0.0.0:9090"

            [auth]
            jwt_secret = "s3cret"
            """, relativeTo: URL(fileURLWithPath: "/srv/pos"))
        #expect(config.posDatabase?.path == "/srv/pos/pos.db")
        #expect(config.uploads?.path == "/srv/pos/uploads")
        #expect(config.configFiles.map(\.path) == ["/srv/pos/config/pos.toml", "/etc/pos/printers.json"])
        #expect(config.dataDirectory.path == "/var/lib/caps-backup-test")
        #expect(config.listen == "0.0.0.0:9090")
        #expect(config.jwtSecret == "s3cret")
    }

    @Test("The [service] security settings: public host names, trusted proxies, idle timeout, connection cap")
    func securitySettings() throws {
        let config = try ServiceConfig.parse("""
            [service]
            public_hosts = ["backup.store.lan", "backup.store.lan:8443"]
            trusted_proxies = ["127.0.0.1", "::1"]
            idle_timeout_seconds = 30
            max_connections = 200
            """, relativeTo: URL(fileURLWithPath: "/"))
        #expect(config.publicHosts == ["backup.store.lan", "backup.store.lan:8443"])
        #expect(config.trustedProxies == ["127.0.0.1", "::1"])
        #expect(config.idleTimeoutSeconds == 30)
        #expect(config.maxConnections == 200)
        let defaults = try ServiceConfig.parse("", relativeTo: URL(fileURLWithPath: "/"))
        #expect(defaults.publicHosts.isEmpty && defaults.trustedProxies.isEmpty)
        #expect(defaults.idleTimeoutSeconds == nil && defaults.maxConnections == nil)
        for bad in ["[service]\nidle_timeout_seconds = 0", "[service]\nmax_connections = -1", "[service]\npublic_hosts = \"one\""] {
            #expect(throws: BackupError.self, "\(bad)") { _ = try ServiceConfig.parse(bad, relativeTo: URL(fileURLWithPath: "/")) }
        }
    }

    @Test("An empty file gives the defaults")
    func defaults() throws {
        let config = try ServiceConfig.parse("", relativeTo: URL(fileURLWithPath: "/"))
        #expect(config.posDatabase == nil)
        #expect(config.dataDirectory.path == ServiceConfig.defaultDataDirectory)
        #expect(config.listen == ServiceConfig.defaultListen)
        #expect(throws: BackupError.self) { _ = try config.requirePOSDatabase() }
    }

    @Test("Bad files are refused with a clear message", arguments: [
        ("[store]\npos_dbb = \"x\"", "unknown or mistyped"),
        ("[stor]\npos_db = \"x\"", "unknown or mistyped"),
        ("[store]\npos_db = 12", "unknown or mistyped"),
        ("[store\npos_db = \"x\"", "not valid TOML"),
    ])
    func refused(_ text: String, _ message: String) {
        let error = #expect(throws: BackupError.self) { _ = try ServiceConfig.parse(text, relativeTo: URL(fileURLWithPath: "/")) }
        #expect(error?.code == .configuration)
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
    }

    @Test("A missing config file is a configuration error naming the file")
    func missingFile() {
        let error = #expect(throws: BackupError.self) { _ = try ServiceConfig.load(URL(fileURLWithPath: "/nonexistent/caps.toml")) }
        #expect(error?.message.contains("/nonexistent/caps.toml") == true)
    }

    @Test("[google]: every key read; Google's endpoints, folder and chunk size by default")
    func google() throws {
        let config = try ServiceConfig.parse("""
            [google]
            client_id = "1234-abc.apps.googleusercontent.com"
            client_secret = "GOCSPX-secret"
            auth_endpoint = "http://127.0.0.1:9000/o/oauth2/v2/auth"
            token_endpoint = "http://127.0.0.1:9000/token"
            device_endpoint = "http://127.0.0.1:9000/device/code"
            revoke_endpoint = "http://127.0.0.1:9000/revoke"
            drive_api_base = "http://127.0.0.1:9000"
            folder = "Store backups"
            store_name = "store-12"
            chunk_mib = 0.75
            """, relativeTo: URL(fileURLWithPath: "/"))
        let google = config.google
        #expect(google.clientId == "1234-abc.apps.googleusercontent.com")
        #expect(google.clientSecret == "GOCSPX-secret")
        #expect(google.authEndpoint.absoluteString == "http://127.0.0.1:9000/o/oauth2/v2/auth")
        #expect(google.tokenEndpoint.absoluteString == "http://127.0.0.1:9000/token")
        #expect(google.deviceEndpoint.absoluteString == "http://127.0.0.1:9000/device/code")
        #expect(google.revokeEndpoint.absoluteString == "http://127.0.0.1:9000/revoke")
        #expect(google.driveAPIBase.absoluteString == "http://127.0.0.1:9000")
        #expect(google.folder == "Store backups")
        #expect(google.storeName == "store-12")
        #expect(google.chunkBytes == 768 * 1024)

        let integer = try ServiceConfig.parse("[google]\nchunk_mib = 16", relativeTo: URL(fileURLWithPath: "/")).google
        #expect(integer.chunkBytes == 16 << 20)
        let defaults = try ServiceConfig.parse("", relativeTo: URL(fileURLWithPath: "/")).google
        #expect(defaults.tokenEndpoint.absoluteString == "https://oauth2.googleapis.com/token")
        #expect(defaults.deviceEndpoint.absoluteString == "https://oauth2.googleapis.com/device/code")
        #expect(defaults.authEndpoint.absoluteString == "https://accounts.google.com/o/oauth2/v2/auth")
        #expect(defaults.folder == "CAPS Backups")
        #expect(defaults.chunkBytes == 8 << 20)
        #expect(defaults.clientId == nil)
    }

    @Test("[google]: bad values are refused, naming the key", arguments: [
        ("chunk_mib = 0.3", "chunk_mib must be a multiple of 0.25"),
        ("chunk_mib = 0", "chunk_mib must be a multiple of 0.25"),
        ("chunk_mib = -1", "chunk_mib must be a multiple of 0.25"),
        ("token_endpoint = \"ftp://example.com/token\"", "token_endpoint must be an http or https URL"),
        ("drive_api_base = \"not a url\"", "drive_api_base must be an http or https URL"),
        ("folder = \"a/b\"", "folder must be a folder name"),
        ("store_name = \"\"", "store_name must be a name"),
        ("client_idd = \"x\"", "unknown or mistyped"),
        ("chunk_mib = \"8\"", "unknown or mistyped"),
    ])
    func googleRefused(_ line: String, _ message: String) {
        let error = #expect(throws: BackupError.self) { _ = try ServiceConfig.parse("[google]\n" + line, relativeTo: URL(fileURLWithPath: "/")) }
        #expect(error?.code == .configuration)
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
    }
}
