import AsyncHTTPClient
import BackupCore
import Foundation

/// Google Drive as a `Destination`: archives go to `<folder>/<store_name>/{db,files,full}/` by Drive's
/// resumable protocol (`DriveResumableUpload`), labelled with `appProperties`; objects are Drive file
/// ids. With the `drive.file` scope it sees only the files it created. Retries and backoff are
/// `RetryingDestination`'s: wrap this in one (a resumed `put` asks Drive what it holds first).
public struct GoogleDriveDestination: Destination {
    public let name = "google-drive"
    private let http: DriveHTTP
    private let folders: DriveFolders
    private let chunkBytes: Int

    public init(config: GoogleConfig, storeName: String, tokens: any GoogleAccessTokens, httpClient: HTTPClient = .shared) {
        http = DriveHTTP(base: config.driveAPIBase, client: httpClient, tokens: tokens)
        folders = DriveFolders(http: http, folder: config.folder, storeName: storeName)
        chunkBytes = max(config.chunkBytes, 256 * 1024)
    }

    public func put(_ request: UploadRequest, resuming session: String?, onSession: @escaping @Sendable (String) -> Void,
                    progress: @escaping @Sendable (UInt64) -> Void) async throws -> RemoteObject {
        let folder = DriveLayout.folder(forName: request.name)
        let upload = DriveResumableUpload(http: http, request: request, folderId: try await folders.sub(folder), chunkBytes: chunkBytes,
                                          onSession: onSession, progress: progress)
        return try await upload.run(resuming: session).remoteObject(folder: folder)
    }

    public func list(prefix: String) async throws -> [RemoteObject] {
        let wanted = prefix.contains("/") ? DriveLayout.folder(forName: prefix) : nil
        var objects: [RemoteObject] = []
        for (folder, id) in try await folders.subs() where wanted == nil || wanted == folder {
            let query = "\(DriveLayout.literal(id)) in parents and trashed = false and mimeType != \(DriveLayout.literal(DriveFile.folderType))"
            objects += try await folders.files(query: query).map { $0.remoteObject(folder: folder) }
        }
        return objects.filter { $0.name.hasPrefix(prefix) }.sorted { ($0.name, $0.id) < ($1.name, $1.id) }
    }

    public func get(_ id: String, range: Range<UInt64>?, into sink: @escaping @Sendable ([UInt8]) throws -> Void) async throws {
        var headers: [(String, String)] = []
        if let range {
            guard !range.isEmpty else { return }
            headers.append(("Range", range.upperBound == .max ? "bytes=\(range.lowerBound)-" : "bytes=\(range.lowerBound)-\(range.upperBound - 1)"))
        }
        // 416: the range starts at the end, so there is nothing more to read.
        _ = try await http.stream(http.url("/drive/v3/files/\(DriveHTTP.encode(id))", [("alt", "media")]), headers: headers, into: sink)
    }

    public func delete(_ id: String) async throws {
        _ = try await http.send(.DELETE, http.url("/drive/v3/files/\(DriveHTTP.encode(id))"), accept: [200, 204, 404])
    }

    public func stat(_ id: String) async throws -> RemoteObject? {
        let reply = try await http.send(.GET, http.url("/drive/v3/files/\(DriveHTTP.encode(id))", [("fields", DriveFile.fields)]), accept: [200, 404])
        guard reply.status == .ok else { return nil }
        let file = try DriveFolders.decode(DriveFile.self, reply)
        return file.trashed == true ? nil : file.remoteObject(folder: "other")
    }
}
