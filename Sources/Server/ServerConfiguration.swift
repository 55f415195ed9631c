import BackupCore
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
    /// Adds the login page that mints tokens for the demo users `admin` and `cashier`.
    public var demo = false
    /// The largest archive accepted by the restore upload.
    public var maxUploadBytes: Int64 = 64 << 30
    /// Who may read /metrics.
    public var metrics: MetricsExposure = .loopback
    /// Clock for token expiry (tests move it).
    public var now: @Sendable () -> Date = { Date() }

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

    /// A random secret for demo mode when none is configured (printed, so tokens can be made by hand).
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
