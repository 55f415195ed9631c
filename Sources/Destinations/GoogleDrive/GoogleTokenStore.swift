import BackupCore
import Crypto
import Foundation

/// Whether the service can reach the connected Drive.
public enum GoogleTokenState: String, Sendable, Codable {
    /// Connected: a refresh token Google accepted last time it was used.
    case ok
    /// Connected, but the access token has expired and Google could not be reached to refresh it.
    case expired
    /// Google refused the refresh token (`invalid_grant`): access was removed in the Google account, or the
    /// OAuth app is in "Testing" status and its 7 days ran out. Reconnect.
    case revoked
    case notConnected = "not connected"
}

/// The Drive connection on disk, in the data directory:
///
///     google-drive.key     32 random bytes, the AES-256-GCM key (0600)
///     google-drive.json    account email, connection time, state, and the refresh token sealed with that key (0600)
///
/// The refresh token never leaves this type in plain text except to the token endpoint (`refreshToken()`),
/// and never appears in a description, an error or an API answer.
public struct GoogleTokenStore: Sendable {
    public let keyFile: URL
    public let tokenFile: URL

    public init(dataDirectory: DataDirectory) {
        keyFile = dataDirectory.root.appendingPathComponent("google-drive.key")
        tokenFile = dataDirectory.root.appendingPathComponent("google-drive.json")
    }

    /// What is known about the connection without the secret.
    public struct Connection: Sendable, Codable, Equatable {
        public var account: String
        public var connectedAt: Date
        public var state: GoogleTokenState
        public var clientId: String?
    }

    private struct File: Codable {
        var account: String
        var connectedAt: Date
        var state: GoogleTokenState
        var clientId: String?
        /// AES-GCM's combined form (nonce, ciphertext, tag), base64.
        var sealedRefreshToken: String

        enum CodingKeys: String, CodingKey {
            case account, connectedAt = "connected_at", state, clientId = "client_id", sealedRefreshToken = "sealed_refresh_token"
        }
    }

    /// Binds each sealed token to its purpose: a sealed value copied from elsewhere does not open here.
    private static let associatedData = Data("caps-backup google-drive refresh token v1".utf8)

    public var connection: Connection? {
        get throws {
            guard let file = try read() else { return nil }
            return Connection(account: file.account, connectedAt: file.connectedAt, state: file.state, clientId: file.clientId)
        }
    }

    public var state: GoogleTokenState { ((try? connection) ?? nil)?.state ?? .notConnected }

    /// Saves a new connection (replacing any earlier one).
    public func save(refreshToken: String, account: String, clientId: String?, at now: Date) throws {
        let key = try loadOrCreateKey()
        let sealed: Data
        do {
            sealed = try AES.GCM.seal(Data(refreshToken.utf8), using: key, authenticating: Self.associatedData).combined!
        } catch {
            throw BackupError(.io, "The Google Drive connection could not be saved.", detail: "AES-GCM seal: \(type(of: error))")
        }
        try write(File(account: account, connectedAt: now, state: .ok, clientId: clientId, sealedRefreshToken: sealed.base64EncodedString()))
    }

    /// The refresh token, for the token endpoint only.
    func refreshToken() throws -> String? {
        guard let file = try read() else { return nil }
        let key = try loadOrCreateKey()
        do {
            guard let combined = Data(base64Encoded: file.sealedRefreshToken) else { throw CocoaError(.coderReadCorrupt) }
            let opened = try AES.GCM.open(try AES.GCM.SealedBox(combined: combined), using: key, authenticating: Self.associatedData)
            return String(decoding: opened, as: UTF8.self)
        } catch {
            throw BackupError(.io, "The saved Google Drive connection cannot be read (its key file does not match). Reconnect Google Drive.",
                              detail: "\(tokenFile.path): \(type(of: error))")
        }
    }

    public func markState(_ state: GoogleTokenState) throws {
        guard var file = try read(), file.state != state else { return }
        file.state = state
        try write(file)
    }

    /// Deletes the connection; the key goes too, so no copy of the token file can be opened again.
    public func delete() throws {
        for url in [tokenFile, keyFile] where POSIXFile.exists(url) { try FileManager.default.removeItem(at: url) }
    }

    // MARK: Files

    private func read() throws -> File? {
        guard POSIXFile.exists(tokenFile) else { return nil }
        do {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .secondsSince1970
            return try decoder.decode(File.self, from: Data(contentsOf: tokenFile))
        } catch {
            throw BackupError(.io, "The saved Google Drive connection (\(tokenFile.lastPathComponent)) is damaged. Reconnect Google Drive.",
                              detail: "\(type(of: error))")
        }
    }

    private func write(_ file: File) throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        encoder.outputFormatting = [.sortedKeys]
        try Self.writePrivate(try encoder.encode(file), to: tokenFile)
    }

    private func loadOrCreateKey() throws -> SymmetricKey {
        if POSIXFile.exists(keyFile) {
            let bytes = try Data(contentsOf: keyFile)
            guard bytes.count == 32 else {
                throw BackupError(.io, "The Google Drive key file \(keyFile.path) is damaged. Reconnect Google Drive.", detail: "\(bytes.count) bytes")
            }
            return SymmetricKey(data: bytes)
        }
        let key = SymmetricKey(size: .bits256)
        try Self.writePrivate(key.withUnsafeBytes { Data($0) }, to: keyFile)
        return key
    }

    /// Written beside the target (0600 from its first byte), synced, then renamed over it.
    static func writePrivate(_ data: Data, to url: URL) throws {
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString.prefix(8))")
        let fd = try POSIXFile.createPrivate(temporary)
        do {
            try data.withUnsafeBytes { try POSIXFile.writeAll(fd, $0) }
            try POSIXFile.fsyncFile(fd)
        } catch {
            close(fd)
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
        close(fd)
        do { try POSIXFile.rename(temporary, to: url) } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }
}
