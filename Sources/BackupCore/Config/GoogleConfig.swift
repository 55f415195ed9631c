import Foundation

/// The `[google]` section of the config file: the store's own OAuth client (Desktop type) and where its
/// copies go. Google's endpoints are the defaults; tests and private deployments point elsewhere.
///
///     [google]
///     client_id = "1234-abc.apps.googleusercontent.com"
///     client_secret = "GOCSPX-…"
///     folder = "CAPS Backups"          # <folder>/<store_name>/{db,files,full}/
///     store_name = "store-12"          # default: the host name
///     chunk_mib = 8                    # a multiple of 0.25 (Drive's 256 KiB)
public struct GoogleConfig: Sendable, Equatable {
    public var clientId: String?
    public var clientSecret: String?
    public var authEndpoint = URL(string: "https://accounts.google.com/o/oauth2/v2/auth")!
    public var tokenEndpoint = URL(string: "https://oauth2.googleapis.com/token")!
    public var deviceEndpoint = URL(string: "https://oauth2.googleapis.com/device/code")!
    public var revokeEndpoint = URL(string: "https://oauth2.googleapis.com/revoke")!
    /// Serves both `/drive/v3` and `/upload/drive/v3`.
    public var driveAPIBase = URL(string: "https://www.googleapis.com")!
    public var folder = "CAPS Backups"
    public var storeName: String?
    public var chunkMiB: Double = 8

    /// The only scope asked for: files this app created, nothing else of the account's Drive.
    public static let scope = "https://www.googleapis.com/auth/drive.file"

    public init() {}

    /// Chunks are a multiple of 256 KiB, as Drive's resumable protocol requires.
    public var chunkBytes: Int { Int(chunkMiB * 4) * 256 * 1024 }
}
