import BackupCore
import Destinations
@preconcurrency import Crypto
import Foundation

/// How `caps-backup serve` runs: the listen address and everything the routes need to know
/// besides the store (which is `BackupContext`'s).
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// `[auth] jwt_secret` or `CAPS_JWT_SECRET`: the HS256 secret shared with the POS.
    public var jwtSecret: String?
    /// The POS's Ed25519 public key, when it signs its tokens with EdDSA.
    public var jwtPublicKey: Curve25519.Signing.PublicKey?
    /// Adds the login page that mints tokens for the demo users `admin` and `cashier`. Demo mode
    /// signs and accepts only tokens of a fresh random secret of its own (the configured secret and
    /// public key are ignored), and listens on loopback only unless `demoAllowRemote`.
    public var demo = false
    /// `serve --demo --demo-allow-remote`: let demo mode listen on a non-loopback address.
    public var demoAllowRemote = false
    /// The largest archive accepted by the restore upload (`--max-upload-mb`); nil: half the free
    /// space of the data directory's disk at the time of the upload (see `ArchiveReceiver`).
    public var maxUploadBytes: Int64?
    /// `[service] public_hosts`, `--public-host`: names a request's `Host` may carry besides the
    /// listen address, `localhost`, `127.0.0.1` and `[::1]` (the reverse proxy's public name).
    public var publicHosts: [String] = []
    /// `[service] trusted_proxies`, `--trusted-proxy`: peers whose `X-Forwarded-For` is believed.
    public var trustedProxies: [String] = []
    /// A connection with no request in progress for this long is closed (`[service] idle_timeout_seconds`).
    public var idleTimeout: Duration = .seconds(60)
    /// Open connections at most (`[service] max_connections`); nil: from the open-files limit.
    public var maxConnections: Int?
    /// Who may read /metrics.
    public var metrics: MetricsExposure = .loopback
    /// Clock for token expiry (tests move it).
    public var now: @Sendable () -> Date = { Date() }
    /// The config file's `[google]` section: the store's OAuth client, for the Drive routes.
    public var google = GoogleConfig()
    /// The store's name, for the setup wizard and the Drive folder: `[google] store_name`, else the host name.
    public var storeName: String { google.storeName ?? ProcessInfo.processInfo.hostName }
    /// How the device flow of `POST /api/v1/drive/connect` waits between polls (tests move a clock instead).
    public var driveSleep: @Sendable (Double) async throws -> Void = { try await Task.sleep(for: .seconds($0)) }
    /// The Drive destination over a session's access tokens (retries included), for the background uploads;
    /// nil: no uploads in this process.
    public var driveDestination: (@Sendable (any GoogleAccessTokens) -> any Destination)?

    public init() {}

    /// Parses `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (all interfaces).
    public mutating func setListen(_ text: String) throws {
        let host: Substring, port: Substring
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw Self.badListen(text) }
            port = rest.dropFirst()
        } else if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        } else {
            throw Self.badListen(text)
        }
        guard let number = Int(port), (0...65535).contains(number), !host.contains(":") || text.hasPrefix("[") else { throw Self.badListen(text) }
        self.host = host.isEmpty ? "0.0.0.0" : String(host)
        self.port = number
    }

    private static func badListen(_ text: String) -> BackupError {
        BackupError(.configuration, "The listen address \(text) is not HOST:PORT (for example 127.0.0.1:8080).")
    }

    /// `CAPS_JWT_ED25519_PUBLIC_KEY`: the POS's Ed25519 public key, 32 raw bytes in base64.
    public mutating func setJWTPublicKey(base64 text: String) throws {
        guard let raw = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)),
              let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else {
            throw BackupError(.configuration, "The Ed25519 public key is not 32 bytes in base64.")
        }
        jwtPublicKey = key
    }

    /// The secret of `deploy/caps-backup.toml.example`, refused as a real one.
    public static let placeholderSecret = "replace with the POS's secret"
    public static let minimumSecretBytes = 32

    /// Refuses a secret a forger could guess: shorter than 32 bytes, or the example file's placeholder.
    public static func checkSecret(_ secret: String?) throws {
        guard let secret else { return }
        if secret.trimmingCharacters(in: .whitespaces).lowercased() == placeholderSecret.lowercased() {
            throw BackupError(.configuration,
                              "The JWT secret is still the example file's placeholder: set [auth] jwt_secret (or CAPS_JWT_SECRET) to the secret the POS signs its tokens with.")
        }
        guard secret.utf8.count >= minimumSecretBytes else {
            throw BackupError(.configuration,
                              "The JWT secret is \(secret.utf8.count) bytes; at least \(minimumSecretBytes) are required (a short secret can be guessed, and with it anyone can forge tokens). Give the POS and caps-backup a long random secret, e.g. from `openssl rand -hex 32`.")
        }
    }

    /// True for addresses only this machine can reach: `localhost`, 127.0.0.0/8 and `::1`.
    public static func isLoopback(host: String) -> Bool {
        let host = host.lowercased()
        if host == "localhost" { return true }
        if let address = IPAddress(host) { return address.isLoopback }
        return false
    }

    /// The connection cap when none is configured: half of what the open-files limit leaves after
    /// 256 descriptors for the jobs (the POS database and its WAL, the catalog, archives, reader
    /// threads), between 16 and 1024.
    public static func defaultMaxConnections(openFilesLimit: UInt64? = currentOpenFilesLimit()) -> Int {
        guard let limit = openFilesLimit, limit < UInt64(Int.max) else { return 1024 }
        return max(16, min(1024, (Int(limit) - 256) / 2))
    }

    public static func currentOpenFilesLimit() -> UInt64? {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else { return nil }
        return UInt64(limit.rlim_cur)
    }

    /// A random secret for demo mode (printed, so tokens can be made by hand).
    public static func randomSecret() -> String {
        SymmetricKey(size: .bits256).withUnsafeBytes { bytes in bytes.map { String(format: "%02x", $0) }.joined() }
    }

    public var listenDescription: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// `/metrics` carries no backup data, only times, sizes and counts, but it says something about
/// the store; by default only a scraper on the same machine may read it.
public enum MetricsExposure: String, Sendable, CaseIterable {
    /// Only clients on the loopback interface (a local Prometheus or node exporter).
    case loopback
    /// Anyone who can reach the listen address.
    case everyone
    /// Not served.
    case off
}
