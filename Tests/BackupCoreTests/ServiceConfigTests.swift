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
}
