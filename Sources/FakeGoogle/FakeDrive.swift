import Crypto
import Foundation
import HTTPTypes
import Hummingbird

/// Google Drive v3 as its reference describes it: `files.create` (metadata only, folders included),
/// `files.list` with `q`, paging and `fields`, `files.get` (metadata, or `alt=media` with `Range`),
/// `files.delete`, and resumable uploads (`FakeDrive+Uploads.swift`). Strict where Drive is: a
/// bearer token on every call (401 `authError`), `fields` defaults to `kind,id,name,mimeType`, int64
/// values are strings, `appProperties` key plus value at most 124 bytes, duplicate names allowed, each
/// account sees only the files it created (the `drive.file` scope).
///
/// File contents live in a temporary folder, never in memory, so a 1 GiB upload costs no RAM. Faults are
/// switched on through the methods below; all are thread-safe.
public final class FakeDrive: Sendable {
    let accessTokens: FakeAccessTokens
    let clock: @Sendable () -> Date
    let storage: URL
    let state = FakeLocked(State())

    struct StoredFile: Sendable {
        var id: String
        var name: String
        var mimeType: String
        var parents: [String]
        var appProperties: [String: String]
        var size: UInt64
        var md5: String
        var sha256: String
        var createdTime: Date
        var modifiedTime: Date
        var trashed = false
        var owner: String
        var isFolder: Bool { mimeType == FakeDrive.folderType }
    }

    struct State: Sendable {
        var files: [String: StoredFile] = [:]
        /// Creation order, for stable listing and paging.
        var order: [String] = []
        var sessions: [String: UploadSession] = [:]
        var faults = Faults()
        var bytesReceived: UInt64 = 0
        var requests = 0
    }

    struct Faults: Sendable {
        var failures: [(status: Int, retryAfter: Int?)] = []
        var quotaExceeded = false
        var rateLimited = false
        var withoutSHA256 = false
    }

    static let folderType = "application/vnd.google-apps.folder"
    /// Drive's unit for resumable chunks.
    public static let chunkUnit = 256 * 1024

    init(accessTokens: FakeAccessTokens, clock: @escaping @Sendable () -> Date) {
        self.accessTokens = accessTokens
        self.clock = clock
        storage = FileManager.default.temporaryDirectory.appendingPathComponent("fake-drive-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: storage, withIntermediateDirectories: true)
    }

    deinit { removeStorage() }

    /// Deletes the uploaded files' bytes: at deinit, or from a signal handler (a process stopped by a
    /// signal never runs deinit, and would leave them in `$TMPDIR`).
    public func removeStorage() { try? FileManager.default.removeItem(at: storage) }

    // MARK: Fault switches

    /// The next `count` calls answer `status` (503 `backendError`, 429 `rateLimitExceeded`, …) with `Retry-After`.
    public func failNext(_ count: Int, status: Int = 503, retryAfter: Int? = nil) {
        state.withLock { $0.faults.failures += Array(repeating: (status, retryAfter), count: count) }
    }

    /// Uploads are refused with 403 `storageQuotaExceeded` while set.
    public func setQuotaExceeded(_ on: Bool) { state.withLock { $0.faults.quotaExceeded = on } }

    /// Every call is refused with 403 `userRateLimitExceeded` while set (Drive's daily upload cap).
    public func setRateLimited(_ on: Bool) { state.withLock { $0.faults.rateLimited = on } }

    /// Files are described without `sha256Checksum` while set, as Drive does for files it has no SHA-256 of
    /// ("if available").
    public func setSHA256Unavailable(_ on: Bool) { state.withLock { $0.faults.withoutSHA256 = on } }

    /// Every upload session is forgotten: the next call on one answers 404, as an expired session does.
    public func loseSessions() { state.withLock { $0.sessions = [:] } }

    /// Upload body bytes received in total, kept or not.
    public var bytesReceived: UInt64 { state.withLock { $0.bytesReceived } }

    /// Calls answered so far.
    public var requestCount: Int { state.withLock { $0.requests } }

    /// The files (not folders) stored, for tests: id, name, size and MD5.
    public func storedFiles() -> [(id: String, name: String, size: UInt64, md5: String, parents: [String], appProperties: [String: String])] {
        state.withLock { state in
            state.order.compactMap { state.files[$0] }.filter { !$0.isFolder }.map { ($0.id, $0.name, $0.size, $0.md5, $0.parents, $0.appProperties) }
        }
    }

    /// Puts a file straight into Drive, as another client of the same app would (for reconcile tests).
    public func insertFile(name: String, parent: String, bytes: [UInt8], appProperties: [String: String], account: String) -> String {
        let id = Self.newId()
        try? Data(bytes).write(to: contentURL(id))
        let now = clock()
        let file = StoredFile(id: id, name: name, mimeType: "application/zip", parents: [parent], appProperties: appProperties,
                              size: UInt64(bytes.count), md5: Self.hex(Insecure.MD5.hash(data: bytes)),
                              sha256: Self.hex(SHA256.hash(data: bytes)), createdTime: now,
                              modifiedTime: now, owner: account)
        state.withLock { $0.files[id] = file; $0.order.append(id) }
        return id
    }

    /// Changes a stored file's content (for tests of a copy that differs).
    public func replaceContent(of id: String, with bytes: [UInt8]) {
        try? Data(bytes).write(to: contentURL(id))
        state.withLock {
            $0.files[id]?.size = UInt64(bytes.count)
            $0.files[id]?.md5 = Self.hex(Insecure.MD5.hash(data: bytes))
            $0.files[id]?.sha256 = Self.hex(SHA256.hash(data: bytes))
        }
    }

    // MARK: Routes

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.post("/drive/v3/files") { request, context in try await self.answer(request) { try await self.create(request, $0) } }
        router.get("/drive/v3/files") { request, context in try await self.answer(request) { try self.list(request, $0) } }
        router.get("/drive/v3/files/:id") { request, context in
            let id = context.parameters.get("id") ?? ""
            return try await self.answer(request) { try self.get(id, request, $0) }
        }
        router.delete("/drive/v3/files/:id") { request, context in
            let id = context.parameters.get("id") ?? ""
            return try await self.answer(request) { try self.delete(id, $0) }
        }
        router.post("/upload/drive/v3/files") { request, context in try await self.answer(request) { try await self.startUpload(request, $0) } }
        router.put("/upload/drive/v3/files") { request, context in
            try await self.answer(request, authorized: false) { _ in try await self.putChunk(request) }
        }
    }

    /// What every call goes through: the fault switches, then the bearer token, then the method.
    /// Session URIs carry their own authority (the upload id), so chunks need no token.
    private func answer(_ request: Request, authorized: Bool = true,
                        _ method: (_ account: String) async throws -> Response) async throws -> Response {
        let fault = state.withLock { state -> (Int, Int?)? in
            state.requests += 1
            if state.faults.rateLimited { return (403, nil) }
            return state.faults.failures.isEmpty ? nil : state.faults.failures.removeFirst()
        }
        if let (status, retryAfter) = fault {
            try await drain(request)
            let reason = status == 403 ? "userRateLimitExceeded" : status == 429 ? "rateLimitExceeded" : "backendError"
            var response = Self.error(status, reason, status == 403 ? "User rate limit exceeded." : status == 429 ? "Rate Limit Exceeded" : "Backend Error")
            if let retryAfter { response.headers[HTTPField.Name("Retry-After")!] = String(retryAfter) }
            return response
        }
        var account = ""
        if authorized {
            guard let grant = accessTokens.grant(authorization: request.headers[.authorization]) else {
                try await drain(request)
                var response = Self.error(401, "authError", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
                response.headers[.wwwAuthenticate] = "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\""
                return response
            }
            account = grant.account
        }
        do {
            return try await method(account)
        } catch let invalid as DriveQuery.Invalid {
            return Self.error(400, "invalid", invalid.message)
        } catch let refusal as Refusal {
            return refusal.response
        }
    }

    /// A refusal in Drive's words, thrown from inside a method.
    struct Refusal: Error {
        var response: Response
        init(_ status: Int, _ reason: String, _ message: String) { response = FakeDrive.error(status, reason, message) }
    }

    static func error(_ status: Int, _ reason: String, _ message: String) -> Response {
        let body: [String: Any] = ["error": ["code": status, "message": message,
                                             "errors": [["domain": "global", "reason": reason, "message": message]]]]
        return json(body, status: status)
    }

    static func json(_ object: Any, status: Int = 200) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return Response(status: HTTPResponse.Status(code: status), headers: [.contentType: "application/json; charset=UTF-8"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    func drain(_ request: Request) async throws {
        var received: UInt64 = 0
        for try await piece in request.body { received += UInt64(piece.readableBytes) }
        let total = received
        state.withLock { $0.bytesReceived += total }
    }

    // MARK: files.create, files.list, files.get, files.delete

    private func create(_ request: Request, _ account: String) async throws -> Response {
        let metadata = try await Self.metadata(request)
        let fields = try request.uri.queryParameters["fields"].map { try DriveFields.parse(String($0)) }
        let mimeType = metadata["mimeType"] as? String ?? "application/octet-stream"
        if mimeType != Self.folderType, state.withLock({ $0.faults.quotaExceeded }) { throw Self.quotaRefusal }
        let file = try newFile(metadata, account: account, size: 0, md5: Self.hex(Insecure.MD5.hash(data: [UInt8]())),
                               sha256: Self.hex(SHA256.hash(data: [UInt8]())))
        if !file.isFolder { FileManager.default.createFile(atPath: contentURL(file.id).path, contents: Data()) }
        state.withLock { $0.files[file.id] = file; $0.order.append(file.id) }
        return Self.json(try resource(file, fields))
    }

    static let quotaRefusal = Refusal(403, "storageQuotaExceeded", "The user's Drive storage quota has been exceeded.")

    /// A file from `files.create` metadata, checked as Drive checks it.
    func newFile(_ metadata: [String: Any], account: String, size: UInt64, md5: String, sha256: String) throws -> StoredFile {
        let parents = metadata["parents"] as? [String] ?? ["root"]
        guard parents.count == 1 else { throw Refusal(403, "cannotAddParent", "Increasing the number of parents is not allowed.") }
        for parent in parents where parent != "root" {
            guard let folder = state.withLock({ $0.files[parent] }), folder.owner == account, folder.isFolder, !folder.trashed else {
                throw Refusal(404, "notFound", "File not found: \(parent).")
            }
        }
        let properties = metadata["appProperties"] as? [String: String] ?? [:]
        for (key, value) in properties where key.utf8.count + value.utf8.count > 124 {
            throw Refusal(400, "invalidProperty", "The property \(key) exceeds the maximum size of 124 bytes for key and value.")
        }
        if metadata["appProperties"] != nil, metadata["appProperties"] as? [String: String] == nil {
            throw Refusal(400, "invalid", "Invalid value for appProperties: values must be strings.")
        }
        let now = clock()
        return StoredFile(id: Self.newId(), name: metadata["name"] as? String ?? "Untitled",
                          mimeType: metadata["mimeType"] as? String ?? "application/octet-stream", parents: parents,
                          appProperties: properties, size: size, md5: md5, sha256: sha256, createdTime: now, modifiedTime: now,
                          owner: account)
    }

    private func list(_ request: Request, _ account: String) throws -> Response {
        let parameters = request.uri.queryParameters
        let query = try DriveQuery.parse(parameters["q"].map(String.init))
        let pageSize = try parameters["pageSize"].map { text -> Int in
            guard let size = Int(text), (1...1000).contains(size) else { throw Refusal(400, "invalid", "Invalid value '\(text)'. Values must be within the range: [1, 1000]") }
            return size
        } ?? 100
        let start = try parameters["pageToken"].map { token -> Int in
            guard token.hasPrefix("page-"), let offset = Int(token.dropFirst(5)) else { throw Refusal(400, "invalid", "Invalid Value: pageToken") }
            return offset
        } ?? 0
        let matching = state.withLock { state in
            state.order.compactMap { state.files[$0] }.filter { $0.owner == account && (query.matches($0)) }
        }
        let page = matching.dropFirst(start).prefix(pageSize)
        let fields = try parameters["fields"].map { try DriveFields.parse(String($0)) }
        var body: [String: Any] = ["kind": "drive#fileList", "incompleteSearch": false]
        if start + page.count < matching.count { body["nextPageToken"] = "page-\(start + page.count)" }
        let fileFields = fields.map { $0.everything ? DriveFields.all : $0.selected["files"] ?? DriveFields(selected: [:], everything: false) }
        body["files"] = try page.map { try resource($0, fileFields) }
        if let fields {
            body = try fields.apply(body, known: ["kind", "nextPageToken", "incompleteSearch", "files"])
        }
        return Self.json(body)
    }

    private func get(_ id: String, _ request: Request, _ account: String) throws -> Response {
        guard let file = state.withLock({ $0.files[id] }), file.owner == account else { throw Refusal(404, "notFound", "File not found: \(id).") }
        guard request.uri.queryParameters["alt"] == "media" else {
            return Self.json(try resource(file, request.uri.queryParameters["fields"].map { try DriveFields.parse(String($0)) }))
        }
        guard !file.isFolder else { throw Refusal(403, "fileNotDownloadable", "Only files with binary content can be downloaded.") }
        var first: UInt64 = 0
        var last = file.size == 0 ? 0 : file.size - 1
        var status = HTTPResponse.Status.ok
        if let range = request.headers[.range] {
            guard range.hasPrefix("bytes="), let dash = range.firstIndex(of: "-"),
                  let from = UInt64(range[range.index(range.startIndex, offsetBy: 6)..<dash]) else {
                throw Refusal(400, "badRequest", "Invalid Range header.")
            }
            let to = range[range.index(after: dash)...]
            guard from < file.size else {
                return Response(status: .rangeNotSatisfiable, headers: [.contentRange: "bytes */\(file.size)"])
            }
            first = from
            if !to.isEmpty { guard let end = UInt64(to), end >= from else { throw Refusal(400, "badRequest", "Invalid Range header.") }; last = min(end, file.size - 1) }
            status = .partialContent
        }
        var headers: HTTPFields = [.contentType: file.mimeType]
        if status == .partialContent { headers[.contentRange] = "bytes \(first)-\(last)/\(file.size)" }
        let length = file.size == 0 ? 0 : Int(last - first + 1)
        let url = contentURL(id)
        let start = first
        return Response(status: status, headers: headers, body: ResponseBody(contentLength: length) { writer in
            let handle = try FileHandle(forReadingFrom: url)
            defer { try? handle.close() }
            try handle.seek(toOffset: start)
            var left = length
            while left > 0 {
                let data = try handle.read(upToCount: min(left, 1 << 20)) ?? Data()
                guard !data.isEmpty else { break }
                try await writer.write(ByteBuffer(bytes: data))
                left -= data.count
            }
            try await writer.finish(nil)
        })
    }

    private func delete(_ id: String, _ account: String) throws -> Response {
        let removed: [String] = try state.withLock { state in
            guard let file = state.files[id], file.owner == account else { throw Refusal(404, "notFound", "File not found: \(id).") }
            // A folder takes its contents with it.
            var gone = [file.id]
            var index = 0
            while index < gone.count {
                let parent = gone[index]
                gone += state.files.values.filter { $0.parents.contains(parent) }.map(\.id)
                index += 1
            }
            for id in gone { state.files[id] = nil }
            state.order.removeAll { gone.contains($0) }
            return gone
        }
        for id in removed { try? FileManager.default.removeItem(at: contentURL(id)) }
        return Response(status: .noContent)
    }

    /// A file resource, cut down to `fields` (nil: Drive's default `kind,id,name,mimeType`).
    func resource(_ file: StoredFile, _ fields: DriveFields?) throws -> [String: Any] {
        var full: [String: Any] = ["kind": "drive#file", "id": file.id, "name": file.name, "mimeType": file.mimeType,
                                   "parents": file.parents, "trashed": file.trashed,
                                   "createdTime": Self.rfc3339(file.createdTime), "modifiedTime": Self.rfc3339(file.modifiedTime)]
        if !file.isFolder {
            full["size"] = String(file.size)
            full["md5Checksum"] = file.md5
            if !state.withLock({ $0.faults.withoutSHA256 }) { full["sha256Checksum"] = file.sha256 }
        }
        if !file.appProperties.isEmpty { full["appProperties"] = file.appProperties }
        let known: Set<String> = ["kind", "id", "name", "mimeType", "parents", "trashed", "createdTime", "modifiedTime", "size",
                                  "md5Checksum", "sha256Checksum", "appProperties", "properties", "description", "starred", "webViewLink"]
        let selection = fields ?? DriveFields(selected: ["kind": .all, "id": .all, "name": .all, "mimeType": .all], everything: false)
        return try selection.apply(full, known: known)
    }

    static func metadata(_ request: Request) async throws -> [String: Any] {
        let body = try await request.body.collect(upTo: 1 << 20)
        guard body.readableBytes > 0 else { return [:] }
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] else {
            throw Refusal(400, "parseError", "Parse Error")
        }
        return object
    }

    func contentURL(_ id: String) -> URL { storage.appendingPathComponent("file-\(id)") }

    static func newId() -> String {
        // Drive ids are 33 characters of [A-Za-z0-9_-].
        "1" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(32)
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 { digest.map { String(format: "%02x", $0) }.joined() }

    static func rfc3339(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}
