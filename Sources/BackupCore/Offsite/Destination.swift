import Foundation

/// Somewhere off this server that archives are copied to: Google Drive, an S3 bucket, another disk.
///
/// The contract every backend meets (and `Tests/DestinationsTests` checks for each, as restic's backend
/// test suite and Litestream's replica-client tests do):
/// - `put` uploads a whole file under a name. It is resumable: it reports a session through `onSession`
///   as soon as it has one, and a later `put` of the same request passed that session continues from
///   what the destination holds, never from what the caller assumes was sent. A cancelled or failed
///   `put` leaves no object behind that `list` or `stat` would show.
/// - Names are `folder/file` paths; a destination may keep several objects under one name (Drive does):
///   callers match objects by `id` and `metadata`, never by name alone.
/// - `get` reads an object, or a byte range of it, into a sink, in order.
/// - `delete` of an object that is already gone succeeds.
/// - `stat` is nil for an object that does not exist.
/// - Errors are `DestinationError`, whose `kind` says whether trying again can help.
/// Retries and backoff are not a backend's business: `RetryingDestination` wraps any of them.
public protocol Destination: Sendable {
    /// The name the catalog knows it by (`backup_dest_object.destination`).
    var name: String { get }
    func put(_ request: UploadRequest, resuming session: String?, onSession: @escaping @Sendable (String) -> Void,
             progress: @escaping @Sendable (_ bytesStored: UInt64) -> Void) async throws -> RemoteObject
    func list(prefix: String) async throws -> [RemoteObject]
    func get(_ id: String, range: Range<UInt64>?, into sink: @escaping @Sendable ([UInt8]) throws -> Void) async throws
    func delete(_ id: String) async throws
    func stat(_ id: String) async throws -> RemoteObject?
}

/// What to upload: a file, the name to keep it under, and what to label it with.
public struct UploadRequest: Sendable, Equatable {
    public var name: String
    public var file: URL
    public var size: UInt64
    /// Small labels kept with the object (backup id, kind, SHA-256, store), for reconciling remote objects
    /// with the catalog. Drive limits each key plus value to 124 bytes.
    public var metadata: [String: String]
    /// The file's SHA-256 as the catalog recorded it at publication, when known. A destination that reports
    /// SHA-256 itself (Drive's `sha256Checksum`) proves its copy against this without hashing while it sends,
    /// and that proof reaches back to the archive as published, not only to the bytes read for the upload.
    public var sha256: String?

    public init(name: String, file: URL, size: UInt64, metadata: [String: String] = [:], sha256: String? = nil) {
        self.name = name
        self.file = file
        self.size = size
        self.metadata = metadata
        self.sha256 = sha256
    }

    /// The labels every archive carries off-site: enough to rebuild its catalog record on a fresh install.
    public static func archive(_ job: BackupRecord, store: String) throws -> UploadRequest {
        guard let path = job.path, let size = job.size, let sha256 = job.sha256, let id = job.id else {
            throw BackupError(.invalidInput, "Backup \(job.id ?? 0) has no published archive to copy.")
        }
        let file = URL(fileURLWithPath: path)
        return UploadRequest(name: "\(job.kind.rawValue)/\(file.lastPathComponent)", file: file, size: UInt64(size),
                             metadata: ["backupId": job.uuid, "catalogId": String(id), "kind": job.kind.rawValue,
                                        "sha256": sha256, "store": String(store.prefix(64))],
                             sha256: sha256)
    }
}

/// An object on a destination.
public struct RemoteObject: Sendable, Equatable {
    /// The destination's own id (Drive's file id; the path for a folder).
    public var id: String
    public var name: String
    public var size: UInt64
    public var checksum: Checksum?
    public var metadata: [String: String]
    public var modifiedAt: Date?

    public init(id: String, name: String, size: UInt64, checksum: Checksum?, metadata: [String: String] = [:], modifiedAt: Date? = nil) {
        self.id = id
        self.name = name
        self.size = size
        self.checksum = checksum
        self.metadata = metadata
        self.modifiedAt = modifiedAt
    }
}

/// Why a destination refused, in the terms a caller decides on.
public struct DestinationError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// Worth another try, after `retryAfter` seconds when the destination said so (429, 5xx, a cut connection).
        case transient(retryAfter: Double?)
        /// A rate limit that outlasts any backoff (Drive's daily upload cap): try at the next run.
        case rateLimited
        /// The destination is full (Drive's `storageQuotaExceeded`): never retried.
        case quotaExceeded
        /// The grant is gone (`invalid_grant`): the destination must be reconnected.
        case unauthorized
        /// No such object or upload session.
        case notFound
        /// Anything else: a bad request, a checksum that does not match.
        case permanent
    }

    public var kind: Kind
    public var message: String
    /// A transient error that is a rate limit (429, Drive's 403 `userRateLimitExceeded`): when it outlasts
    /// the backoff, `RetryingDestination` ends with `.rateLimited`, so the copy waits for the next run.
    public var isRateLimit: Bool

    public init(_ kind: Kind, _ message: String, isRateLimit: Bool = false) {
        self.kind = kind
        self.message = message
        self.isRateLimit = isRateLimit
    }

    public var description: String { message }

    public var isTransient: Bool { if case .transient = kind { true } else { false } }
}
