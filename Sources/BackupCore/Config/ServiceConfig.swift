import Foundation
import TOMLKit

/// Everything the service needs to know about the store it protects and where it keeps its state.
/// Read from a TOML file (`--config FILE`); command-line flags override the file.
///
///     [store]
///     pos_db = "/srv/pos/pos.db"
///     uploads = "/srv/pos/uploads"
///     config_files = ["/srv/pos/config/pos.toml"]
///     config_redact_keys = ["jwt_hs256_secret"]
///
///     [service]
///     data_dir = "/var/lib/caps-backup"
///     listen = "127.0.0.1:8080"
///     public_hosts = ["backup.store.lan"]    # names the reverse proxy forwards as Host
///     trusted_proxies = ["127.0.0.1"]        # peers whose X-Forwarded-For is believed
///     idle_timeout_seconds = 60
///     max_connections = 512                  # default: from the open-files limit
///
///     [auth]
///     jwt_secret = "…"
///
///     [google]                               # see GoogleConfig
///     client_id = "…"
///     client_secret = "…"
public struct ServiceConfig: Sendable, Equatable {
    public static let defaultDataDirectory = "/var/lib/caps-backup"
    public static let defaultListen = "127.0.0.1:8080"

    public var posDatabase: URL?
    public var uploads: URL?
    public var configFiles: [URL] = []
    /// Keys whose values are left out of the config files in every archive (see `ConfigRedaction`).
    public var configRedactKeys: [String] = []
    public var dataDirectory = URL(fileURLWithPath: ServiceConfig.defaultDataDirectory)
    public var listen = ServiceConfig.defaultListen
    /// Host names besides the listen address and loopback that requests may name (`Host`): the
    /// reverse proxy's public name. Empty: loopback and the listen address only.
    public var publicHosts: [String] = []
    /// Peer addresses whose `X-Forwarded-For` names the real client (the reverse proxy's).
    public var trustedProxies: [String] = []
    public var idleTimeoutSeconds: Int?
    public var maxConnections: Int?
    public var jwtSecret: String?
    /// The store's own OAuth client and where its Drive copies go.
    public var google = GoogleConfig()

    public init() {}

    /// Parses a config file. Unknown keys are an error: a misspelt key silently ignored would
    /// leave a store unprotected.
    public static func load(_ url: URL) throws -> ServiceConfig {
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw BackupError(.configuration, "The config file \(url.path) could not be read.", detail: "\(error)")
        }
        return try parse(text, relativeTo: url.deletingLastPathComponent())
    }

    public static func parse(_ text: String, relativeTo base: URL) throws -> ServiceConfig {
        let file: ConfigFile
        do {
            file = try TOMLDecoder(strictDecoding: true).decode(ConfigFile.self, from: text)
        } catch let error as TOMLParseError {
            throw BackupError(.configuration, "The config file is not valid TOML: \(error.description) at \(error.source.begin).")
        } catch {
            throw BackupError(.configuration, "The config file has an unknown or mistyped setting.", detail: "\(error)")
        }
        func path(_ p: String) -> URL {
            p.hasPrefix("/") ? URL(fileURLWithPath: p) : base.appendingPathComponent(p).standardizedFileURL
        }
        var config = ServiceConfig()
        config.posDatabase = file.store?.posDb.map(path)
        config.uploads = file.store?.uploads.map(path)
        config.configFiles = (file.store?.configFiles ?? []).map(path)
        config.configRedactKeys = file.store?.configRedactKeys ?? []
        try config.checkRedactKeys()
        if let dir = file.service?.dataDir { config.dataDirectory = path(dir) }
        if let listen = file.service?.listen { config.listen = listen }
        config.publicHosts = file.service?.publicHosts ?? []
        config.trustedProxies = file.service?.trustedProxies ?? []
        if let seconds = file.service?.idleTimeoutSeconds {
            guard seconds > 0, seconds <= 86_400 else {
                throw BackupError(.configuration, "[service] idle_timeout_seconds must be between 0 and 86400 seconds (it is \(seconds)).")
            }
            config.idleTimeoutSeconds = seconds
        }
        if let connections = file.service?.maxConnections {
            guard connections > 0 else { throw BackupError(.configuration, "[service] max_connections must be positive (it is \(connections)).") }
            config.maxConnections = connections
        }
        config.jwtSecret = file.auth?.jwtSecret
        if let google = file.google { config.google = try google.resolve() }
        return config
    }

    /// Each key in `configRedactKeys` must be a plain name, as a TOML bare key or a JSON member name is.
    public func checkRedactKeys() throws {
        if let bad = configRedactKeys.first(where: { !ConfigRedaction.isValidKey($0) }) {
            throw BackupError(.configuration, "config_redact_keys holds \(bad.debugDescription), which is not a key name (letters, digits, _ and - only).")
        }
    }

    /// The POS database, or a clear error when neither the file nor the flags name it.
    public func requirePOSDatabase() throws -> URL {
        guard let posDatabase else {
            throw BackupError(.configuration, "No POS database is configured.", remedy: .configurePOSDatabase)
        }
        return posDatabase
    }
}

private struct ConfigFile: Decodable {
    var store: Store?
    var service: Service?
    var auth: Auth?
    var google: Google?

    struct Store: Decodable {
        var posDb: String?
        var uploads: String?
        var configFiles: [String]?
        var configRedactKeys: [String]?
        enum CodingKeys: String, CodingKey {
            case posDb = "pos_db", uploads, configFiles = "config_files", configRedactKeys = "config_redact_keys"
        }
    }

    struct Service: Decodable {
        var dataDir: String?
        var listen: String?
        var publicHosts: [String]?
        var trustedProxies: [String]?
        var idleTimeoutSeconds: Int?
        var maxConnections: Int?
        enum CodingKeys: String, CodingKey {
            case dataDir = "data_dir", listen, publicHosts = "public_hosts", trustedProxies = "trusted_proxies"
            case idleTimeoutSeconds = "idle_timeout_seconds", maxConnections = "max_connections"
        }
    }

    struct Auth: Decodable {
        var jwtSecret: String?
        enum CodingKeys: String, CodingKey {
            case jwtSecret = "jwt_secret"
        }
    }

    struct Google: Decodable {
        var clientId: String?
        var clientSecret: String?
        var authEndpoint: String?
        var tokenEndpoint: String?
        var deviceEndpoint: String?
        var revokeEndpoint: String?
        var driveApiBase: String?
        var folder: String?
        var storeName: String?
        var chunkMib: Number?
        enum CodingKeys: String, CodingKey {
            case clientId = "client_id", clientSecret = "client_secret", authEndpoint = "auth_endpoint", tokenEndpoint = "token_endpoint"
            case deviceEndpoint = "device_endpoint", revokeEndpoint = "revoke_endpoint", driveApiBase = "drive_api_base", folder
            case storeName = "store_name", chunkMib = "chunk_mib"
        }

        /// TOML tells integers (8) from floats (0.5); either is a number of MiB.
        struct Number: Decodable {
            var value: Double
            init(from decoder: any Decoder) throws {
                let container = try decoder.singleValueContainer()
                if let integer = try? container.decode(Int.self) { value = Double(integer) } else { value = try container.decode(Double.self) }
            }
        }

        func resolve() throws -> GoogleConfig {
            var google = GoogleConfig()
            google.clientId = clientId
            google.clientSecret = clientSecret
            func endpoint(_ text: String?, _ key: String) throws -> URL? {
                guard let text else { return nil }
                guard let url = URL(string: text), ["https", "http"].contains(url.scheme?.lowercased() ?? ""), url.host?.isEmpty == false else {
                    throw BackupError(.configuration, "[google] \(key) must be an http or https URL (it is \(text.debugDescription)).")
                }
                return url
            }
            if let url = try endpoint(authEndpoint, "auth_endpoint") { google.authEndpoint = url }
            if let url = try endpoint(tokenEndpoint, "token_endpoint") { google.tokenEndpoint = url }
            if let url = try endpoint(deviceEndpoint, "device_endpoint") { google.deviceEndpoint = url }
            if let url = try endpoint(revokeEndpoint, "revoke_endpoint") { google.revokeEndpoint = url }
            if let url = try endpoint(driveApiBase, "drive_api_base") { google.driveAPIBase = url }
            if let folder {
                let trimmed = folder.trimmingCharacters(in: .whitespaces)
                guard !trimmed.isEmpty, !trimmed.contains("/") else {
                    throw BackupError(.configuration, "[google] folder must be a folder name without / (it is \(folder.debugDescription)).")
                }
                google.folder = trimmed
            }
            if let storeName {
                let trimmed = storeName.trimmingCharacters(in: .whitespaces)
                guard !trimmed.isEmpty, !trimmed.contains("/"), trimmed.utf8.count <= 64 else {
                    throw BackupError(.configuration, "[google] store_name must be a name of 1 to 64 bytes without / (it is \(storeName.debugDescription)).")
                }
                google.storeName = trimmed
            }
            if let chunk = chunkMib?.value {
                // Drive takes resumable chunks in multiples of 256 KiB.
                guard chunk > 0, chunk <= 1024, (chunk * 4).rounded() == chunk * 4 else {
                    throw BackupError(.configuration, "[google] chunk_mib must be a multiple of 0.25 between 0.25 and 1024 (it is \(chunk)): Drive takes chunks in steps of 256 KiB.")
                }
                google.chunkMiB = chunk
            }
            return google
        }
    }
}
